package natsjs_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
)

const batchStream = "TEST"

func setupBatch(t *testing.T) jetstream.JetStream {
	t.Helper()
	js := natstest.Start(t).JetStream()
	if err := natsjs.EnsureStreams(context.Background(), js, natsjs.StreamConfig(batchStream, "test.>")); err != nil {
		t.Fatal(err)
	}
	return js
}

func publish(t *testing.T, js jetstream.JetStream, key string, i int) {
	t.Helper()
	if _, err := js.Publish(context.Background(), "test."+key, []byte(key+" "+strconv.Itoa(i))); err != nil {
		t.Fatal(err)
	}
}

// run starts the consumer and stops it at the end of the test.
func run(t *testing.T, js jetstream.JetStream, h natsjs.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- natsjs.ConsumeBatched(ctx, js, batchStream, jetstream.ConsumerConfig{Durable: "test", AckWait: 30 * time.Second, MaxAckPending: 1024},
			h, natsjs.BatchOptions{Batch: 64, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, what, ok)
}

// settled: everything delivered and acknowledged (or terminated).
func settled(t *testing.T, js jetstream.JetStream) bool {
	c, err := js.Consumer(context.Background(), batchStream, "test")
	if err != nil {
		return false
	}
	info, err := c.Info(context.Background())
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0 && info.Delivered.Stream > 0
}

// TestOrderPerKeyConcurrentAcrossKeys: a backlog of 12 keys x 40 messages
// is handled with several keys at once, each key's messages in order,
// every message exactly once, all acknowledged.
func TestOrderPerKeyConcurrentAcrossKeys(t *testing.T) {
	js := setupBatch(t)
	const keys, each = 12, 40
	for i := range each {
		for k := range keys {
			publish(t, js, fmt.Sprintf("k%d", k), i)
		}
	}
	var (
		mu       sync.Mutex
		last     = map[string]int{}
		handled  atomic.Int64
		inFlight atomic.Int64
		maxIn    atomic.Int64
	)
	run(t, js, func(_ context.Context, m jetstream.Msg) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for cur := maxIn.Load(); n > cur && !maxIn.CompareAndSwap(cur, n); cur = maxIn.Load() {
		}
		key, num, _ := strings.Cut(string(m.Data()), " ")
		i, _ := strconv.Atoi(num)
		mu.Lock()
		prev, seen := last[key]
		last[key] = i
		mu.Unlock()
		if (!seen && i != 0) || (seen && i != prev+1) {
			t.Errorf("key %s: message %d after %d", key, i, prev)
		}
		time.Sleep(time.Millisecond) // sleep: the handler's work (a store write), so that messages overlap in flight
		handled.Add(1)
		return nil
	})
	waitFor(t, "all handled and acknowledged", func() bool { return handled.Load() == keys*each && settled(t, js) })
	if maxIn.Load() < 2 {
		t.Fatalf("at most %d messages in flight: keys were not handled concurrently", maxIn.Load())
	}
	t.Logf("%d messages, up to %d handled at once", handled.Load(), maxIn.Load())
}

// TestRetryTermPanic: an error naks (the message comes again), a
// Permanent error terminates (it does not), a panic is an error.
func TestRetryTermPanic(t *testing.T) {
	js := setupBatch(t)
	for _, k := range []string{"ok", "retry", "bad", "panic"} {
		publish(t, js, k, 0)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	run(t, js, func(_ context.Context, m jetstream.Msg) error {
		key, _, _ := strings.Cut(string(m.Data()), " ")
		mu.Lock()
		seen[key]++
		n := seen[key]
		mu.Unlock()
		switch {
		case key == "retry" && n == 1:
			return errors.New("store unavailable")
		case key == "bad":
			return natsjs.Permanent(errors.New("undecodable"))
		case key == "panic" && n == 1:
			panic("boom")
		}
		return nil
	})
	waitFor(t, "retried messages handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen["retry"] == 2 && seen["panic"] == 2
	})
	waitFor(t, "nothing pending", func() bool {
		c, err := js.Consumer(context.Background(), batchStream, "test")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	// Nothing pending or awaiting an ack: no message is left that the
	// server could deliver again, so the counts are final.
	mu.Lock()
	defer mu.Unlock()
	if seen["ok"] != 1 || seen["bad"] != 1 || seen["retry"] != 2 || seen["panic"] != 2 {
		t.Fatalf("deliveries: %v", seen)
	}
}

// TestConfigErrors: a missing durable name is refused, and so is a
// configuration the server rejects.
func TestConfigErrors(t *testing.T) {
	js := setupBatch(t)
	nop := func(context.Context, jetstream.Msg) error { return nil }
	if err := natsjs.ConsumeBatched(context.Background(), js, batchStream, jetstream.ConsumerConfig{}, nop, natsjs.BatchOptions{}); err == nil {
		t.Fatal("no durable name accepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A start sequence policy without a sequence: the server answers 400.
	err := natsjs.ConsumeBatched(ctx, js, batchStream, jetstream.ConsumerConfig{Durable: "x", DeliverPolicy: jetstream.DeliverByStartSequencePolicy}, nop, natsjs.BatchOptions{})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("a rejected configuration: %v", err)
	}
}
