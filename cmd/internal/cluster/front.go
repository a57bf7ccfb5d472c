package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
)

// front is a TCP forwarder in front of a service's replicas, the part a
// Kubernetes Service plays: each new connection goes to the next replica
// that accepts it, so a killed replica's clients reconnect to the other.
type front struct {
	lis     net.Listener
	members []*Member
	next    atomic.Uint64
	// accepted counts the connections made to the front.
	accepted atomic.Uint64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

func startFront(addr string, members []*Member, log *slog.Logger) (*front, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("front %s: %w", addr, err)
	}
	f := &front{lis: lis, members: members, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() { defer f.wg.Done(); f.serve(c, log) }()
		}
	}()
	return f, nil
}

func (f *front) track(c net.Conn, add bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if add {
		f.conns[c] = struct{}{}
	} else {
		delete(f.conns, c)
	}
}

func (f *front) serve(c net.Conn, log *slog.Logger) {
	defer c.Close()
	f.accepted.Add(1)
	start := f.next.Add(1)
	var up net.Conn
	for i := range len(f.members) {
		m := f.members[(int(start)+i)%len(f.members)]
		if m.Pid() == 0 {
			continue
		}
		var err error
		if up, err = net.DialTimeout("tcp", m.Addr, time.Second); err == nil {
			break
		}
	}
	if up == nil {
		log.Debug("front: no replica accepts", "front", f.lis.Addr())
		return
	}
	defer up.Close()
	f.track(c, true)
	f.track(up, true)
	defer f.track(c, false)
	defer f.track(up, false)
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, up); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

func (f *front) close() {
	f.lis.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// probe checks a readiness target: an http:// URL answering 2xx, or
// tcp://host:port accepting a connection.
func probe(hc *http.Client, target string) error {
	switch {
	case target == "":
		return nil
	case strings.HasPrefix(target, "tcp://"):
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(target, "tcp://"), time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
	resp, err := hc.Get(target)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", target, resp.Status)
	}
	return nil
}

// ensureReplicatedStreams creates the suite's streams with 3 replicas
// before any service starts; the services' EnsureSuiteStreams then keeps
// the replica count (platform/natsjs.EnsureStreams).
func ensureReplicatedStreams(ctx context.Context, l Layout, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	nc, js, err := natsjs.Connect(ctx, l.NATSURLs(), log, nats.Name("dialtone-cluster"))
	if err != nil {
		return err
	}
	defer nc.Close()
	cfgs := natsjs.SuiteStreams()
	for i := range cfgs {
		cfgs[i].Replicas = 3
	}
	// A fresh cluster has no meta leader for a moment: the set-up every
	// service uses retries until it has one (or the two minutes are up).
	if err := natsjs.EnsureStreamsRetry(ctx, js, log, cfgs...); err != nil {
		return fmt.Errorf("creating replicated streams: %w", err)
	}
	return nil
}
