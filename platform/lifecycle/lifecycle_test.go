package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tracker records the order in which components stop and checks, when a
// component's context is cancelled, that every later component already
// returned.
type tracker struct {
	mu       sync.Mutex
	returned map[string]bool
	order    []string
	errs     []string
}

func newTracker() *tracker { return &tracker{returned: map[string]bool{}} }

func (tr *tracker) component(name string, later ...string) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		tr.mu.Lock()
		defer tr.mu.Unlock()
		for _, l := range later {
			if !tr.returned[l] {
				tr.errs = append(tr.errs, name+" cancelled before "+l+" returned")
			}
		}
		tr.returned[name] = true
		tr.order = append(tr.order, name)
		return ctx.Err()
	}
}

func TestRunStopsInReverseOrderOnCancel(t *testing.T) {
	tr := newTracker()
	var g Group
	g.Add("store", tr.component("store", "consumer", "server"))
	g.Add("consumer", tr.component("consumer", "server"))
	g.Add("server", tr.component("server"))

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx) }()
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v, want nil after clean shutdown", err)
	}
	if want := []string{"server", "consumer", "store"}; !slices.Equal(tr.order, want) {
		t.Errorf("stop order = %v, want %v", tr.order, want)
	}
	if len(tr.errs) > 0 {
		t.Errorf("ordering violations: %v", tr.errs)
	}
}

func TestRunReturnsFirstRealError(t *testing.T) {
	tr := newTracker()
	boom := errors.New("boom")
	var g Group
	g.Add("a", tr.component("a", "b", "c"))
	g.Add("b", func(ctx context.Context) error { return boom })
	g.Add("c", tr.component("c"))

	err := g.Run(t.Context())
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
	if !strings.HasPrefix(err.Error(), "b: ") {
		t.Errorf("error %q does not name the component", err)
	}
	if want := []string{"c", "a"}; !slices.Equal(tr.order, want) {
		t.Errorf("stop order = %v, want %v", tr.order, want)
	}
}

func TestRunErrorDuringShutdown(t *testing.T) {
	flushErr := errors.New("flush failed")
	var g Group
	g.Add("store", func(ctx context.Context) error { <-ctx.Done(); return flushErr })
	g.Add("server", func(ctx context.Context) error { <-ctx.Done(); return context.Canceled })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := g.Run(ctx); !errors.Is(err, flushErr) {
		t.Fatalf("Run = %v, want %v", err, flushErr)
	}
}

func TestRunEarlyNilReturnStopsGroup(t *testing.T) {
	tr := newTracker()
	var g Group
	g.Add("a", tr.component("a"))
	g.Add("oneshot", func(context.Context) error { return nil })
	if err := g.Run(t.Context()); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if !slices.Equal(tr.order, []string{"a"}) {
		t.Errorf("order = %v", tr.order)
	}
}

func TestRunShutdownTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	g := Group{ShutdownTimeout: 20 * time.Millisecond}
	g.Add("stubborn", func(context.Context) error { <-release; return nil })
	g.Add("fine", func(ctx context.Context) error { <-ctx.Done(); return nil })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := g.Run(ctx)
	if !errors.Is(err, ErrShutdownTimeout) || !strings.Contains(err.Error(), "stubborn") {
		t.Fatalf("Run = %v, want ErrShutdownTimeout naming stubborn", err)
	}
}

func TestRunRecoversPanic(t *testing.T) {
	var g Group
	g.Add("ok", func(ctx context.Context) error { <-ctx.Done(); return nil })
	g.Add("bad", func(context.Context) error { panic("kaput") })
	err := g.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "bad: panic: kaput") {
		t.Fatalf("Run = %v, want panic error", err)
	}
}

func TestComponentContextKeepsValues(t *testing.T) {
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), key{}, "v"))
	var got any
	var g Group
	g.Add("a", func(c context.Context) error { got = c.Value(key{}); cancel(); <-c.Done(); return nil })
	if err := g.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got != "v" {
		t.Errorf("value = %v", got)
	}
}

func TestSignalContext(t *testing.T) {
	ctx, stop := SignalContext(t.Context())
	defer stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
}
