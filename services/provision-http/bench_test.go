package provisionhttp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
)

// BenchmarkHandler measures the handler alone (no network): the warm path
// and each 404 case, warm, without padding. The 404 cases should cost about
// the same; compare their ns/op.
func BenchmarkHandler(b *testing.B) {
	u := newUpstream(b)
	y := u.addPhone(b, "yealink", false, false)
	other := u.addPhone(b, "yealink", false, false)
	h := u.addPhone(b, "yealink", true, false)
	e := newEdge(b, u, func(c *provisionhttp.Config) { c.AccessLog = false })
	unknown := strings.Repeat("Q", 43)
	cases := []struct {
		name, target, ua string
		code             int
	}{
		{"served", "/p/" + y.token + "/" + y.macFile, y.ua, 200},
		{"unknown_token", "/p/" + unknown + "/" + y.macFile, y.ua, 404},
		{"wrong_file", "/p/" + y.token + "/y000000000099.cfg", y.ua, 404},
		{"other_mac", "/p/" + y.token + "/" + other.macFile, y.ua, 404},
		{"wrong_ua", "/p/" + y.token + "/" + y.macFile, other.ua, 404},
		{"https_required", "/p/" + h.token + "/" + h.macFile, h.ua, 404},
	}
	handler := e.svc.Handler()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, c.target, nil)
			req.RemoteAddr = "192.0.2.10:5060"
			req.Header.Set("User-Agent", c.ua)
			for b.Loop() {
				w := httptest.NewRecorder()
				handler.ServeHTTP(w, req)
				if w.Code != c.code {
					b.Fatalf("%d", w.Code)
				}
			}
		})
	}
}
