package outbox

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/dialtone-voip/dialtone/platform/testenv"

	"github.com/dialtone-voip/dialtone/platform/backoff"
)

// broker stands in for NATS: publishes fail until setUp, then are kept.
type broker struct {
	mu  sync.Mutex
	up  bool
	got []string
}

func (b *broker) publish(_ context.Context, m Msg) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.up {
		return errors.New("nats down")
	}
	b.got = append(b.got, m.ID)
	return nil
}

func (b *broker) setUp() {
	b.mu.Lock()
	b.up = true
	b.mu.Unlock()
}

// published is the ids published, in order.
func (b *broker) published() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

func TestRetryUntilUp(t *testing.T) {
	var nats broker
	o := New(3, 1, nats.publish, nil)
	o.pace = backoff.Policy{Base: time.Millisecond, Max: 5 * time.Millisecond}
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		o.Offer(Msg{ID: id, Msg: wrapperspb.String(id)}) // never blocks
	}
	if o.Len() != 3 || o.Stats().Dropped != 2 {
		t.Fatalf("len %d stats %+v", o.Len(), o.Stats())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	// NATS comes back only after a publish has failed and been retried.
	waitFor(t, "a failed publish retried", func() bool { return o.Stats().Retries >= 2 })
	nats.setUp()
	waitFor(t, "three published", func() bool { return o.Stats().Published >= 3 })
	cancel()
	<-done
	if got := nats.published(); len(got) != 3 || got[0] != "3" || got[2] != "5" {
		t.Errorf("published %v; want the newest three in order", got)
	}
	if o.Stats().Retries == 0 {
		t.Error("no retries counted")
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, what, cond)
}

// TestDrainAfterStop: the listener stops (SIGTERM, a restart) while NATS
// is down. The events queued and the one being retried are not lost with
// Run: Drain publishes them once NATS answers, and counts as dropped only
// what it could not publish before its deadline. Lost discoveries are
// phones whose next boot is refused its account (Drain's comment).
func TestDrainAfterStop(t *testing.T) {
	var nats broker
	o := New(10, 2, nats.publish, nil)
	o.pace = backoff.Policy{Base: time.Millisecond, Max: 5 * time.Millisecond}
	for _, id := range []string{"1", "2", "3"} {
		o.Offer(Msg{ID: id, Msg: wrapperspb.String(id)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	// Both workers hold an event they are retrying when the stop comes.
	waitFor(t, "publishes retried", func() bool { return o.Stats().Retries >= 4 && o.Len() <= 1 })
	cancel()
	<-done
	if o.Len() != 3 {
		t.Fatalf("%d events queued after Run; want all 3 kept", o.Len())
	}

	// NATS still down: Drain gives up at its deadline and returns them;
	// saved, they are the next start's (Load).
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	left := o.Drain(dctx)
	dcancel()
	if len(left) != 3 || o.Len() != 0 {
		t.Fatalf("drain with NATS down: %d left, %d queued; want 3, 0", len(left), o.Len())
	}
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	if err := Save(path, left); err != nil {
		t.Fatal(err)
	}
	loaded, bad, err := Load(path)
	if err != nil || bad != 0 || len(loaded) != 3 {
		t.Fatalf("load: %d events, %d bad, %v; want 3", len(loaded), bad, err)
	}
	for i, m := range loaded {
		if m.ID != left[i].ID || m.Subject != left[i].Subject || !proto.Equal(m.Msg, left[i].Msg) {
			t.Errorf("event %d loaded as %v, saved %v", i, m, left[i])
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the saved outbox is still there after Load: %v", err)
	}
	if again, _, err := Load(path); err != nil || len(again) != 0 {
		t.Errorf("a second Load: %d events, %v; want none", len(again), err)
	}

	// NATS answers: everything queued is published.
	for _, id := range []string{"4", "5"} {
		o.Offer(Msg{ID: id, Msg: wrapperspb.String(id)})
	}
	nats.setUp()
	if left := o.Drain(context.Background()); len(left) != 0 || o.Len() != 0 {
		t.Errorf("drain with NATS up: %d left, %d queued", len(left), o.Len())
	}
	if got := nats.published(); len(got) != 2 || o.Stats().Published != 2 {
		t.Errorf("published %v (%d); want 4 and 5", got, o.Stats().Published)
	}
}

// TestLoadSkipsBadLines: a torn line or an unknown message type is skipped
// and counted, the rest loaded.
func TestLoadSkipsBadLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	if err := Save(path, []Msg{{Subject: "a", ID: "1", Msg: wrapperspb.String("x")}}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"subject":"b","id":"2","type":"no.such.Type","data":""}` + "\n" + `{"subject":"c","id`)
	f.Close()
	msgs, bad, err := Load(path)
	if err != nil || bad != 2 || len(msgs) != 1 || msgs[0].ID != "1" {
		t.Fatalf("load: %v, %d bad, %v; want the one good event and 2 bad", msgs, bad, err)
	}
}

// FuzzLoad: whatever the saved file holds, Load neither panics nor returns
// an event it could not decode.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"subject":"a","id":"1","type":"google.protobuf.StringValue","data":"CgF4"}` + "\n"))
	f.Add([]byte(`{"subject":"b","id":"2","type":"no.such.Type","data":""}` + "\n" + `{"subj`))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(t.TempDir(), "outbox.jsonl")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		msgs, _, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Msg == nil {
				t.Fatal("an event without a message")
			}
		}
	})
}
