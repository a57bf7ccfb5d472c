// Package fakeserver is the shared machinery of the vendor redirect-service
// fakes used in tests: an HTTP server with injectable faults (5xx, 429 with
// Retry-After, a hang until the client gives up), a registry of MAC
// registrations per account that counts every successful registration, and
// a minimal XML-RPC reader/writer written independently of the client's
// internal/xmlrpc package, so that the fakes check the client's wire format
// rather than mirror it.
package fakeserver

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Accounts known to every fake.
const (
	Us    = "us"    // the account the client under test uses
	Other = "other" // another customer of the vendor
)

// Fault is one injected failure, consumed by the next request.
type Fault struct {
	Status     int    // HTTP status to answer, e.g. 503 or 429
	RetryAfter string // Retry-After header value
	Hang       bool   // do not answer until the client gives up
}

// Server is an httptest server with fault injection in front of a handler.
type Server struct {
	*httptest.Server
	Registry *Registry

	mu       sync.Mutex
	faults   []Fault
	requests int
	hang     chan struct{}
	received bytes.Buffer // every request's headers and body, for leak checks
	hooks    map[string][]func()
}

// Before queues fn to run once, inside the fake, just before it serves the
// next call of method (an XML-RPC method name, or "METHOD path-suffix" for
// the REST fakes). Tests use it to interleave another account's action
// between two of the client's calls deterministically.
func (s *Server) Before(method string, fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hooks == nil {
		s.hooks = map[string][]func(){}
	}
	s.hooks[method] = append(s.hooks[method], fn)
}

// RunHooks runs (and forgets) the functions queued for method. Fakes call
// it after authentication, before acting on the call.
func (s *Server) RunHooks(method string) {
	s.mu.Lock()
	fns := s.hooks[method]
	delete(s.hooks, method)
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Start serves h behind fault injection and closes it when t ends.
func Start(t testing.TB, h http.Handler) *Server {
	s := &Server{Registry: NewRegistry(), hang: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		s.requests++
		_ = r.Header.Write(&s.received)
		s.received.WriteString(r.URL.String())
		s.received.Write(body)
		var f *Fault
		if len(s.faults) > 0 {
			f = &s.faults[0]
			s.faults = s.faults[1:]
		}
		s.mu.Unlock()
		if f != nil {
			if f.Hang {
				select {
				case <-r.Context().Done():
				case <-s.hang:
				}
				return
			}
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			http.Error(w, http.StatusText(f.Status), f.Status)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		close(s.hang)
		s.Close()
	})
	return s
}

// Received reports whether any request so far (URL, headers or body)
// contained text.
func (s *Server) Received(text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Contains(s.received.Bytes(), []byte(text))
}

// Inject queues faults for the next requests.
func (s *Server) Inject(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Requests returns how many requests arrived.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Entry is one MAC's registration.
type Entry struct {
	Owner string
	URL   string // the effective redirect URL
	Ref   string // vendor-side object (server name, profile id, device id)
}

// Registry holds registrations keyed by canonical MAC.
type Registry struct {
	mu            sync.Mutex
	entries       map[string]Entry
	registrations map[string]int
	invalid       map[string]bool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{entries: map[string]Entry{}, registrations: map[string]int{}, invalid: map[string]bool{}}
}

// Get returns mac's entry.
func (r *Registry) Get(mac string) (Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[mac]
	return e, ok
}

// Put stores e for mac and counts a registration when owner is Us and
// the URL changed (a no-op re-registration is not counted).
func (r *Registry) Put(mac string, e Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, had := r.entries[mac]
	r.entries[mac] = e
	if e.Owner == Us && (!had || old.URL != e.URL || old.Owner != e.Owner) {
		r.registrations[mac]++
	}
}

// Delete removes mac.
func (r *Registry) Delete(mac string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.entries, mac)
}

// Registrations returns how many times mac was registered (or re-pointed)
// by our account.
func (r *Registry) Registrations(mac string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.registrations[mac]
}

// Total returns the number of registrations over all MACs.
func (r *Registry) Total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.registrations {
		n += c
	}
	return n
}

// SetForeign registers mac to another account.
func (r *Registry) SetForeign(mac, url string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries[mac] = Entry{Owner: Other, URL: url}
}

// SetInvalid makes the vendor refuse mac as unknown/invalid.
func (r *Registry) SetInvalid(mac string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalid[mac] = true
}

// Invalid reports whether mac was marked invalid.
func (r *Registry) Invalid(mac string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.invalid[mac]
}

// Len returns the number of entries.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// BasicAuth checks an HTTP Basic header against the expected pair and
// returns whether it matched. Decoding is done here, not with
// Request.BasicAuth, to check the wire form itself.
func BasicAuth(r *http.Request, user, pass string) bool {
	h := r.Header.Get("Authorization")
	const prefix = "Basic "
	if !strings.HasPrefix(h, prefix) {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(h[len(prefix):])
	if err != nil {
		return false
	}
	return string(raw) == user+":"+pass
}

// CanonMAC lowercases a 12-hex-digit MAC after removing the separators in
// seps; it returns "" when the result is not 12 hex digits.
func CanonMAC(s, seps string) string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(seps, r) {
			return -1
		}
		return r
	}, s)
	s = strings.ToLower(s)
	if len(s) != 12 {
		return ""
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return s
}
