package provisionhttp_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequest feeds arbitrary request lines and headers through the handler
// (real renderer, loopback gRPC): it must never panic, never answer 500, and
// never put the token into the log.
func FuzzRequest(f *testing.F) {
	u := newUpstream(f)
	p := u.addPhone(f, "yealink", false, false)
	e := newEdge(f, u, nil)
	for _, seed := range []struct{ method, target, ua, inm string }{
		{"GET", "/p/" + p.token + "/" + p.macFile, p.ua, ""},
		{"HEAD", "/p/" + p.token + "/" + p.commonFile, p.ua, `"x"`},
		{"GET", "/p/" + p.token + "/../../etc/passwd", p.ua, ""},
		{"GET", "/p/" + p.token + "%2f" + p.macFile, "", ""},
		{"POST", "/p/" + p.token + "/" + p.macFile, p.ua, "*"},
		{"GET", "/p/" + strings.Repeat("A", 43) + "/" + p.macFile, p.ua, ""},
		{"GET", "/p/" + p.token + "/" + p.macFile + "?a=b", p.ua, ""},
		{"OPTIONS", "*", "", ""},
	} {
		f.Add(seed.method, seed.target, seed.ua, seed.inm)
	}
	handler := e.svc.Handler()
	f.Fuzz(func(t *testing.T, method, target, ua, inm string) {
		// Build the request the way net/http's server would, so targets it
		// would refuse before the handler are skipped.
		raw := method + " " + target + " HTTP/1.1\r\nHost: x\r\nUser-Agent: " + ua + "\r\nIf-None-Match: " + inm + "\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		req.RemoteAddr = "192.0.2.7:5060"
		logged := e.logs.Len()
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("%q %q: %d", method, target, w.Code)
		}
		if strings.Contains(e.logs.Since(logged), p.token) {
			t.Fatalf("token in the log after %q %q", method, target)
		}
	})
}
