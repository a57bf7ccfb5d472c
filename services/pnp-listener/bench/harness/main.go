// Command harness runs pnp-listener for the sipp benchmark: the listener on
// loopback (interface lo), an embedded JetStream server, and an in-process
// inventory stub over loopback gRPC that gives every phone a URL. It prints
// "ready" when the SIP socket serves, and on SIGINT/SIGTERM the listener's
// own counters.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/dialtone-voip/dialtone/platform/inventorytest"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
)

func main() {
	ctx, stop := lifecycle.SignalContext(context.Background())
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	addr := flag.String("sip-addr", "127.0.0.1:5070", "SIP address")
	noNATS := flag.Bool("no-nats", false, "run without JetStream")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	noURL := flag.Bool("no-url", false, "inventory knows no phone: 200 OK only, no NOTIFY")
	conns := flag.Int("inventory-conns", 1, "gRPC connections to the inventory stub (round robin)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	inv, err := inventorytest.Start("")
	if err != nil {
		return err
	}
	defer inv.Stop()
	if !*noURL {
		inv.SetFallback(&inventorytest.Entry{URL: "https://edge.example/p/bench-token/"})
	}
	var pool rrClient
	for range *conns {
		client, closeClient, err := inv.Client()
		if err != nil {
			return err
		}
		defer closeClient()
		pool.clients = append(pool.clients, client)
	}
	var client inventoryv1.InventoryServiceClient = &pool

	reg := prometheus.NewRegistry()
	deps := pnplistener.Deps{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), Registerer: reg, Inventory: client}
	if !*noNATS {
		dir, err := os.MkdirTemp("", "pnp-bench-nats-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		srv, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: dir, DontListen: true})
		if err != nil {
			return err
		}
		defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
		nc, js, err := natsjs.Connect(ctx, "", nil, natsjs.InProcess(srv))
		if err != nil {
			return err
		}
		defer nc.Close()
		deps.JetStream = js
	}

	cfg := pnplistener.DefaultConfig()
	cfg.SIPAddr = *addr
	cfg.SIPInterfaces = []string{"lo"}
	cfg.Listener = "bench"
	cfg.RateGlobal, cfg.RatePerSource = 0, 0
	cfg.NotifyTimeout = 5 * time.Second
	// sipp on loopback has no link layer; the check's cost is measured by
	// bench/storm.sh, where every phone has its own MAC.
	cfg.LinkCheck = pnplistener.LinkOff
	svc, err := pnplistener.New(cfg, deps)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	for svc.Ready() != nil {
		time.Sleep(5 * time.Millisecond)
		select {
		case err := <-done:
			return err
		default:
		}
	}
	fmt.Println("ready")
	err = <-done

	mfs, _ := reg.Gather()
	var lines []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			if h := m.GetHistogram(); h != nil {
				v = float64(h.GetSampleCount())
				var q []string
				for _, b := range h.GetBucket() {
					q = append(q, fmt.Sprintf("≤%gs:%d", b.GetUpperBound(), b.GetCumulativeCount()))
				}
				labels = append(labels, strings.Join(q, " "))
			}
			if v != 0 {
				lines = append(lines, fmt.Sprintf("%s{%s} %v", mf.GetName(), strings.Join(labels, ","), v))
			}
		}
	}
	sort.Strings(lines)
	fmt.Fprintln(os.Stderr, "listener counters:\n  "+strings.Join(lines, "\n  "))
	return err
}

// rrClient spreads calls over several connections.
type rrClient struct {
	inventoryv1.InventoryServiceClient
	clients []inventoryv1.InventoryServiceClient
	n       atomic.Uint64
}

func (r *rrClient) GetProvisioningUrl(ctx context.Context, in *inventoryv1.GetProvisioningUrlRequest, opts ...grpc.CallOption) (*inventoryv1.GetProvisioningUrlResponse, error) {
	return r.clients[r.n.Add(1)%uint64(len(r.clients))].GetProvisioningUrl(ctx, in, opts...)
}
