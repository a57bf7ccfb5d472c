package connlimit

import (
	"errors"
	"net"
	"sync"
	"testing"
)

// TestLimits dials real TCP connections from two loopback sources and
// checks which are served and which are reset.
func TestLimits(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	refused := map[string]int{}
	l := New(3, 2, func(r string) { mu.Lock(); refused[r]++; mu.Unlock() })
	ln := l.Listen(inner)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func(src string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// refusedRead: a refused connection is reset without a byte.
	isRefused := func(c net.Conn) bool {
		_, err := c.Read(make([]byte, 1))
		return err != nil
	}
	a1, a2 := dial("127.0.0.1"), dial("127.0.0.1")
	s1, s2 := <-accepted, <-accepted
	a3 := dial("127.0.0.1") // third from one source: per_source
	if !isRefused(a3) {
		t.Fatal("third connection from one source not refused")
	}
	dial("127.0.0.2")
	<-accepted
	b2 := dial("127.0.0.2") // fourth in all: total
	if !isRefused(b2) {
		t.Fatal("fourth connection not refused")
	}
	if l.Open() != 3 || l.Sources() != 2 {
		t.Errorf("open %d from %d sources, want 3 from 2", l.Open(), l.Sources())
	}
	mu.Lock()
	if refused[ReasonPerSource] != 1 || refused[ReasonTotal] != 1 {
		t.Errorf("refused %v", refused)
	}
	mu.Unlock()
	// Closing (twice) releases once.
	s1.Close()
	s1.Close()
	if l.Open() != 2 {
		t.Errorf("open %d after a close, want 2", l.Open())
	}
	dial("127.0.0.1")
	c := <-accepted
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_, _, _ = a1, a2, s2
}

func TestSizeAndRaise(t *testing.T) {
	if n, err := Size(20000, 1024); err != nil || n != 18976 {
		t.Errorf("Size(20000, 1024) = %d, %v", n, err)
	}
	if _, err := Size(1000, 1024); !errors.Is(err, ErrNoBudget) {
		t.Errorf("Size(1000, 1024) = %v, want ErrNoBudget", err)
	}
	n, err := RaiseFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := FileLimit(); cur != n || n == 0 {
		t.Errorf("after raise: %d, FileLimit %d", n, cur)
	}
}
