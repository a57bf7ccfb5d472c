// Package yealinkfake fakes Yealink's redirect APIs: the legacy XML-RPC
// API, whose template Htek's RPS shares (see Template), and the RPS JSON
// API with X-Ca request signing, verified here with code of its own.
package yealinkfake

import (
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
)

// Template parameterises the Yealink-template XML-RPC fake (rps-apis.md
// §1.1, §9, §10).
type Template struct {
	Path  string
	Style fakeserver.Style
	// Texts differ slightly between Yealink ("Error:Invalid MAC(s):…") and
	// Htek ("Invalid MAC(s): …").
	InvalidMAC, Existing, OverrideQuestion, InvalidServer string
}

// YealinkTemplate is Yealink's legacy API at /xmlrpc.
var YealinkTemplate = Template{
	Path: "/xmlrpc", Style: fakeserver.Untyped,
	InvalidMAC: "Error:Invalid MAC(s):", Existing: "Existing MAC(s): ",
	OverrideQuestion: "Are you sure you want to override MAC addresses", InvalidServer: "Error:Invalid server",
}

// XMLRPC is a running template fake.
type XMLRPC struct {
	*fakeserver.Server
	tpl Template

	mu      sync.Mutex
	servers map[string]string // our account's server objects: name → URL
}

var (
	// The four documented MAC spellings (Akuvox/Htek documents).
	macRe        = regexp.MustCompile(`^[0-9A-Fa-f]{2}([ :-]?)[0-9A-Fa-f]{2}(?:[ :-]?[0-9A-Fa-f]{2}){4}$`)
	serverNameRe = regexp.MustCompile(`^[A-Za-z0-9 ._-]{1,20}$`)
)

// StartXMLRPC runs a template fake accepting user/pass.
func StartXMLRPC(t testing.TB, tpl Template, user, pass string) *XMLRPC {
	f := &XMLRPC{tpl: tpl, servers: map[string]string{}}
	f.Server = fakeserver.Start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != tpl.Path {
			http.NotFound(w, r)
			return
		}
		if !fakeserver.BasicAuth(r, user, pass) {
			fakeserver.Unauthorized(w, "RPS")
			return
		}
		c, ok := fakeserver.ReadCall(w, r)
		if !ok {
			return
		}
		f.RunHooks(c.Method)
		f.serve(w, c)
	}))
	return f
}

// Servers returns the number of server objects of our account.
func (f *XMLRPC) Servers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.servers)
}

func (f *XMLRPC) serve(w http.ResponseWriter, c fakeserver.Call) {
	reg := f.Registry
	res := func(ok bool, text string) { fakeserver.WriteResult(w, f.tpl.Style, ok, text) }
	arity := map[string][2]int{
		"redirect.addServer": {2, 2}, "redirect.registerDevice": {2, 3},
		"redirect.deRegisterDevice": {1, 1}, "redirect.checkDevice": {1, 1},
	}
	a, known := arity[c.Method]
	if !known {
		fakeserver.WriteFault(w, 1, "method not found")
		return
	}
	if len(c.Params) < a[0] || len(c.Params) > a[1] {
		fakeserver.WriteFault(w, 2, "wrong number of params")
		return
	}
	if c.Method == "redirect.addServer" {
		name, url := c.Str(0), c.Str(1)
		if !serverNameRe.MatchString(name) {
			res(false, "Error:The server name can only contain 'A-z 0-9 - _ . '(include space)")
			return
		}
		if !(strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") ||
			strings.HasPrefix(url, "ftp://") || strings.HasPrefix(url, "tftp://")) {
			res(false, "Error:The url can only begin with 'http://' or 'https://' or 'ftp://' or 'tftp://'")
			return
		}
		f.mu.Lock()
		_, exists := f.servers[name]
		if !exists {
			f.servers[name] = url
		}
		f.mu.Unlock()
		if exists {
			res(false, "Error:Existing server")
			return
		}
		res(true, "OK")
		return
	}
	raw := c.Str(0)
	mac := ""
	if macRe.MatchString(raw) {
		mac = fakeserver.CanonMAC(raw, " :-")
	}
	if mac == "" || reg.Invalid(mac) {
		res(false, f.tpl.InvalidMAC+raw)
		return
	}
	e, exists := reg.Get(mac)
	foreign := exists && e.Owner != fakeserver.Us
	switch c.Method {
	case "redirect.registerDevice":
		f.mu.Lock()
		url, ok := f.servers[c.Str(1)]
		f.mu.Unlock()
		if !ok {
			res(false, f.tpl.InvalidServer)
			return
		}
		override := len(c.Params) == 3 && c.Str(2) == "1"
		switch {
		case foreign && !override:
			res(false, f.tpl.OverrideQuestion)
			return
		case exists && !foreign && !override:
			res(false, f.tpl.Existing+raw)
			return
		}
		reg.Put(mac, fakeserver.Entry{Owner: fakeserver.Us, URL: url, Ref: c.Str(1)})
		res(true, "OK")
	case "redirect.deRegisterDevice":
		if !exists || foreign {
			res(false, f.tpl.InvalidMAC+raw)
			return
		}
		reg.Delete(mac)
		res(true, "OK")
	case "redirect.checkDevice":
		switch {
		case foreign:
			res(true, "registered elsewhere")
		case exists:
			res(true, "registered")
		default:
			res(true, "unregistered")
		}
	}
}
