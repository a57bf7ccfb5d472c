package natsjs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
)

var eventsStream = natsjs.StreamConfig("TEST_EVENTS", "test.events.>")

// eventually polls cond until it holds or 20s pass (a safety net for a
// hung test, not a timing assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 20*time.Second, what, cond)
}

func streamMsgs(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(t.Context(), eventsStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestStreamSurvivesRestart(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	ctx := t.Context()
	for range 2 { // idempotent
		if err := natsjs.EnsureStreams(ctx, js, eventsStream); err != nil {
			t.Fatal(err)
		}
	}
	st, err := js.Stream(ctx, eventsStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	if c := st.CachedInfo().Config; c.Storage != jetstream.FileStorage || c.Duplicates != natsjs.StreamDuplicates || c.MaxAge != natsjs.StreamMaxAge {
		t.Errorf("stream config = %+v", c)
	}
	for i := range 2 {
		if err := natsjs.Publish(ctx, js, "test.events.phone", wrapperspb.String(fmt.Sprint("m", i)), fmt.Sprint("id-", i)); err != nil {
			t.Fatal(err)
		}
	}

	ns.Restart()

	// The same client reconnects; the stream kept its messages.
	eventually(t, "publish after restart", func() bool {
		return natsjs.Publish(ctx, js, "test.events.phone", wrapperspb.String("m2"), "id-2") == nil
	})
	if n := streamMsgs(t, js); n != 3 {
		t.Fatalf("stream holds %d messages after restart, want 3", n)
	}
	raw, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Header.Get(natsjs.TypeHeader) != "google.protobuf.StringValue" || raw.Header.Get(natsjs.ContentTypeHeader) != natsjs.ContentType {
		t.Errorf("headers = %v", raw.Header)
	}
}

func TestPublishSameIDStoresOnce(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	ctx := t.Context()
	if err := natsjs.EnsureStreams(ctx, js, eventsStream); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := natsjs.Publish(ctx, js, "test.events.phone", wrapperspb.String("x"), "phone-001565aabbcc-discovered-1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := streamMsgs(t, js); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
	if err := natsjs.Publish(ctx, js, "test.events.phone", wrapperspb.String("x"), ""); err == nil {
		t.Error("empty msg id accepted")
	}
}

type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) inc(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[k]++
	return c.n[k]
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

func startConsume(t *testing.T, js jetstream.JetStream, h natsjs.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- natsjs.Consume(ctx, js, eventsStream.Name, jetstream.ConsumerConfig{
			Durable: "test-consumer", AckWait: 5 * time.Second,
		}, h, nil, natsjs.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Consume = %v", err)
		}
	})
}

func TestConsumeAckNakTerm(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	ctx := t.Context()
	if err := natsjs.EnsureStreams(ctx, js, eventsStream); err != nil {
		t.Fatal(err)
	}
	seen := &counter{n: map[string]int{}}
	startConsume(t, js, func(ctx context.Context, msg jetstream.Msg) error {
		var v wrapperspb.StringValue
		if err := natsjs.Decode(msg, &v); err != nil {
			return natsjs.Permanent(err)
		}
		n := seen.inc(v.Value)
		switch v.Value {
		case "retry":
			if n < 3 {
				return errors.New("transient")
			}
		case "bad":
			return natsjs.Permanent(errors.New("cannot process"))
		case "panic":
			if n == 1 {
				panic("handler bug")
			}
		}
		return nil
	})
	for _, v := range []string{"ok", "retry", "bad", "panic"} {
		if err := natsjs.Publish(ctx, js, "test.events.x", wrapperspb.String(v), v); err != nil {
			t.Fatal(err)
		}
	}
	// A message of another type is terminated by Decode's error.
	if err := natsjs.Publish(ctx, js, "test.events.x", wrapperspb.Int64(7), "int"); err != nil {
		t.Fatal(err)
	}

	eventually(t, "all messages settled", func() bool {
		cons, err := js.Consumer(ctx, eventsStream.Name, "test-consumer")
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0 && seen.get("retry") == 3
	})
	for k, want := range map[string]int{"ok": 1, "retry": 3, "bad": 1, "panic": 2} {
		if got := seen.get(k); got != want {
			t.Errorf("%s handled %d times, want %d", k, got, want)
		}
	}
}

func TestConsumeAcrossRestart(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	ctx := t.Context()
	if err := natsjs.EnsureStreams(ctx, js, eventsStream); err != nil {
		t.Fatal(err)
	}
	seen := &counter{n: map[string]int{}}
	startConsume(t, js, func(_ context.Context, msg jetstream.Msg) error {
		var v wrapperspb.StringValue
		if err := natsjs.Decode(msg, &v); err != nil {
			return natsjs.Permanent(err)
		}
		seen.inc(v.Value)
		return nil
	})
	if err := natsjs.Publish(ctx, js, "test.events.x", wrapperspb.String("before"), "before"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "message before restart", func() bool { return seen.get("before") == 1 })

	ns.Restart()

	eventually(t, "publish after restart", func() bool {
		return natsjs.Publish(ctx, js, "test.events.x", wrapperspb.String("after"), "after") == nil
	})
	eventually(t, "message after restart", func() bool { return seen.get("after") >= 1 })

	// And once more with the server down for a while.
	ns.Shutdown()
	ns.Restart()
	eventually(t, "publish after second restart", func() bool {
		return natsjs.Publish(ctx, js, "test.events.x", wrapperspb.String("again"), "again") == nil
	})
	eventually(t, "message after second restart", func() bool { return seen.get("again") >= 1 })
}

func TestConsumeRejectsBadConfig(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	if err := natsjs.EnsureStreams(t.Context(), js, eventsStream); err != nil {
		t.Fatal(err)
	}
	h := func(context.Context, jetstream.Msg) error { return nil }
	if err := natsjs.Consume(t.Context(), js, eventsStream.Name, jetstream.ConsumerConfig{}, h, nil); err == nil {
		t.Error("consumer without Durable accepted")
	}
	// The server rejects this configuration (400): Consume returns instead
	// of retrying forever.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := natsjs.Consume(ctx, js, eventsStream.Name, jetstream.ConsumerConfig{Durable: "x", DeliverPolicy: jetstream.DeliverByStartSequencePolicy}, h, nil)
	if err == nil {
		t.Error("bad consumer config accepted")
	}
}

// TestEmbeddedLogs: an in-process connection is logged as embedded (not as
// nats://127.0.0.1:4222, which may be another server), and closing it — a
// clean exit — logs no warning.
func TestEmbeddedLogs(t *testing.T) {
	srv, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: t.TempDir(), DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	var logs logtest.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	nc, _, err := natsjs.Connect(t.Context(), "", log, natsjs.InProcess(srv))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	eventually(t, "the closed log line", func() bool { return strings.Contains(logs.String(), "NATS connection closed") })
	out := logs.String()
	if !strings.Contains(out, "NATS connected") || !strings.Contains(out, natsjs.EmbeddedURL) || strings.Contains(out, "4222") {
		t.Errorf("connection not described as embedded:\n%s", out)
	}
	if strings.Contains(out, "level=WARN") {
		t.Errorf("a clean close logged a warning:\n%s", out)
	}
}

func TestEmbeddedInProcess(t *testing.T) {
	srv, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: t.TempDir(), DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc, js, err := natsjs.Connect(t.Context(), "", nil, natsjs.InProcess(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := natsjs.EnsureStreams(t.Context(), js, eventsStream); err != nil {
		t.Fatal(err)
	}
	if err := natsjs.Publish(t.Context(), js, "test.events.y", wrapperspb.String("in-process"), "1"); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgs(t, js); n != 1 {
		t.Errorf("stream holds %d", n)
	}
	if _, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{}); err == nil {
		t.Error("embedded server without StoreDir accepted")
	}
}

func TestConnectGivesUpWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, _, err := natsjs.Connect(ctx, "nats://127.0.0.1:1", nil); err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
}

func TestPermanent(t *testing.T) {
	if natsjs.Permanent(nil) != nil || !natsjs.IsPermanent(fmt.Errorf("w: %w", natsjs.Permanent(errors.New("x")))) {
		t.Error("Permanent wrapping broken")
	}
}

// TestEnsureStreamsRetry: with NATS down the set-up retries (logging each
// failure) until the server is back, then creates the streams; when ctx
// ends first it says why and what failed last.
func TestEnsureStreamsRetry(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	ns.Shutdown()
	var logs logtest.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	done := make(chan error, 1)
	go func() { done <- natsjs.EnsureStreamsRetry(t.Context(), js, log, eventsStream) }()
	eventually(t, "a logged retry", func() bool { return strings.Contains(logs.String(), "cannot ensure event streams; retrying") })
	ns.Restart()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("EnsureStreamsRetry did not return after NATS came back")
	}
	if _, err := js.Stream(t.Context(), eventsStream.Name); err != nil {
		t.Fatalf("stream not created: %v", err)
	}

	ns.Shutdown()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	err := natsjs.EnsureStreamsRetry(ctx, js, nil, eventsStream)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last error") {
		t.Fatalf("err = %v", err)
	}
}

// TestEnsureStreamsLeavesEqualStreamAlone: every service ensures the
// streams at start; an equal stream is not updated (an update rewrites the
// stored config, which nats-server 2.15 races with a consumer being
// created), a stream with another setting is.
func TestEnsureStreamsLeavesEqualStreamAlone(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	ctx := t.Context()
	updates, err := ns.Conn().SubscribeSync("$JS.EVENT.ADVISORY.STREAM.UPDATED." + eventsStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := natsjs.EnsureStreams(ctx, js, eventsStream); err != nil {
			t.Fatal(err)
		}
	}
	changed := eventsStream
	changed.MaxAge = time.Hour
	if err := natsjs.EnsureStreams(ctx, js, changed); err != nil {
		t.Fatal(err)
	}
	if _, err := updates.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("no update advisory for a changed stream: %v", err)
	}
	if err := ns.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := updates.Pending(); n != 0 {
		t.Errorf("%d more stream updates, want only the one that changed a setting", n)
	}
	st, err := js.Stream(ctx, eventsStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.MaxAge; got != time.Hour {
		t.Errorf("MaxAge %v after the update, want 1h", got)
	}
}

// TestConsumePullHeartbeat: every pull asks for idle heartbeats every
// PullHeartbeat and expires after PullExpiry, so a pull request lost on a
// cluster that just formed is noticed in seconds, not nats.go's 30 s (the
// cluster tour's RPS registration waited exactly that). The pull requests
// are read off the wire by a second connection subscribed to the
// JetStream API subject they go to.
func TestConsumePullHeartbeat(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	if err := natsjs.EnsureStreams(t.Context(), js, eventsStream); err != nil {
		t.Fatal(err)
	}
	pulls, err := ns.Conn().SubscribeSync("$JS.API.CONSUMER.MSG.NEXT." + eventsStream.Name + ".test-consumer")
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	startConsume(t, js, func(context.Context, jetstream.Msg) error { return nil })
	msg, err := pulls.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("no pull request seen: %v", err)
	}
	var req struct {
		Expires   time.Duration `json:"expires"`
		Heartbeat time.Duration `json:"idle_heartbeat"`
	}
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		t.Fatalf("pull request %q: %v", msg.Data, err)
	}
	if req.Expires != natsjs.PullExpiry || req.Heartbeat != natsjs.PullHeartbeat {
		t.Errorf("pull request asks expires %v, idle heartbeat %v; want %v, %v (%s)", req.Expires, req.Heartbeat, natsjs.PullExpiry, natsjs.PullHeartbeat, msg.Data)
	}
	if natsjs.PullHeartbeat*2 > 5*time.Second {
		t.Errorf("a lost pull is noticed after %v (two missed heartbeats); want at most 5s", 2*natsjs.PullHeartbeat)
	}
}
