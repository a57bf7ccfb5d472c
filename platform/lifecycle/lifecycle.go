// Package lifecycle runs a process's long-lived components (servers,
// consumers, watchers) and stops them in a defined order.
//
// A Group starts every component at once. When one of them returns or the
// parent context ends, the Group shuts the others down one at a time in
// reverse order of Add: each component has its own context, which is
// cancelled only after the component added after it has returned. Add the
// things others depend on first (connections, stores) and their users last
// (servers), so that servers stop accepting work before the store goes away.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SignalContext returns a context that is cancelled on SIGINT or SIGTERM.
// Call stop to release the signal handler; a second signal after stop
// kills the process as usual.
func SignalContext(ctx context.Context) (_ context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// DefaultShutdownTimeout bounds a Group's whole shutdown when
// Group.ShutdownTimeout is zero.
const DefaultShutdownTimeout = 30 * time.Second

// ErrShutdownTimeout is returned (joined) when components did not return
// within the shutdown timeout.
var ErrShutdownTimeout = errors.New("lifecycle: shutdown timed out")

// Group runs named components. The zero value is ready to use; set the
// fields before Run.
type Group struct {
	// Logger logs start, stop and failures of components; nil logs nothing.
	Logger *slog.Logger
	// ShutdownTimeout bounds the whole shutdown (all components together).
	// Zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	comps []component
}

type component struct {
	name string
	run  func(ctx context.Context) error
}

// Add registers a component. run must return soon after its context is
// cancelled; returning context.Canceled (or an error wrapping it) then
// counts as a clean stop. A component that returns on its own, with or
// without an error, starts the shutdown of the whole Group.
func (g *Group) Add(name string, run func(ctx context.Context) error) {
	g.comps = append(g.comps, component{name: name, run: run})
}

type result struct {
	idx int
	err error
}

// Run starts all components and blocks until all have returned or the
// shutdown timed out. It returns the first error that is not
// context.Canceled, wrapped with the component's name, or nil when the
// Group stopped because ctx ended and every component stopped cleanly.
func (g *Group) Run(ctx context.Context) error {
	log := g.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := g.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	n := len(g.comps)
	if n == 0 {
		<-ctx.Done()
		return nil
	}

	// Component contexts keep ctx's values but not its cancellation: the
	// Group cancels them one by one.
	base := context.WithoutCancel(ctx)
	cancels := make([]context.CancelFunc, n)
	done := make([]chan struct{}, n)
	results := make(chan result, n)
	for i, c := range g.comps {
		cctx, cancel := context.WithCancel(base)
		cancels[i] = cancel
		done[i] = make(chan struct{})
		go func() {
			err := runRecover(cctx, c.run)
			results <- result{idx: i, err: err}
		}()
	}
	defer func() {
		for _, cancel := range cancels {
			cancel()
		}
	}()

	var (
		mu       sync.Mutex
		firstErr error
	)
	record := func(r result) {
		close(done[r.idx])
		name := g.comps[r.idx].name
		if r.err == nil || errors.Is(r.err, context.Canceled) {
			log.Info("component stopped", "component", name)
			return
		}
		log.Error("component failed", "component", name, "err", r.err)
		mu.Lock()
		if firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", name, r.err)
		}
		mu.Unlock()
	}

	// Wait for the trigger: ctx ends or any component returns.
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", context.Cause(ctx))
	case r := <-results:
		record(r)
		if r.err == nil {
			log.Warn("component returned early; shutting down", "component", g.comps[r.idx].name)
		}
	}

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	// Stop in reverse order; meanwhile keep collecting any component that
	// returns on its own.
	for i := n - 1; i >= 0; i-- {
		cancels[i]()
	wait:
		for {
			select {
			case <-done[i]:
				break wait
			case r := <-results:
				record(r)
			case <-deadline.C:
				var stuck []string
				for j := range n {
					select {
					case <-done[j]:
					default:
						stuck = append(stuck, g.comps[j].name)
					}
				}
				log.Error("shutdown timed out", "stuck", stuck, "timeout", timeout)
				terr := fmt.Errorf("%w after %v; still running: %s", ErrShutdownTimeout, timeout, strings.Join(stuck, ", "))
				mu.Lock()
				defer mu.Unlock()
				return errors.Join(firstErr, terr)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return firstErr
}

// runRecover turns a panic in a component into an error so that the
// Group still shuts the others down in order.
func runRecover(ctx context.Context, run func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return run(ctx)
}
