package route

import (
	"net/http"
	"strings"
	"testing"
)

const tok = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd" // 42 chars

func TestParse(t *testing.T) {
	long := "/p/" + tok + "/" + strings.Repeat("a", MaxTarget)
	cases := []struct {
		target      string
		status      int
		token, file string
	}{
		{"/p/" + tok + "/y000000000000.boot", 0, tok, "y000000000000.boot"},
		{"/p/" + tok + "/cfg001565aabbcc.xml", 0, tok, "cfg001565aabbcc.xml"},
		{"/p/" + tok + "/snomD785-000413A11FA7.htm", 0, tok, "snomD785-000413A11FA7.htm"},
		{"/p/" + tok + "/", http.StatusNotFound, "", ""},
		// firmware that appends "/" to a URL ending in "/" (issue 13)
		{"/p/" + tok + "//cfg001565aabbcc.xml", 0, tok, "cfg001565aabbcc.xml"},
		{"/p/" + tok + "//", http.StatusNotFound, "", ""},
		{"/p/" + tok + "///a.cfg", http.StatusNotFound, "", ""},
		{"/p/" + tok + "//../a.cfg", http.StatusNotFound, "", ""},
		{"/p/" + tok, http.StatusNotFound, "", ""},
		{"/p/", http.StatusNotFound, "", ""},
		{"/", http.StatusNotFound, "", ""},
		{"/healthz", http.StatusNotFound, "", ""},
		{"/metrics", http.StatusNotFound, "", ""},
		{"/p/" + tok + "/../etc/passwd", http.StatusNotFound, "", ""},
		{"/p/" + tok + "/..", http.StatusNotFound, "", ""},
		{"/p/" + tok + "/.hidden", http.StatusNotFound, "", ""},
		{"/p/../" + tok + "/a.cfg", http.StatusNotFound, "", ""},
		{"/p//a.cfg", http.StatusNotFound, "", ""},
		{"//p/" + tok + "/a.cfg", http.StatusNotFound, "", ""},
		{"/p/" + tok + "/sub/a.cfg", http.StatusNotFound, "", ""},
		{"/p/" + tok + "/a.cfg/", http.StatusNotFound, "", ""},
		{"/p/short/a.cfg", http.StatusNotFound, "", ""},
		{"/p/" + tok + "!/a.cfg", http.StatusNotFound, "", ""},
		{"/p/" + tok + "/a b.cfg", http.StatusNotFound, "", ""},
		{"/p/" + tok + "/" + strings.Repeat("a", MaxFileLen+1), http.StatusNotFound, "", ""},
		{"/p/" + strings.Repeat("a", MaxTokenLen+1) + "/a.cfg", http.StatusNotFound, "", ""},
		{"/p/" + tok + "%2Fa.cfg", http.StatusBadRequest, "", ""},
		{"/p/" + tok + "/%2e%2e", http.StatusBadRequest, "", ""},
		{"/p/" + tok + "/a.cfg?mac=001565aabbcc", http.StatusBadRequest, "", ""},
		{"/p/" + tok + "/a.cfg?", http.StatusBadRequest, "", ""},
		{"/p/" + tok + "/a.cfg#x", http.StatusBadRequest, "", ""},
		{"/p/" + tok + "\\a.cfg", http.StatusBadRequest, "", ""},
		{"http://example.com/p/" + tok + "/a.cfg", http.StatusBadRequest, "", ""},
		{"*", http.StatusBadRequest, "", ""},
		{"", http.StatusBadRequest, "", ""},
		{long, http.StatusRequestURITooLong, "", ""},
	}
	for _, c := range cases {
		got := Parse(c.target)
		if got.Status != c.status || got.Token != c.token || got.File != c.file {
			t.Errorf("Parse(%.60q) = %+v, want status %d token %q file %q", c.target, got, c.status, c.token, c.file)
		}
	}
}

func TestLogPathHidesToken(t *testing.T) {
	for _, target := range []string{
		"/p/" + tok + "/a.cfg",
		"/p/" + tok + "/sub/a.cfg",
		"/x/" + tok,
		"/p/" + tok + "/a.cfg?x=1",
	} {
		if lp := Parse(target).LogPath(); strings.Contains(lp, tok) {
			t.Errorf("LogPath for %q contains the token: %q", target, lp)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"/p/" + tok + "/y000000000000.boot", "/p/" + tok + "/../x", "/p/" + tok + "%2f..%2fx",
		"/p/" + tok + "/a?b", "http://h/p/a/b", "/p//", "*", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		r := Parse(target)
		switch r.Status {
		case 0:
			if target != "/p/"+r.Token+"/"+r.File {
				t.Fatalf("match %+v does not rebuild %q", r, target)
			}
			if strings.Contains(r.File, "/") || strings.HasPrefix(r.File, ".") || strings.ContainsAny(r.Token+r.File, "%?#\\") {
				t.Fatalf("unsafe match %+v", r)
			}
			if !validToken(r.Token) || !validFile(r.File) {
				t.Fatalf("invalid parts accepted: %+v", r)
			}
		case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestURITooLong:
			if r.Token != "" || r.File != "" {
				t.Fatalf("refusal carries parts: %+v", r)
			}
		default:
			t.Fatalf("unexpected status %d", r.Status)
		}
		if lp := r.LogPath(); (r.Status == 0 && lp != "/p/<redacted>/"+r.File) || (r.Status != 0 && lp != "<unmatched>") {
			t.Fatalf("log path %q for %+v", lp, r)
		}
	})
}
