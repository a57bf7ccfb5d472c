package rpsclient

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	"github.com/dialtone-voip/dialtone/proto/streams"
)

func TestNewNeedsAStore(t *testing.T) {
	e := newEnvOn(t, boltBackend)
	deps := e.deps
	deps.Store = nil
	if _, err := New(e.cfg, deps); err == nil {
		t.Fatal("New accepted neither Store nor Redis")
	}
}

// The service as the one-process dialtone runs it: bolt store, embedded
// JetStream, Run with its consumer, real RpsResult publishing. A stream
// left with other settings is brought to the suite's one configuration.
func TestRunOnBoltWithJetStream(t *testing.T) {
	e := newEnvOn(t, boltBackend)
	ns := natstest.Start(t)
	js := ns.JetStream()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: streams.Phones, Subjects: []string{streams.PhoneChangedPrefix + ">"},
		Storage: jetstream.FileStorage, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	e.cfg.RetryPoll = 50 * time.Millisecond
	deps := e.deps
	deps.JetStream = js
	svc, err := New(e.cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	waitFor(t, ctx, "ready", func() bool { return svc.Ready() == nil })

	for _, want := range natsjs.SuiteStreams() {
		st, err := js.Stream(ctx, want.Name)
		if err != nil {
			t.Fatal(err)
		}
		got := st.CachedInfo().Config
		if got.Duplicates != natsjs.StreamDuplicates || got.MaxAge != want.MaxAge || got.Storage != jetstream.FileStorage {
			t.Fatalf("stream %s: duplicates %v, max age %v, storage %v", want.Name, got.Duplicates, got.MaxAge, got.Storage)
		}
	}

	ev := e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", changeAssigned)
	if err := natsjs.Publish(ctx, js, streams.Subject(streams.PhoneChangedPrefix, ykMAC), ev, "phone-"+ykMAC+"-1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "RpsResult", func() bool {
		st, err := js.Stream(ctx, streams.RPS)
		return err == nil && st.CachedInfo().State.Msgs == 1
	})
	if got, _ := e.yk.Registry.Get(ykMAC); got.URL != edge+tokenA+"/" {
		t.Fatalf("vendor holds %+v", got)
	}
	// Published is stored after JetStream acknowledged the result, so it
	// may trail the message by a moment.
	waitFor(t, ctx, "the record marked published", func() bool {
		r, _ := svc.store.Record(ctx, ykMAC)
		return r != nil && r.Published
	})
	if r, _ := svc.store.Record(ctx, ykMAC); r == nil || r.State != stRegistered || !r.Published {
		t.Fatalf("record %+v", r)
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
