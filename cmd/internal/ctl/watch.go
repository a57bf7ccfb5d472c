package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	"github.com/dialtone-voip/dialtone/platform/backoff"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

func (c *cli) watchCommand() *subcmd.Command {
	var since uint64
	var count int
	var tenantOnly bool
	return &subcmd.Command{
		Name: "watch", NArgs: 0,
		Short: "Print phone changes as they happen (Ctrl-C to stop).",
		Long: `Streams WatchPhones. When the connection drops, it reconnects and resumes after
the last change it printed, so nothing the server still retains is missed.
--since N starts after change N (the SEQ column); --since 0 replays every change
the server still retains, from the first. Without --since, only new changes.
With -o json it prints one JSON object per line.`,
		Flags: func(fs *flag.FlagSet) {
			fs.Uint64Var(&since, "since", 0, "start after this change sequence; 0 replays from the first retained change (default: only new changes)")
			fs.IntVar(&count, "count", 0, "exit after this many changes (0: run until interrupted)")
			fs.BoolVar(&tenantOnly, "tenant-only", false, "only changes of phones in --tenant")
		},
		Run: func(ctx context.Context, _ []string) error {
			if count < 0 {
				return subcmd.Usagef("--count must not be negative")
			}
			cl, err := c.clients(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			w := &watcher{c: c, cl: cl, last: since, count: count, replay: c.set["since"] && since == 0}
			if tenantOnly {
				w.tenant = c.tenantName()
			}
			return w.run(ctx)
		},
	}
}

type watcher struct {
	c       *cli
	cl      *Clients
	tenant  string
	last    uint64
	count   int
	printed int
	header  bool
	// replay: --since 0, start at the first change retained.
	replay bool
}

// retryable says whether a stream error is a broken connection worth
// reconnecting for, rather than a refusal.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Internal, codes.Unknown, codes.ResourceExhausted, codes.Aborted, codes.DeadlineExceeded:
		return true
	}
	return false
}

func (w *watcher) run(ctx context.Context) error {
	b := backoff.New(backoff.Policy{Base: 250 * time.Millisecond, Max: 10 * time.Second})
	for {
		err := w.stream(ctx)
		switch {
		case err == nil, ctx.Err() != nil:
			return nil // --count reached, or interrupted
		case !retryable(err):
			return err
		}
		fmt.Fprintf(w.c.env.Stderr, "watch: %v; reconnecting after sequence %d\n", status.Convert(err).Message(), w.last)
		if backoff.Wait(ctx, b.Next()) != nil {
			return nil
		}
	}
}

// stream reads one WatchPhones stream until it fails or --count is reached.
func (w *watcher) stream(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := w.cl.Inventory.WatchPhones(ctx, &inventoryv1.WatchPhonesRequest{StartAfterSequence: w.last, Tenant: w.tenant,
		Replay: w.replay && w.last == 0})
	if err != nil {
		return err
	}
	for {
		ev, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return status.Error(codes.Unavailable, "stream ended by the server")
		}
		if err != nil {
			return err
		}
		if ev.GetSequence() != 0 && ev.GetSequence() <= w.last {
			continue // a replay after reconnecting
		}
		if err := w.print(ev); err != nil {
			return err
		}
		if ev.GetSequence() > w.last {
			w.last = ev.GetSequence()
		}
		w.printed++
		if w.count > 0 && w.printed >= w.count {
			return nil
		}
	}
}

func (w *watcher) print(ev *inventoryv1.WatchPhonesResponse) error {
	out := w.c.env.Stdout
	p := redact(ev.GetPhone())
	if w.c.g.Output == "json" {
		ev.Phone = p
		return printNDJSON(out, ev)
	}
	if !w.header {
		w.header = true
		fmt.Fprintln(out, "TIME                     SEQ     CHANGE       MAC                STATE        VENDOR       MODEL          TENANT    LINES")
	}
	_, err := fmt.Fprintf(out, "%-24s %-7d %-12s %-18s %-12s %-12s %-14s %-9s %s\n", tableTS(ev.GetChangeTime()), ev.GetSequence(),
		changeName(ev.GetChangeType()), displayMAC(p.GetMac()), stateName(p.GetState()), dash(p.GetVendor()),
		dash(p.GetModel()), dash(lastSegment(p.GetTenant())), dash(lineList(p)))
	if err == nil && ev.GetChangeType() == inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_REFUSED {
		// The refusal itself (SecretReleaseRefused): who was refused, and why.
		r := p.GetPendingRelease()
		_, err = fmt.Fprintf(out, "  SecretReleaseRefused: %s (%s); released to %s; 'dialtonectl phones approve %s' to accept\n",
			releaseText(r), r.GetReason(), dash(p.GetSecretRelease().GetId()), displayMAC(p.GetMac()))
	}
	return err
}
