package logging

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/testenv"
)

type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) snapshot() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

func TestBufferedWriterBatchesAndFlushes(t *testing.T) {
	var out lockedBuffer
	bw := NewBufferedWriter(&out, 64<<10, 20*time.Millisecond)
	log, err := New(bw, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		log.Info("request", "path", "/p/<redacted>/x.cfg", "status", 200)
	}
	// The ticker flushes without Close.
	var s string
	var writes int
	if testenv.Poll(5*time.Second, func() bool {
		s, writes = out.snapshot()
		return strings.Count(s, `"msg":"request"`) == 100
	}) != nil {
		t.Fatalf("lines not flushed by the ticker: %d of 100", strings.Count(s, "\n"))
	}
	if writes >= 100 {
		t.Errorf("%d writes for 100 lines: not batched", writes)
	}
	log.Info("last")
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _ := out.snapshot(); !strings.Contains(s, `"msg":"last"`) {
		t.Error("Close did not flush")
	}
}
