package render

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOverrideLayers(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "yealink/extra.tmpl", `{{define "yealink/mac.extra"}}features.layer = vendor
{{end}}`)
	write(t, dir, "yealink/models/T54W/extra.tmpl", `{{define "yealink/mac.extra"}}features.layer = model {{cfg .Model}}
{{end}}`)
	write(t, dir, "devices/805ec0a1b2c4/extra.tmpl", `{{define "yealink/mac.extra"}}features.layer = device {{cfg .MAC}}
{{end}}`)
	write(t, dir, "global/note.tmpl", `{{define "dialtone.note"}}{{xml "x"}}{{end}}`)
	write(t, dir, "README.md", "ignored")
	s, err := Load(dir, goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	base := loadDefault(t)
	if s.Version == base.Version {
		t.Error("override set has the built-in version")
	}
	for _, tc := range []struct{ model, mac, want string }{
		{"T46U", "805ec0a1b2c3", "features.layer = vendor"},
		{"T54W", "805ec0a1b2c3", "features.layer = model T54W"},
		{"T54W", "805ec0a1b2c4", "features.layer = device 805ec0a1b2c4"},
		{"T46U", "805ec0a1b2c4", "features.layer = device 805ec0a1b2c4"},
	} {
		m, _ := s.Catalog.Model("yealink", tc.model)
		p := scenario("single", m)
		p.Mac = tc.mac
		r, err := s.Render(p, tc.mac+".cfg", goldenNow)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(r.Content), tc.want+"\n") || r.Version != s.Version {
			t.Errorf("%s %s: want %q in\n%s", tc.model, tc.mac, tc.want, r.Content)
		}
		if _, err := parseCfg(r.Content); err != nil {
			t.Error(err)
		}
		rb, _ := base.Render(p, tc.mac+".cfg", goldenNow)
		if rb.ETag == r.ETag {
			t.Error("etag does not follow the template version")
		}
	}
	// Other vendors are untouched.
	sm, _ := s.Catalog.Model("snom", "D785")
	p := scenario("single", sm)
	r1, _ := s.Render(p, "snomD785.htm", goldenNow)
	r2, _ := base.Render(p, "snomD785.htm", goldenNow)
	if string(r1.Content) != string(r2.Content) {
		t.Error("yealink override changed snom output")
	}
}

func TestOverrideCatalog(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "catalog.json", `{"version":1,"models":[{"vendor":"yealink","model":"T99X","family":"T5x","sip_accounts":2,"line_keys":2,"vars":{"code":"199","ua_model":"T99X"}}]}`)
	s, err := Load(dir, goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := s.Catalog.Model("yealink", "T99X")
	if !ok {
		t.Fatal("model not added")
	}
	p := scenario("single", m)
	if _, err := s.Render(p, "y000000000199.cfg", goldenNow); err != nil {
		t.Error(err)
	}
}

func TestOverrideErrors(t *testing.T) {
	for name, tc := range map[string]struct{ rel, content, want string }{
		"syntax":       {"yealink/bad.tmpl", "{{define \"yealink/mac.extra\"}}\n\nx = {{cfg .Model\n{{end}}", "yealink/bad.tmpl:4"},
		"unescaped":    {"yealink/raw.tmpl", "{{define \"yealink/mac.extra\"}}\nx = {{.Model}}\n{{end}}", "yealink/raw.tmpl:2"},
		"wrong format": {"snom/raw.tmpl", "{{define \"snom/mac.extra\"}}{{cfg .Model}}{{end}}", "snom/raw.tmpl"},
		"wrong m3":     {"snom/raw.tmpl", "{{define \"snom/m3-mac.extra\"}}{{xml .Model}}{{end}}", "snom/raw.tmpl"},
		"outside":      {"yealink/x.tmpl", "stray text", "outside {{define}}"},
		"other vendor": {"yealink/x.tmpl", "{{define \"snom/mac.extra\"}}{{end}}", "outside its vendor"},
		"exec":         {"yealink/x.tmpl", "{{define \"yealink/mac.extra\"}}{{cfg .NoSuchField}}{{end}}", "yealink/x.tmpl"},
		"layout":       {"acme/x.tmpl", "{{define \"x\"}}{{end}}", "acme/x.tmpl"},
		"model":        {"yealink/models/T99X/x.tmpl", "{{define \"yealink/mac.extra\"}}{{end}}", "no such model"},
		"catalog":      {"catalog.json", `{"models":[{"vendor":"yealink"}]}`, "catalog.json"},
		"not tmpl":     {"yealink/x.txt", "", "not a .tmpl"},
	} {
		dir := t.TempDir()
		write(t, dir, tc.rel, tc.content)
		_, err := Load(dir, goldenNow)
		var le *LoadError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a LoadError mentioning %q", name, err, tc.want)
		}
	}
}
