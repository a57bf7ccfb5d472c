package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Sessions live in memory: a restart logs everyone out, and the console
// runs as one replica (deploy/k8s). Session ids are 256 random bits; the
// cookie carries only the id.

// Role words of console users.
const (
	roleAdmin    = "admin"
	roleReadOnly = "readonly"
)

type session struct {
	id      string
	csrf    string
	user    string // "" before login
	role    string
	tenant  string // tenant id the user is limited to; "" for every tenant
	work    string // tenant an unlimited user chose to work on ("": the default)
	created time.Time
	seen    time.Time
}

func (s *session) loggedIn() bool { return s.user != "" }
func (s *session) admin() bool    { return s.role == roleAdmin }

type sessions struct {
	mu     sync.Mutex
	m      map[string]*session
	ttl    time.Duration
	maxAge time.Duration
	now    func() time.Time
}

func newSessions(ttl, maxAge time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, ttl: ttl, maxAge: maxAge, now: now}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// get returns the live session id names, touching it.
func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil {
		return nil
	}
	now := s.now()
	if now.Sub(ss.seen) > s.ttl || now.Sub(ss.created) > s.maxAge {
		delete(s.m, id)
		return nil
	}
	ss.seen = now
	c := *ss
	return &c
}

// create starts a session (logged in when user is set). A login always
// gets a new id, so an id planted before login is worthless after it.
func (s *sessions) create(user, role, tenant string) *session {
	now := s.now()
	ss := &session{id: randomToken(), csrf: randomToken(), user: user, role: role, tenant: tenant, created: now, seen: now}
	s.mu.Lock()
	s.m[ss.id] = ss
	s.mu.Unlock()
	c := *ss
	return &c
}

// setWork records the tenant an unlimited user works on.
func (s *sessions) setWork(id, tenant string) {
	s.mu.Lock()
	if ss := s.m[id]; ss != nil {
		ss.work = tenant
	}
	s.mu.Unlock()
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// sweep drops expired sessions once a minute.
func (s *sessions) sweep(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		s.mu.Lock()
		for id, ss := range s.m {
			if now.Sub(ss.seen) > s.ttl || now.Sub(ss.created) > s.maxAge {
				delete(s.m, id)
			}
		}
		s.mu.Unlock()
	}
}

// cookieName: the __Host- prefix makes browsers refuse the cookie unless
// it is Secure, host-only and Path=/ (no subdomain can plant one).
func (c *Console) cookieName() string {
	if !c.browserSecure() {
		return "dialtone_session"
	}
	return "__Host-dialtone_session"
}

func (c *Console) setSessionCookie(w http.ResponseWriter, ss *session) {
	http.SetCookie(w, &http.Cookie{
		Name: c.cookieName(), Value: ss.id, Path: "/", HttpOnly: true, Secure: c.browserSecure(),
		SameSite: http.SameSiteStrictMode, MaxAge: int(c.cfg.SessionMaxAge / time.Second),
	})
}

func (c *Console) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: c.cookieName(), Value: "", Path: "/", HttpOnly: true, Secure: c.browserSecure(),
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// session returns the request's session, or nil.
func (c *Console) session(r *http.Request) *session {
	ck, err := r.Cookie(c.cookieName())
	if err != nil || ck.Value == "" {
		return nil
	}
	return c.sessions.get(ck.Value)
}

// csrfOK checks the request's CSRF token (form field "csrf" or header
// X-CSRF-Token, which htmx requests carry) against the session's.
func csrfOK(r *http.Request, ss *session) bool {
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	return ss != nil && tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(ss.csrf)) == 1
}

// throttle slows password guessing: after 5 failed logins for one user
// name or from one client address, further attempts are refused for a time
// that doubles with each failure (1 s, 2 s, … up to 15 min). A success
// clears the user's count.
type throttle struct {
	mu  sync.Mutex
	m   map[string]*strike
	now func() time.Time
}

type strike struct {
	fails int
	until time.Time
	last  time.Time
}

const (
	freeFailures = 5
	maxLockout   = 15 * time.Minute
)

func newThrottle(now func() time.Time) *throttle {
	return &throttle{m: map[string]*strike{}, now: now}
}

// wait returns how long keys must still wait (0: may try now).
func (t *throttle) wait(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var d time.Duration
	for _, k := range keys {
		if s := t.m[k]; s != nil && s.until.After(now) {
			d = max(d, s.until.Sub(now))
		}
	}
	return d
}

func (t *throttle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for k, s := range t.m { // forget keys quiet for an hour
		if now.Sub(s.last) > time.Hour {
			delete(t.m, k)
		}
	}
	for _, k := range keys {
		s := t.m[k]
		if s == nil {
			s = &strike{}
			t.m[k] = s
		}
		s.fails++
		s.last = now
		if s.fails >= freeFailures {
			d := time.Second << min(s.fails-freeFailures, 20)
			s.until = now.Add(min(d, maxLockout))
		}
	}
}

func (t *throttle) success(key string) {
	t.mu.Lock()
	delete(t.m, key)
	t.mu.Unlock()
}

// securityHeaders: a CSP without inline script or style (htmx's own
// indicator styles are off, see layout.html), no framing, no sniffing, no
// referrer (URLs may hold a phone's MAC), no caching of pages.
func (c *Console) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if c.browserSecure() {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}
