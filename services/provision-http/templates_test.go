package provisionhttp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
	"github.com/dialtone-voip/dialtone/services/provision-http/internal/upstreamtest"
)

// TestTemplateChangeDropsCachedFiles: a cached file is served from the
// cache until the renderer's template set changes; then the next fetch is
// rendered anew with the operator's new template, without waiting out
// --cache-ttl (an hour here).
func TestTemplateChangeDropsCachedFiles(t *testing.T) {
	dir := t.TempDir()
	override := filepath.Join(dir, "yealink", "extra.tmpl")
	write := func(v string, mod int64) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(override), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(override, []byte(`{{define "yealink/mac.extra"}}features.test_version = `+v+"\n{{end}}"), 0o644); err != nil {
			t.Fatal(err)
		}
		_ = os.Chtimes(override, time.Unix(mod, 0), time.Unix(mod, 0))
	}
	write("1", 1000)
	u := newUpstreamWith(t, func(o *upstreamtest.Options) { o.TemplatesDir = dir })
	r := startService(t, u, provisionhttp.Deps{}, func(c *provisionhttp.Config) {
		c.CacheTTL = time.Hour
		c.TemplatePoll = 100 * time.Millisecond
	})
	p := u.addPhone(t, "yealink", false, false)
	fetch := func() string {
		t.Helper()
		code, _, body := r.get(t, r.httpURL, p, p.macFile, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d", p.macFile, code)
		}
		return body
	}
	if !strings.Contains(fetch(), "features.test_version = 1") {
		t.Fatal("override not in the first file")
	}
	renders := u.calls()[2]
	polls := u.rndCalls.Get("GetTemplateSet")
	testenv.WaitFor(t, 10*time.Second, "a few polls of an unchanged set", func() bool { return u.rndCalls.Get("GetTemplateSet") >= polls+3 })
	if !strings.Contains(fetch(), "features.test_version = 1") || u.calls()[2] != renders {
		t.Fatalf("second fetch not from the cache: %d renders, want %d", u.calls()[2], renders)
	}
	write("2", 2000)
	if !u.Renderer.Reload() {
		t.Fatal("renderer did not take the new set")
	}
	testenv.WaitFor(t, 10*time.Second, "the edge to serve the file of the new template set", func() bool {
		return strings.Contains(fetch(), "features.test_version = 2")
	})
	if n := metrictest.Value(t, r.reg, "dialtone_provision_http_template_set_changes_total"); n != 1 {
		t.Fatalf("template set changes %v, want 1", n)
	}
	if !strings.Contains(r.logs.String(), "renderer template set changed") {
		t.Fatal("the change was not logged")
	}
}
