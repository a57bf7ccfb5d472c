package provisionhttp_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
)

func TestServesPhoneFiles(t *testing.T) {
	e := newEdge(t, nil, nil)
	y := e.addPhone(t, "yealink", false, false)

	r := e.get(t, y, y.macFile, false)
	if r.code != http.StatusOK {
		t.Fatalf("GET MAC file: %d %q", r.code, r.body)
	}
	if !strings.Contains(r.body, "sip-secret-"+y.mac) {
		t.Fatalf("MAC file lacks the line password: %q", r.body)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/plain; charset=utf-8",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	etag := r.header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 4 {
		t.Fatalf("ETag = %q", etag)
	}

	// The common file too, and over HTTPS.
	if r := e.get(t, y, y.commonFile, true); r.code != http.StatusOK {
		t.Fatalf("GET common file over HTTPS: %d", r.code)
	}

	// 304 on If-None-Match, with the ETag and no body.
	r2 := e.do(t, http.MethodGet, "/p/"+y.token+"/"+y.macFile, y.ua, map[string]string{"If-None-Match": `"other", ` + etag}, false)
	if r2.code != http.StatusNotModified || r2.body != "" || r2.header.Get("ETag") != etag || r2.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("conditional GET: %d etag %q body %q", r2.code, r2.header.Get("ETag"), r2.body)
	}
	if r := e.do(t, http.MethodGet, "/p/"+y.token+"/"+y.macFile, y.ua, map[string]string{"If-None-Match": `W/` + etag}, false); r.code != http.StatusNotModified {
		t.Fatalf("weak If-None-Match: %d", r.code)
	}
	if r := e.do(t, http.MethodGet, "/p/"+y.token+"/"+y.macFile, y.ua, map[string]string{"If-None-Match": `"stale"`}, false); r.code != http.StatusOK {
		t.Fatalf("stale If-None-Match: %d", r.code)
	}

	// HEAD: same headers, no body.
	h := e.do(t, http.MethodHead, "/p/"+y.token+"/"+y.macFile, y.ua, nil, false)
	if h.code != http.StatusOK || h.body != "" || h.header.Get("ETag") != etag || h.header.Get("Content-Length") != r.header.Get("Content-Length") {
		t.Fatalf("HEAD: %d etag %q length %q body %q", h.code, h.header.Get("ETag"), h.header.Get("Content-Length"), h.body)
	}
}

func TestUserAgentWithoutMACTokenDecides(t *testing.T) {
	e := newEdge(t, nil, nil)
	p := e.addPhone(t, "poly", false, false)
	for _, ua := range []string{p.ua, "", "curl/8.5.0"} {
		if r := e.do(t, http.MethodGet, "/p/"+p.token+"/"+p.macFile, ua, nil, false); r.code != http.StatusOK {
			t.Fatalf("poly with UA %q: %d", ua, r.code)
		}
	}
}

// notFoundCases are every way a request can miss; each must get the same 404.
func notFoundCases(t testing.TB, u *upstream) map[string]func(e *edge) result {
	y := u.addPhone(t, "yealink", false, false)
	other := u.addPhone(t, "yealink", false, false)
	hy := u.addPhone(t, "yealink", true, false)
	unknown := y
	unknown.token = strings.Repeat("A", 43)
	return map[string]func(e *edge) result{
		"unknown token": func(e *edge) result { return e.get(t, unknown, y.macFile, false) },
		"wrong file":    func(e *edge) result { return e.get(t, y, "y000000000099.cfg", false) },
		"other MAC":     func(e *edge) result { return e.get(t, y, other.macFile, false) },
		"wrong UA MAC": func(e *edge) result {
			return e.do(t, http.MethodGet, "/p/"+y.token+"/"+y.macFile, other.ua, nil, false)
		},
		"UA without MAC": func(e *edge) result {
			return e.do(t, http.MethodGet, "/p/"+y.token+"/"+y.macFile, "Yealink SIP-T54W 96.86.0.100", nil, false)
		},
		"secrets over HTTP for an HTTPS phone": func(e *edge) result { return e.get(t, hy, hy.macFile, false) },
	}
}

func TestNotFoundIsUniform(t *testing.T) {
	u := newUpstream(t)
	cases := notFoundCases(t, u)
	e := newEdge(t, u, nil)
	var ref *result
	var refName string
	for name, c := range cases {
		r := c(e)
		if r.code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", name, r.code)
			continue
		}
		r.header.Del("Date")
		if ref == nil {
			ref, refName = &r, name
			continue
		}
		if r.body != ref.body || !sameHeader(r.header, ref.header) {
			t.Errorf("%s answers differently from %s:\n%v %q\n%v %q", name, refName, r.header, r.body, ref.header, ref.body)
		}
	}
}

func sameHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if strings.Join(a[k], ",") != strings.Join(b[k], ",") {
			return false
		}
	}
	return true
}

// TestNotFoundDoesTheSameWork shows that every miss costs the same upstream
// calls, cold and warm: a client cannot time a known token with a wrong file
// against an unknown token, because both take the identical path.
func TestNotFoundDoesTheSameWork(t *testing.T) {
	u := newUpstream(t)
	cases := notFoundCases(t, u)
	served := u.addPhone(t, "yealink", false, false)
	cases["served"] = func(e *edge) result { return e.get(t, served, served.macFile, false) }
	for name, c := range cases {
		e := newEdge(t, u, nil) // cold caches
		before := u.calls()
		c(e)
		mid := u.calls()
		c(e)
		after := u.calls()
		cold := [3]int{mid[0] - before[0], mid[1] - before[1], mid[2] - before[2]}
		warm := [3]int{after[0] - mid[0], after[1] - mid[1], after[2] - mid[2]}
		if cold != [3]int{1, 1, 1} || warm != [3]int{} {
			t.Errorf("%s: upstream calls (inventory, model, render) cold %v warm %v, want [1 1 1] and [0 0 0]", name, cold, warm)
		}
	}
}

func TestNotFoundMinimumLatency(t *testing.T) {
	const pad = 30 * time.Millisecond
	u := newUpstream(t)
	cases := notFoundCases(t, u)
	e := newEdge(t, u, func(c *provisionhttp.Config) { c.NotFoundMinLatency = pad })
	for name, c := range cases {
		for range 3 {
			start := time.Now()
			if r := c(e); r.code != http.StatusNotFound {
				t.Fatalf("%s: %d", name, r.code)
			}
			if d := time.Since(start); d < pad {
				t.Errorf("%s answered after %v, before the %v floor", name, d, pad)
			}
		}
	}
}

func TestHTTPSOnlyPhone(t *testing.T) {
	e := newEdge(t, nil, nil)
	p := e.addPhone(t, "yealink", true, false)
	if r := e.get(t, p, p.macFile, true); r.code != http.StatusOK || !strings.Contains(r.body, "sip-secret-") {
		t.Fatalf("HTTPS: %d", r.code)
	}
	if r := e.get(t, p, p.macFile, false); r.code != http.StatusNotFound {
		t.Fatalf("secrets over plain HTTP: %d", r.code)
	}
	// A file without secrets may still come over plain HTTP.
	if r := e.get(t, p, p.commonFile, false); r.code != http.StatusOK {
		t.Fatalf("secret-free file over plain HTTP: %d", r.code)
	}
	// A phone that chose plain HTTP gets its secrets over plain HTTP.
	q := e.addPhone(t, "yealink", false, false)
	if r := e.get(t, q, q.macFile, false); r.code != http.StatusOK {
		t.Fatalf("plain-HTTP phone: %d", r.code)
	}
	// X-Forwarded-Proto is believed from trusted proxies only.
	xfp := map[string]string{"X-Forwarded-Proto": "https"}
	if r := e.do(t, http.MethodGet, "/p/"+p.token+"/"+p.macFile, p.ua, xfp, false); r.code != http.StatusNotFound {
		t.Fatalf("X-Forwarded-Proto from an untrusted peer: %d", r.code)
	}
	behind := newEdge(t, e.upstream, func(c *provisionhttp.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	if r := behind.do(t, http.MethodGet, "/p/"+p.token+"/"+p.macFile, p.ua, xfp, false); r.code != http.StatusOK {
		t.Fatalf("behind a TLS-terminating trusted proxy: %d", r.code)
	}
	if r := behind.do(t, http.MethodGet, "/p/"+p.token+"/"+p.macFile, p.ua, nil, false); r.code != http.StatusNotFound {
		t.Fatalf("trusted proxy without X-Forwarded-Proto: %d", r.code)
	}
}

func TestBootstrapPhone(t *testing.T) {
	e := newEdge(t, nil, nil)
	p := e.addPhone(t, "yealink", false, true)
	for _, f := range []string{p.macFile, p.commonFile} {
		r := e.get(t, p, f, false)
		if r.code != http.StatusOK {
			t.Fatalf("bootstrap %s: %d", f, r.code)
		}
		if strings.Contains(r.body, "sip-secret-") || strings.Contains(r.body, "web-secret-") {
			t.Fatalf("bootstrap file %s holds a secret: %q", f, r.body)
		}
		if !strings.Contains(r.body, "/p/"+p.token+"/") {
			t.Fatalf("bootstrap file %s does not keep the phone polling its URL", f)
		}
	}
}

func TestPathsAndMethods(t *testing.T) {
	e := newEdge(t, nil, nil)
	p := e.addPhone(t, "yealink", false, false)
	good := "/p/" + p.token + "/" + p.macFile
	cases := []struct {
		method, target string
		want           int
	}{
		{"GET", good, 200},
		{"HEAD", good, 200},
		{"GET", "/p/" + p.token + "/../" + p.macFile, 404},
		{"GET", "/p/" + p.token + "/%2e%2e/" + p.macFile, 400},
		{"GET", "/p/" + p.token + "%2F" + p.macFile, 400},
		{"GET", "/p/" + p.token + "/" + p.macFile + "%00", 400},
		{"GET", "/p/" + p.token + "/..%2f..%2fetc%2fpasswd", 400},
		{"GET", "/p/" + p.token + "/" + p.macFile + "?mac=" + p.mac, 400},
		{"GET", "/p/" + p.token + "/" + strings.Repeat("a", 600), 414},
		{"GET", "/p/" + p.token + "/", 404},
		{"GET", "/p/" + p.token + "/sub/" + p.macFile, 404},
		{"GET", "//p/" + p.token + "/" + p.macFile, 404},
		{"GET", "/p/" + p.token + "//" + p.macFile, 200}, // firmware that appends "/" to a URL ending in "/"
		{"GET", "/p/" + p.token + "///" + p.macFile, 404},
		{"GET", "/", 404},
		{"GET", "/healthz", 404},
		{"GET", "/readyz", 404},
		{"GET", "/metrics", 404},
		{"GET", "/debug/pprof/", 404},
		{"GET", "http://evil.example" + good, 400},
		{"POST", good, 405},
		{"PUT", "/p/" + p.token + "/" + p.mac + "-phone.cfg", 405},
		{"DELETE", good, 405},
		{"OPTIONS", "*", 405},
		{"TRACE", good, 405},
		{"PROPFIND", good, 501},
		{"BREW", good, 501},
	}
	for _, c := range cases {
		code, body := e.raw(t, c.method, c.target, p.ua)
		if code != c.want {
			t.Errorf("%s %.70s: %d, want %d", c.method, c.target, code, c.want)
		}
		if code >= 500 && code != 501 {
			t.Errorf("%s %.70s: server error %d %q", c.method, c.target, code, body)
		}
	}
}

func TestAccessLogNeverHoldsToken(t *testing.T) {
	e := newEdge(t, nil, nil)
	y := e.addPhone(t, "yealink", false, false)
	h := e.addPhone(t, "yealink", true, false)
	e.get(t, y, y.macFile, false)
	e.get(t, y, y.macFile, true)
	e.get(t, y, "nope.cfg", false)
	e.get(t, h, h.macFile, false)
	e.raw(t, "GET", "/p/"+y.token+"/"+y.macFile+"?x=1", y.ua)
	e.raw(t, "GET", "/p/"+y.token+"/sub/dir", y.ua)
	e.raw(t, "GET", "/x/"+y.token, y.ua)
	e.raw(t, "POST", "/p/"+y.token+"/"+y.macFile, y.ua)
	e.raw(t, "GET", "/p/"+y.token+"%2f"+y.macFile, y.ua)
	logs := e.logs.String()
	if !strings.Contains(logs, `"path":"/p/<redacted>/`+y.macFile+`"`) {
		t.Fatalf("access log lacks the redacted path:\n%s", logs)
	}
	if n := strings.Count(logs, `"msg":"request"`); n != 9 {
		t.Fatalf("%d access log lines, want 9", n)
	}
	for _, secret := range []string{y.token, h.token, "sip-secret-", "web-secret-", "static.auto_provision"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log holds %q:\n%s", secret, logs)
		}
	}
}

func TestTokenRotation(t *testing.T) {
	e := newEdge(t, nil, nil)
	p := e.addPhone(t, "yealink", false, false)
	if r := e.get(t, p, p.macFile, false); r.code != 200 {
		t.Fatalf("before rotation: %d", r.code)
	}
	first := p
	p.token = e.rotate(t, p.mac)
	e.svc.Invalidate(p.mac) // what PhoneChanged (TOKEN_ROTATED) does
	for _, tp := range []testPhone{p, first} {
		if r := e.get(t, tp, tp.macFile, false); r.code != 200 {
			t.Fatalf("during the grace period: %d", r.code)
		}
	}
	// A file fetched with the previous token points the phone to the new one.
	if r := e.get(t, first, first.macFile, false); !strings.Contains(r.body, "/p/"+p.token+"/") {
		t.Fatal("file fetched with the previous token does not carry the new URL")
	}
	// A second rotation ends the first token.
	second := p
	p.token = e.rotate(t, p.mac)
	e.svc.Invalidate(p.mac)
	if r := e.get(t, first, first.macFile, false); r.code != 404 {
		t.Fatalf("token two rotations old: %d", r.code)
	}
	for _, tp := range []testPhone{p, second} {
		if r := e.get(t, tp, tp.macFile, false); r.code != 200 {
			t.Fatalf("current and previous token: %d", r.code)
		}
	}
}

// Families added late to the catalog: Gigaset's <ProviderFrame> bases ask for
// <MAC>.xml (upper case) with a User-Agent that may lack the MAC
// ("N510 IP PRO/42.262.00.000.000", WZ:plugins/wazo_gigaset/common/common.py), as
// do Snom's firmware-8 models ("snomPA1-SIP 8.4.35 1.1.3-s",
// WZ:plugins/wazo_snom/common/common.py); the edge serves them their files.
func TestServesProviderFrameAndSnomClassic(t *testing.T) {
	e := newEdge(t, nil, nil)
	for _, kind := range []string{"gigaset-n510", "gigaset-n720", "snom-pa1"} {
		p := e.addPhone(t, kind, false, false)
		r := e.get(t, p, p.macFile, false)
		if r.code != http.StatusOK {
			t.Fatalf("%s GET %s: %d %q", kind, p.macFile, r.code, r.body)
		}
		if !strings.Contains(r.body, "sip-secret-"+p.mac) {
			t.Errorf("%s %s lacks the line password: %q", kind, p.macFile, r.body)
		}
		if strings.HasPrefix(kind, "gigaset") {
			if ct := r.header.Get("Content-Type"); ct != "application/xml; charset=iso-8859-1" || !strings.Contains(r.body, "<ProviderFrame") {
				t.Errorf("%s: Content-Type %q, body %.80q", kind, ct, r.body)
			}
			if lower := e.get(t, p, p.mac+".xml", false); lower.code != http.StatusNotFound {
				t.Errorf("%s: lower-case %s.xml: %d, want 404 (the base asks for upper case)", kind, p.mac, lower.code)
			}
		}
		if p.commonFile != "" {
			if r := e.get(t, p, p.commonFile, false); r.code != http.StatusOK {
				t.Errorf("%s GET %s: %d", kind, p.commonFile, r.code)
			}
		}
	}
}

// Snom's M100/M500 KLE and m3 DECT bases fetch the one file the URL handed to
// them names ({mac}.xml, {mac}.cfg: FusionPBX's index.php?mac=…); no source
// gives their User-Agent, so the edge relies on the token alone, as for
// snom-classic. Another case of the MAC in the name is not theirs: 404.
func TestServesSnomKLEAndM3(t *testing.T) {
	e := newEdge(t, nil, nil)
	for _, kind := range []string{"snom-m100kle", "snom-m500kle", "snom-m3"} {
		p := e.addPhone(t, kind, false, false)
		r := e.get(t, p, p.macFile, false)
		if r.code != http.StatusOK {
			t.Fatalf("%s GET %s: %d %q", kind, p.macFile, r.code, r.body)
		}
		if !strings.Contains(r.body, "sip-secret-"+p.mac) {
			t.Errorf("%s %s lacks the line password: %q", kind, p.macFile, r.body)
		}
		ct := r.header.Get("Content-Type")
		if kind == "snom-m3" {
			if ct != "text/plain; charset=utf-8" || !strings.Contains(r.body, "%SUBSCR_0_UA_DATA_AUTH_PASS%") || !strings.HasSuffix(r.body, "END_OF_FILE\n") {
				t.Errorf("%s: Content-Type %q, body %.120q", kind, ct, r.body)
			}
		} else if ct != "application/xml; charset=utf-8" || !strings.Contains(r.body, "<sip_account>") {
			t.Errorf("%s: Content-Type %q, body %.120q", kind, ct, r.body)
		}
		ext := p.macFile[len(p.mac):]
		if upper := e.get(t, p, strings.ToUpper(p.mac)+ext, false); upper.code != http.StatusNotFound {
			t.Errorf("%s: upper-case %s%s: %d, want 404", kind, strings.ToUpper(p.mac), ext, upper.code)
		}
	}
}

// The Cisco 7940/7960 fetch SIPDefault.cnf and SIP<MAC>.cnf by TFTP; the
// pnp-listener's TFTP front relays them here with the phone's token URL and its
// own User-Agent. The family is user_agent_has_mac false (the MAC in that
// User-Agent is the front's claim, not the phone's), so the token decides; the
// password is only in SIP<MAC>.cnf.
func TestServesCisco7960RelayedByTFTPFront(t *testing.T) {
	e := newEdge(t, nil, nil)
	p := e.addPhone(t, "cisco-7960", false, false)
	r := e.get(t, p, p.macFile, false)
	if r.code != http.StatusOK {
		t.Fatalf("GET %s: %d %q", p.macFile, r.code, r.body)
	}
	if !strings.Contains(r.body, `line1_password: "sip-secret-`+p.mac+`"`) {
		t.Errorf("%s lacks the line password: %q", p.macFile, r.body)
	}
	c := e.get(t, p, p.commonFile, false)
	if c.code != http.StatusOK || strings.Contains(c.body, "sip-secret-") || !strings.Contains(c.body, "proxy_register") {
		t.Errorf("GET %s: %d %q", p.commonFile, c.code, c.body)
	}
	if lower := e.get(t, p, "SIP"+p.mac+".cnf", false); lower.code != http.StatusNotFound {
		t.Errorf("lower-case SIP%s.cnf: %d, want 404 (the phone asks for upper case)", p.mac, lower.code)
	}
}

// The Cisco 79x1/797x/894x SIP firmware fetches SEP<MAC>.cnf.xml by TFTP, relayed
// here by the pnp-listener's TFTP front; before it the phone asks for its
// CTL/ITL trust lists, and XMLDefault.cnf.xml when its own file is missing.
// The edge serves the <device> file under the token and answers 404 for the
// rest (Dialtone serves no trust list), never another file: the front turns
// that into TFTP "file not found". A made-up 79x1-pattern model (7977G) is
// served through the family fallback.
func TestServesCiscoSEPRelayedByTFTPFront(t *testing.T) {
	e := newEdge(t, nil, nil)
	for _, kind := range []string{"cisco-7961g", "cisco-7977g"} {
		p := e.addPhone(t, kind, false, false)
		r := e.get(t, p, p.macFile, false)
		if r.code != http.StatusOK {
			t.Fatalf("%s GET %s: %d %q", kind, p.macFile, r.code, r.body)
		}
		if !strings.HasPrefix(r.body, "<device>") || !strings.Contains(r.body, "<authPassword>sip-secret-"+p.mac+"</authPassword>") {
			t.Errorf("%s %s lacks the line password: %q", kind, p.macFile, r.body)
		}
		mac := strings.ToUpper(p.mac)
		for _, name := range []string{"CTLSEP" + mac + ".tlv", "ITLSEP" + mac + ".tlv", "ITLFile.tlv", "XMLDefault.cnf.xml",
			"SEP" + mac + ".cnf.xml.sgn", "SEP" + p.mac + ".cnf.xml", "SIP" + mac + ".cnf", "SIPDefault.cnf", "dialplan.xml"} {
			if g := e.get(t, p, name, false); g.code != http.StatusNotFound {
				t.Errorf("%s %s: %d %q, want 404", kind, name, g.code, g.body)
			}
		}
	}
}
