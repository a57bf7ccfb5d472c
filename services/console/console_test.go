package console_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// TestSecurityHeaders: every response carries the CSP without inline
// script, no framing, no sniffing, no referrer, HSTS.
func TestSecurityHeaders(t *testing.T) {
	s := newStack(t)
	b := s.browser()
	for _, path := range []string{"/login", "/phones", "/static/app.js", "/nope"} {
		r := b.get(path)
		csp := r.h.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline or eval: %q", path, csp)
		}
		for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "no-referrer", "Strict-Transport-Security": "max-age=31536000"} {
			if got := r.h.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", path, h, got, want)
			}
		}
	}
	if r := b.get("/login"); strings.Contains(r.body, "<script>") || strings.Contains(r.body, " style=") || strings.Contains(r.body, " onclick=") {
		t.Error("login page has inline script or style")
	}
}

// TestLoginLogout: a wrong password is refused; a login sets a new
// HttpOnly, Secure, SameSite=Strict, __Host- cookie; logout ends the
// session server-side; an idle session expires.
func TestLoginLogout(t *testing.T) {
	s := newStack(t)
	b := s.browser()
	if r := b.get("/phones"); r.code != http.StatusSeeOther || !strings.HasPrefix(r.h.Get("Location"), "/login") {
		t.Fatalf("unauthenticated /phones: %d %s", r.code, r.h.Get("Location"))
	}
	if r := b.login("root", "wrong-password"); r.code != http.StatusUnauthorized || !strings.Contains(r.body, "Unknown user or wrong password") {
		t.Fatalf("wrong password: %d", r.code)
	}
	r := b.login("root", "pw-root-123")
	if r.code != http.StatusSeeOther || r.h.Get("Location") != "/phones" {
		t.Fatalf("login: %d %s", r.code, r.body)
	}
	ck := r.h.Get("Set-Cookie")
	for _, want := range []string{"__Host-dialtone_session=", "HttpOnly", "Secure", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(ck, want) {
			t.Errorf("session cookie %q lacks %s", ck, want)
		}
	}
	if r := b.get("/phones"); r.code != http.StatusOK || !strings.Contains(r.body, "root (admin") {
		t.Fatalf("after login: %d", r.code)
	}
	// Keep the cookie to replay it after logout.
	u, _ := url.Parse(s.srv.URL)
	old := b.c.Jar.Cookies(u)
	if r := b.post("/logout"); r.code != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.code)
	}
	b.c.Jar.SetCookies(u, old)
	if r := b.get("/phones"); r.code != http.StatusSeeOther {
		t.Fatalf("old cookie after logout: %d, want a redirect to /login", r.code)
	}
	// Idle expiry.
	b.login("root", "pw-root-123")
	s.now.Add(31 * time.Minute)
	if r := b.get("/phones"); r.code != http.StatusSeeOther {
		t.Fatalf("after 31 idle minutes: %d, want a redirect to /login", r.code)
	}
	if strings.Contains(s.logs.String(), "pw-root-123") {
		t.Error("a password reached the log")
	}
}

// TestLoginThrottle: after five failures the sixth try is refused without
// asking inventory, with Retry-After; the lock-out ends.
func TestLoginThrottle(t *testing.T) {
	s := newStack(t)
	b := s.browser()
	for i := 0; i < 5; i++ {
		if r := b.login("root", "bad-guess-"+string(rune('a'+i))); r.code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, r.code)
		}
	}
	r := b.login("root", "pw-root-123")
	if r.code != http.StatusTooManyRequests || r.h.Get("Retry-After") == "" {
		t.Fatalf("sixth try: %d (Retry-After %q), want 429", r.code, r.h.Get("Retry-After"))
	}
	s.now.Add(2 * time.Second)
	if r := b.login("root", "pw-root-123"); r.code != http.StatusSeeOther {
		t.Fatalf("after the lock-out: %d", r.code)
	}
	want := `# HELP dialtone_console_logins_total Console logins by result: ok, failed (unknown user, wrong password, disabled), throttled.
# TYPE dialtone_console_logins_total counter
dialtone_console_logins_total{result="failed"} 5
dialtone_console_logins_total{result="ok"} 1
dialtone_console_logins_total{result="throttled"} 1
`
	if err := testutil.GatherAndCompare(s.reg, strings.NewReader(want), "dialtone_console_logins_total"); err != nil {
		t.Error(err)
	}
}

// TestCSRFAndReadOnly: a state-changing request without the session's CSRF
// token is refused and changes nothing; a readonly user cannot change
// anything, with or without the token.
func TestCSRFAndReadOnly(t *testing.T) {
	s := newStack(t)
	b := s.browser()
	b.login("root", "pw-root-123")
	b.get("/extensions")
	r := b.do(http.MethodPost, "/extensions", url.Values{"number": {"150"}, "sip_password": {"pw"}})
	if r.code != http.StatusForbidden || !strings.Contains(r.body, "CSRF") {
		t.Fatalf("POST without CSRF: %d %s", r.code, r.body)
	}
	r = b.do(http.MethodPost, "/extensions", url.Values{"csrf": {"forged"}, "number": {"150"}, "sip_password": {"pw"}})
	if r.code != http.StatusForbidden {
		t.Fatalf("POST with a wrong CSRF token: %d", r.code)
	}
	if _, err := s.inv.GetExtension(context.Background(), &inventoryv1.GetExtensionRequest{Name: "tenants/default/extensions/150"}); err == nil {
		t.Fatal("the refused request created the extension")
	}
	if r := b.post("/extensions", "number", "150", "sip_password", "pw"); r.code != http.StatusSeeOther {
		t.Fatalf("POST with CSRF: %d %s", r.code, r.body)
	}
	// Login without the login form's token.
	if r := s.browser().do(http.MethodPost, "/login", url.Values{"user": {"root"}, "password": {"pw-root-123"}}); r.code != http.StatusForbidden {
		t.Fatalf("login without CSRF: %d", r.code)
	}

	ro := s.browser()
	ro.login("viewer", "pw-viewer-123")
	page := ro.get("/extensions")
	if page.code != http.StatusOK || strings.Contains(page.body, `action="/extensions"`) || strings.Contains(page.body, "Delete 150") {
		t.Fatalf("readonly extensions page offers changes (%d)", page.code)
	}
	for _, path := range []string{"/extensions", "/extensions/150/delete", "/phones/new", "/interfaces"} {
		if r := ro.post(path, "number", "151", "sip_password", "pw", "mac", "001565000001"); r.code != http.StatusForbidden {
			t.Errorf("readonly POST %s: %d, want 403", path, r.code)
		}
	}
	if _, err := s.inv.GetExtension(context.Background(), &inventoryv1.GetExtensionRequest{Name: "tenants/default/extensions/150"}); err != nil {
		t.Fatalf("extension 150 gone after readonly delete: %v", err)
	}
}

// TestFieldErrors: InvalidArgument from inventory lands beside the field it
// names; the form keeps what was typed (never a password); no stray
// extension is left by a refused Add Phone.
func TestFieldErrors(t *testing.T) {
	s := newStack(t)
	b := s.browser()
	b.login("root", "pw-root-123")
	b.get("/phones/new")
	r := b.post("/phones/new", "mac", "00:15:65:zz", "model", "yealink/T54W", "extension", "new", "number", "300", "sip_password", "pw-300-secret")
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="mac-error"`) || !strings.Contains(r.body, `aria-invalid="true" aria-describedby="mac-error"`) {
		t.Fatalf("invalid MAC: %d", r.code)
	}
	r = b.post("/phones/new", "mac", "001565aabbcc", "model", "yealink/T54W", "extension", "new", "number", "300", "sip_password", "pw-300-secret", "time_zone", "Mars/Olympus")
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="time_zone-error"`) || !strings.Contains(r.body, `value="Mars/Olympus"`) {
		t.Fatalf("invalid time zone: %d\n%s", r.code, r.body)
	}
	if strings.Contains(r.body, "pw-300-secret") {
		t.Error("the SIP password was echoed back")
	}
	ctx := context.Background()
	if _, err := s.inv.GetExtension(ctx, &inventoryv1.GetExtensionRequest{Name: "tenants/default/extensions/300"}); err == nil {
		t.Error("a refused Add Phone left extension 300")
	}
	if _, err := s.inv.GetPhone(ctx, &inventoryv1.GetPhoneRequest{Name: "phones/001565aabbcc"}); err == nil {
		t.Error("a refused Add Phone left the phone")
	}
	r = b.post("/extensions", "number", "bad number!", "sip_password", "x")
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="number-error"`) {
		t.Fatalf("invalid extension number: %d", r.code)
	}
}

// TestAddPhoneRevealAndEvents: Add Phone with every setting; the page
// shows no provisioning URL until the reveal, which is logged; the event
// stream sends the phone's new row when it changes.
func TestAddPhoneRevealAndEvents(t *testing.T) {
	s := newStack(t)
	b := s.browser()
	b.login("root", "pw-root-123")

	// Open the event stream first, as the Phones page does.
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/events", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req = req.WithContext(ctx)
	es, err := b.c.Do(req)
	if err != nil || es.StatusCode != http.StatusOK || es.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %v %v", err, es)
	}
	defer es.Body.Close()
	lines := bufio.NewScanner(es.Body)
	lines.Scan() // ": hello"

	b.get("/phones/new")
	r := b.post("/phones/new", "mac", "00-15-65-AA-BB-CC", "model", "yealink/T54W", "extension", "new", "number", "301",
		"display_name", "Bob", "sip_password", "pw-301", "web_password", "web-pw-1", "language", "de", "time_zone", "Europe/Berlin",
		"sip_interface", "tenants/default/sipInterfaces/default", "transport", "tcp", "save_to_rps", "on", "https", "on",
		"codec_g722", "on", "order_g722", "1", "codec_pcma", "on", "order_pcma", "2", "codec_pcmu", "on", "order_pcmu", "3")
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.h.Get("Location"), "/phones/001565aabbcc") {
		t.Fatalf("add phone: %d %s", r.code, r.body)
	}
	ph, err := s.inv.GetPhone(context.Background(), &inventoryv1.GetPhoneRequest{Name: "phones/001565aabbcc"})
	if err != nil {
		t.Fatal(err)
	}
	st := ph.GetPhone().GetSettings()
	if st.GetLanguage() != "de" || st.GetTimeZone() != "Europe/Berlin" || !st.GetHttps() || !st.GetSaveToRps() || !st.GetHasWebPassword() ||
		st.GetTransport().String() != "TRANSPORT_TCP" || len(st.GetCodecs()) != 3 || st.GetCodecs()[0].String() != "CODEC_G722" ||
		ph.GetPhone().GetState() != inventoryv1.PhoneState_PHONE_STATE_ASSIGNED {
		t.Fatalf("stored phone: %v", ph.GetPhone())
	}
	page := b.get("/phones/001565aabbcc")
	if page.code != http.StatusOK || strings.Contains(page.body, "/p/") || !strings.Contains(page.body, `id="reveal"`) {
		t.Fatalf("phone page shows the URL before the reveal (%d)", page.code)
	}
	rev := b.do(http.MethodPost, "/phones/001565aabbcc/reveal", url.Values{}, "X-CSRF-Token", b.csrf, "HX-Request", "true")
	if rev.code != http.StatusOK || !strings.Contains(rev.body, "https://prov.test:8443/p/") {
		t.Fatalf("reveal: %d %s", rev.code, rev.body)
	}
	if !strings.Contains(s.logs.String(), `"msg":"console: provisioning URL revealed","user":"root","phone":"001565aabbcc"`) {
		t.Errorf("reveal not recorded:\n%s", s.logs)
	}
	if strings.Contains(s.logs.String(), "/p/") {
		t.Error("the provisioning URL reached the log")
	}
	// The stream carried the new phone's row.
	found := false
	for !found && lines.Scan() {
		l := lines.Text()
		found = strings.HasPrefix(l, "data: ") && strings.Contains(l, `"mac":"001565aabbcc"`) && strings.Contains(l, `phone-001565aabbcc`)
	}
	if !found {
		t.Fatalf("no event for the new phone: %v", lines.Err())
	}
}

// TestTemplatePreview: a phone's file rendered by config-renderer from the
// masked profile inventory composes: the settings are there, no secret is.
func TestTemplatePreview(t *testing.T) {
	s := newStack(t)
	b := s.browser()
	b.login("root", "pw-root-123")
	b.get("/phones/new")
	if r := b.post("/phones/new", "mac", "001565aabbdd", "model", "yealink/T54W", "extension", "new", "number", "302",
		"sip_password", "sip-secret-302", "web_password", "web-secret-302", "time_zone", "Europe/Berlin"); r.code != http.StatusSeeOther {
		t.Fatalf("add phone: %d %s", r.code, r.body)
	}
	r := b.get("/templates?phone=001565aabbdd")
	if r.code != http.StatusOK || !strings.Contains(r.body, `id="preview-content"`) || !strings.Contains(r.body, "********") {
		t.Fatalf("preview: %d\n%s", r.code, r.body)
	}
	for _, secret := range []string{"sip-secret-302", "web-secret-302"} {
		if strings.Contains(r.body, secret) {
			t.Errorf("the preview shows a secret (%s)", secret)
		}
	}
	if strings.Count(r.body, "/p/") != strings.Count(r.body, "/p/********") {
		t.Error("the preview shows a provisioning token")
	}
	if !strings.Contains(r.body, "302") {
		t.Error("the preview lacks the extension")
	}
	ro := s.browser()
	ro.login("viewer", "pw-viewer-123")
	if r := ro.get("/templates?phone=001565aabbdd"); strings.Contains(r.body, "preview-content") {
		t.Error("a readonly user got a preview")
	}
}

// TestTenantSwitch: an unlimited user switches the tenant its extensions
// page works on; the switch needs the CSRF token.
func TestTenantSwitch(t *testing.T) {
	s := newStack(t)
	if _, err := s.inv.CreateTenant(context.Background(), &inventoryv1.CreateTenantRequest{TenantId: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.inv.CreateExtension(context.Background(), &inventoryv1.CreateExtensionRequest{Parent: "tenants/acme",
		Extension: &inventoryv1.Extension{Number: "777", SipPassword: "pw-777"}}); err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.login("viewer", "pw-viewer-123")
	if r := b.get("/extensions"); !strings.Contains(r.body, `id="tenant-choice"`) || strings.Contains(r.body, "ext-777") {
		t.Fatalf("before the switch: %d", r.code)
	}
	if r := b.do(http.MethodPost, "/tenant", url.Values{"tenant": {"acme"}, "next": {"/extensions"}}); r.code != http.StatusForbidden {
		t.Fatalf("switch without CSRF: %d", r.code)
	}
	if r := b.post("/tenant", "tenant", "acme", "next", "/extensions"); r.code != http.StatusSeeOther || r.h.Get("Location") != "/extensions" {
		t.Fatalf("switch: %d %s", r.code, r.h.Get("Location"))
	}
	if r := b.get("/extensions"); !strings.Contains(r.body, "ext-777") || !strings.Contains(r.body, "tenant acme") {
		t.Fatalf("after the switch the page shows another tenant")
	}
	if r := b.post("/tenant", "tenant", "nope"); r.code != http.StatusNotFound {
		t.Fatalf("switch to a missing tenant: %d", r.code)
	}
}
