package logtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, "w%d line %d\n", i, j)
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
	n := b.Len()
	fmt.Fprint(&b, "after")
	if got := b.Since(n); got != "after" {
		t.Fatalf("Since = %q", got)
	}
	if got := b.Since(b.Len() + 10); got != "" {
		t.Fatalf("Since past the end = %q", got)
	}
}
