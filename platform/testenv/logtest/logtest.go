// Package logtest captures the log output of code under test, written from
// many goroutines, so tests can read it back or grep it for secrets.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer safe for concurrent use. The zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Len returns how many bytes were written so far.
func (s *Buffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// Since returns what was written after the first n bytes (n from Len).
func (s *Buffer) Since(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > s.b.Len() {
		return ""
	}
	return string(s.b.Bytes()[n:])
}
