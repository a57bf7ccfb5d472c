package render

import (
	"testing"
)

// FuzzOverrideFile: the override parser/linter rejects or accepts any text
// without panicking, and an accepted file only defines escaped templates.
func FuzzOverrideFile(f *testing.F) {
	f.Add("yealink/x.tmpl", `{{define "yealink/mac.extra"}}a.b = {{cfg .Model}}{{end}}`)
	f.Add("global/x.tmpl", `{{define "x"}}{{xml .MAC}}{{end}}`)
	f.Add("snom/x.tmpl", `{{define "snom/mac.extra"}}{{.Model}}{{end}}`)
	f.Add("devices/001565aabbcc/x.tmpl", `{{define "yealink/mac.extra"}}{{range .Lines}}{{cfg .Password}}{{end}}{{end}}`)
	f.Add("yealink/x.tmpl", `{{define "yealink/mac.extra"}}{{$x := .Model}}{{$x}}{{end}}`)
	f.Fuzz(func(t *testing.T, rel, text string) {
		layer, vendor := "global", ""
		if len(rel) > 8 && rel[:8] == "yealink/" {
			layer, vendor = "yealink", "yealink"
		}
		trees, err := parseOverride(overrideFile{rel: rel, layer: layer, vendor: vendor}, text, map[string]string{})
		if err != nil {
			return
		}
		for _, tr := range trees {
			if err := lintTree(rel, tr, ""); err != nil {
				t.Fatalf("accepted an unescaped template: %v", err)
			}
		}
	})
}
