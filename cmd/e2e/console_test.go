package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dialtone-voip/dialtone/platform/testenv"
)

// shotsDir: `go test ./e2e -run TestConsoleBrowser -screenshots ../../docs/console`
// refreshes the README tour's screenshots.
var shotsDir = flag.String("screenshots", "", "write the console screenshots (PNG) to this directory")

// browserTab is one chromedp tab with the test's helpers.
type browserTab struct {
	t   *testing.T
	ctx context.Context
}

func (b browserTab) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	get(b, what, chromedp.Steps(steps...))
}

// get runs one action that returns a value.
func get[T any](b browserTab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		body, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
		b.t.Fatalf("browser: %s: %v\npage text:\n%s", what, err, body)
	}
	return v
}

func eval[T any](b browserTab, js string) T {
	b.t.Helper()
	return get(b, "evaluate "+js, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// waitText waits until the page (whichever is loaded: a form post
// navigates) says want, and returns its text.
func (b browserTab) waitText(want string, timeout time.Duration) string {
	b.t.Helper()
	var body string
	// Every 100 ms: each check reads the page from chromium.
	if testenv.PollEvery(timeout, 100*time.Millisecond, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		body, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		return strings.Contains(body, want)
	}) != nil {
		b.t.Fatalf("browser: the page never said %q; it says:\n%s", want, body)
	}
	return body
}

// poll waits until the expression is true in the page.
func (b browserTab) poll(what, js string, timeout time.Duration) {
	b.t.Helper()
	get(b, what, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(timeout)))
}

// shot saves a full-page PNG of the current page.
func (b browserTab) shot(name string) {
	b.t.Helper()
	b.shotOf(name, chromedp.FullScreenshot(100))
}

// shotOf saves the screenshot the action takes (the viewport only, for
// pages as long as the model catalog).
func (b browserTab) shotOf(name string, take chromedp.Action[[]byte]) {
	b.t.Helper()
	png := get(b, "screenshot "+name, take)
	dir := *shotsDir
	if dir == "" {
		dir = b.t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// labelled checks that every visible form control has a label (keyboard
// and screen-reader use).
func (b browserTab) labelled(page string) {
	b.t.Helper()
	bad := eval[[]string](b, `Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
		.filter(e => e.labels.length === 0 && !e.getAttribute('aria-label')).map(e => e.id || e.name)`)
	if len(bad) > 0 {
		b.t.Errorf("%s: controls without a label: %v", page, bad)
	}
}

// newBrowser starts Debian's chromium inside the phone's network namespace
// (through `ip netns exec`, talking to chromedp over a pipe), so it reaches
// the console on the site's LAN like an administrator's browser would.
func newBrowser(t *testing.T, s *site) context.Context {
	t.Helper()
	chromium, _ := exec.LookPath("chromium")
	testenv.Require(t, "chromium (apt-get install -y chromium)", chromium != "")
	wrapper := filepath.Join(t.TempDir(), "chromium-in-netns")
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", s.phone.Netns(), chromium)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(wrapper), chromedp.NoSandbox, chromedp.IgnoreCertErrors,
		chromedp.WindowSize(1280, 800), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	openTab(t, bctx)
	return bctx
}

// openTab opens the tab of ctx. Its first action must run without a
// deadline: the tab (or the browser) lives as long as that call's context.
func openTab(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a chromium tab: %v", err)
	}
}

var adminPasswordRE = regexp.MustCompile(`log in as admin with password (\S+)`)

// TestConsoleBrowser drives the web console in chromium against the real
// dialtone and phonesim: both seed flows (a PnP phone appears live, is
// assigned with every setting and turns provisioned live; a phone added by
// MAC boots from the revealed link), the field errors, CSRF refusal, a
// readonly user, login and logout, and the screenshots of the README tour.
func TestConsoleBrowser(t *testing.T) {
	s := newSite(t)
	s.start()
	base := "https://" + s.pbxAddr() + ":8088"
	var adminPW string
	if testenv.Poll(30*time.Second, func() bool {
		if m := adminPasswordRE.FindStringSubmatch(s.logs.String()); m != nil {
			adminPW = m[1]
		}
		return adminPW != ""
	}) != nil {
		t.Fatalf("no console admin password in the banner:\n%s", s.logs)
	}
	bctx := newBrowser(t, s)

	// Tab A: the Phones list, open for the whole test and never reloaded.
	a := browserTab{t, bctx}
	a.run("login page", chromedp.Navigate(base+"/phones"), chromedp.WaitVisible(chromedp.CSS("#login")))
	a.labelled("login")
	a.shot("login")
	a.run("log in", chromedp.SendKeys(chromedp.CSS("#user"), "admin"), chromedp.SendKeys(chromedp.CSS("#password"), adminPW+"\n"),
		chromedp.WaitVisible(chromedp.CSS("#phone-rows")))
	if !eval[bool](a, `document.body.getAttribute('data-live') === '1' && (window.__notReloaded = true)`) {
		t.Fatal("the Phones page did not open its event stream")
	}

	tabCtx, cancelTab := chromedp.NewContext(bctx) // tab B: same browser, same session
	defer cancelTab()
	openTab(t, tabCtx)
	b := browserTab{t, tabCtx}

	// Seed flow 1: PnP. The phone boots and appears without a reload.
	const pnpMAC = "805ec0e2f001"
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	waitPnP := s.phonesim(ctx, append([]string{"boot", "--vendor", "yealink", "--model", "T54W", "--mac", pnpMAC,
		"--iface", s.phone.Iface(), "--wait-account", "150s", "--tls-ca", s.cert, "-o", "json"}, s.ownLink()...)...)
	a.run("PnP phone appears live", chromedp.WaitVisible(chromedp.CSS("#phone-"+pnpMAC)))
	a.shot("phones")

	// Assign Extension with every setting, in tab B.
	b.run("phone page", chromedp.Navigate(base+"/phones/"+pnpMAC), chromedp.WaitVisible(chromedp.CSS("#assign-form")))
	b.labelled("phone")
	b.run("assign with every setting",
		chromedp.SetValue(chromedp.CSS("#extension"), "new"),
		chromedp.SendKeys(chromedp.CSS("#number"), "201"),
		chromedp.SendKeys(chromedp.CSS("#display_name"), "Alice <&>"),
		chromedp.SendKeys(chromedp.CSS("#sip_password"), "sip-pw-console-Zq9"),
		chromedp.SendKeys(chromedp.CSS("#web_password"), "web-pw-console-Xk7"),
		chromedp.SetValue(chromedp.CSS("#language"), "de"),
		chromedp.SendKeys(chromedp.CSS("#time_zone"), "Europe/Berlin"),
		chromedp.SetValue(chromedp.CSS("#sip_interface"), "tenants/default/sipInterfaces/default"),
		chromedp.SetValue(chromedp.CSS("#transport"), "tcp"),
		chromedp.Click(chromedp.CSS("#save_to_rps")),
		chromedp.Click(chromedp.CSS("#https")),
		chromedp.Click(chromedp.CSS("#codec_g722")), chromedp.SetValue(chromedp.CSS("#order_g722"), "1"),
		chromedp.Click(chromedp.CSS("#codec_pcma")), chromedp.SetValue(chromedp.CSS("#order_pcma"), "2"),
		chromedp.Click(chromedp.CSS("#codec_pcmu")), chromedp.SetValue(chromedp.CSS("#order_pcmu"), "3"),
		chromedp.Click(chromedp.CSS("#assign")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))

	r := waitPnP()
	if c := r.Config; c == nil || len(c.Accounts) == 0 || c.Accounts[0].User != "201" || c.Accounts[0].Password != "sip-pw-console-Zq9" ||
		strings.ToLower(c.Accounts[0].Transport) != "tcp" || c.LanguageTag != "de" || c.WebPassword != "web-pw-console-Xk7" ||
		strings.Join(c.Codecs, ",") != "g722,pcma,pcmu" || c.UTCOffset == nil || *c.UTCOffset != berlinOffset() ||
		!strings.HasPrefix(c.ProvisioningURL, "https://") {
		t.Fatalf("the phone's configuration does not hold the console's settings: %+v", r.Config)
	}
	a.poll("row turns provisioned live",
		`document.querySelector('#phone-`+pnpMAC+` .badge').textContent === 'provisioned' && window.__notReloaded === true`, 60*time.Second)
	b.poll("phone page state live", `document.querySelector('#phone-state').textContent === 'provisioned'`, 30*time.Second)
	b.shot("phone")

	// Field errors beside their fields.
	b.run("add phone: invalid MAC", chromedp.Navigate(base+"/phones/new"), chromedp.WaitVisible(chromedp.CSS("#add-form")),
		chromedp.SendKeys(chromedp.CSS("#mac"), "00:15:65:zz:00"),
		chromedp.SetValue(chromedp.CSS("#model"), "yealink/T54W"),
		chromedp.SendKeys(chromedp.CSS("#number"), "299"),
		chromedp.Click(chromedp.CSS("#add")), chromedp.WaitVisible(chromedp.CSS("#mac-error")))
	b.labelled("add phone")
	b.shot("add-phone-errors")
	b.run("add phone: invalid time zone",
		chromedp.Clear(chromedp.CSS("#mac")), chromedp.SendKeys(chromedp.CSS("#mac"), "80:5E:C0:E2:F0:02"),
		chromedp.SetValue(chromedp.CSS("#model"), "yealink/T54W"),
		chromedp.SendKeys(chromedp.CSS("#number"), "202"), chromedp.SendKeys(chromedp.CSS("#sip_password"), "sip-pw-manual-7"),
		chromedp.SetValue(chromedp.CSS("#time_zone"), "Mars/Olympus"),
		chromedp.Click(chromedp.CSS("#add")), chromedp.WaitVisible(chromedp.CSS("#time_zone-error")))

	// Seed flow 2: Add Phone by MAC and model → the link → phonesim boots from it.
	const manualMAC = "805ec0e2f002"
	b.run("add phone", chromedp.Navigate(base+"/phones/new"), chromedp.WaitVisible(chromedp.CSS("#add-form")),
		chromedp.SendKeys(chromedp.CSS("#mac"), "80:5E:C0:E2:F0:02"),
		chromedp.SetValue(chromedp.CSS("#model"), "yealink/T54W"),
		chromedp.SetValue(chromedp.CSS("#extension"), "new"),
		chromedp.SendKeys(chromedp.CSS("#number"), "202"),
		chromedp.SendKeys(chromedp.CSS("#display_name"), "Remote Bob"),
		chromedp.SendKeys(chromedp.CSS("#sip_password"), "sip-pw-manual-7"),
		chromedp.SendKeys(chromedp.CSS("#time_zone"), "America/New_York"),
		chromedp.Click(chromedp.CSS("#codec_pcmu")), chromedp.SetValue(chromedp.CSS("#order_pcmu"), "1"),
		chromedp.Click(chromedp.CSS("#codec_g722")), chromedp.SetValue(chromedp.CSS("#order_g722"), "2"),
		chromedp.Click(chromedp.CSS("#add")), chromedp.WaitVisible(chromedp.CSS("#reveal")))
	before := get(b, "no link before the click", chromedp.OuterHTML(chromedp.CSS("main")))
	if strings.Contains(before, "/p/") {
		t.Fatal("the phone page shows the provisioning link before the reveal")
	}
	b.run("reveal", chromedp.Click(chromedp.CSS("#reveal")), chromedp.WaitVisible(chromedp.CSS("#prov-url-text")))
	link := get(b, "link", chromedp.Value(chromedp.CSS("#prov-url-text")))
	if !strings.HasPrefix(link, "http://"+s.pbxAddr()+":8080/p/") {
		t.Fatalf("revealed link %q", link)
	}
	if !strings.Contains(s.logs.String(), "provisioning URL revealed") {
		t.Error("the reveal was not recorded in the log")
	}
	a.run("manual phone appears live", chromedp.WaitVisible(chromedp.CSS("#phone-"+manualMAC)))
	r = s.phonesim(ctx, "boot", "--vendor", "yealink", "--model", "T54W", "--mac", manualMAC, "--url", link, "-o", "json")()
	if c := r.Config; c == nil || len(c.Accounts) == 0 || c.Accounts[0].User != "202" || strings.Join(c.Codecs, ",") != "pcmu,g722" {
		t.Fatalf("manual boot config: %+v", r.Config)
	}
	a.poll("manual row turns provisioned live",
		`document.querySelector('#phone-`+manualMAC+` .badge').textContent === 'provisioned' && window.__notReloaded === true`, 60*time.Second)

	// A form without its CSRF token is refused.
	b.run("extensions", chromedp.Navigate(base+"/extensions"), chromedp.WaitVisible(chromedp.CSS("#ext-form")))
	b.labelled("extensions")
	b.shot("extensions")
	eval[bool](b, `document.querySelector('#ext-form input[name=csrf]').remove(), true`)
	b.run("post without CSRF", chromedp.SendKeys(chromedp.CSS("#ext-form #number"), "298"),
		chromedp.SendKeys(chromedp.CSS("#ext-form #sip_password"), "x-pw-1"),
		chromedp.Click(chromedp.CSS("#ext-form button[type=submit]")))
	body := b.waitText("CSRF token is missing", 30*time.Second)
	if out := s.ctl("extensions", "list"); strings.Contains(out, "298") {
		t.Errorf("the refused form created extension 298:\n%s", out)
	}

	// The other screens, for the tour.
	b.run("interfaces", chromedp.Navigate(base+"/interfaces"), chromedp.WaitVisible(chromedp.CSS("#iface-form")))
	b.labelled("interfaces")
	b.shot("interfaces")
	csv := filepath.Join(t.TempDir(), "phones.csv")
	if err := os.WriteFile(csv, []byte("mac,model,vendor,extension,timezone\n001565e2f010,T46U,yealink,201,Europe/Berlin\nnot-a-mac,T46U,yealink,,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.run("import dry run", chromedp.Navigate(base+"/import"), chromedp.WaitVisible(chromedp.CSS("#import-form")),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{csv}),
		chromedp.Click(chromedp.CSS("#import")), chromedp.WaitVisible(chromedp.CSS("#import-report")))
	body = get(b, "import report", chromedp.Text(chromedp.CSS("#import-report")))
	if !strings.Contains(body, "would add") || !strings.Contains(body, "not a MAC") {
		t.Errorf("import report: %q", body)
	}
	b.labelled("import")
	b.shot("import")
	b.run("templates", chromedp.Navigate(base+"/templates"), chromedp.WaitVisible(chromedp.CSS("#preview-form")),
		chromedp.SetValue(chromedp.CSS("#phone"), pnpMAC), chromedp.Click(chromedp.CSS("#preview")),
		chromedp.WaitVisible(chromedp.CSS("#preview-content")))
	preview := get(b, "preview", chromedp.Text(chromedp.CSS("#preview-content")))
	if !strings.Contains(preview, "********") || strings.Contains(preview, "sip-pw-console-Zq9") || strings.Contains(preview, "web-pw-console-Xk7") {
		t.Errorf("template preview does not mask the secrets:\n%s", preview)
	}
	b.labelled("templates")
	b.shotOf("templates", chromedp.CaptureScreenshot())
	b.run("phone width", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/phones"), chromedp.WaitVisible(chromedp.CSS("#phone-rows")))
	if eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
		t.Error("the Phones page scrolls sideways at 390 px")
	}
	b.shot("phones-mobile")
	b.run("desktop width", chromedp.EmulateViewport(1280, 800))

	// A readonly user sees, and cannot change.
	s.ctl("users", "add", "viewer", "--role", "readonly", "--password", "viewer-pw-123")
	roCtx, cancelRO := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancelRO()
	openTab(t, roCtx)
	ro := browserTab{t, roCtx}
	ro.run("readonly login", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#user"), "viewer"), chromedp.SendKeys(chromedp.CSS("#password"), "viewer-pw-123\n"),
		chromedp.WaitVisible(chromedp.CSS("#phone-rows")),
		chromedp.Navigate(base+"/phones/"+pnpMAC), chromedp.WaitVisible(chromedp.CSS("#phone-state")))
	if forms := eval[int](ro, `document.querySelectorAll('#assign-form, #reveal, #unassign, #delete').length`); forms != 0 {
		t.Errorf("the readonly user is offered %d change controls", forms)
	}
	code := eval[int](ro, `fetch('/phones/`+pnpMAC+`/unassign', {method: 'POST', headers: {'X-CSRF-Token': document.querySelector('input[name=csrf]').value}}).then(r => r.status)`)
	if code != 403 {
		t.Errorf("readonly unassign: HTTP %d, want 403", code)
	}
	if ph := s.phoneJSON(pnpMAC); ph["state"] != "provisioned" {
		t.Errorf("after the readonly attempt the phone is %v", ph["state"])
	}

	// Logout ends the session.
	a.run("logout", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.Navigate(base+"/phones"), chromedp.WaitVisible(chromedp.CSS("#login")))
	for _, secret := range []string{"sip-pw-console-Zq9", "web-pw-console-Xk7", "viewer-pw-123", adminPW} {
		if strings.Count(s.logs.String(), secret) > map[bool]int{true: 1, false: 0}[secret == adminPW] {
			t.Errorf("a password appears in dialtone's output")
		}
	}
}
