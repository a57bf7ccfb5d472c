// Package snomfake fakes Snom's legacy XML-RPC redirection service
// (rps-apis.md §2.1): POST with Content-Type text/xml to a path whose
// trailing slash is mandatory, HTTP Basic, redirect.registerPhone /
// deregisterPhone / checkPhone / getPhoneRedirection answering
// [boolean, <string>text</string>] with the documented texts (Ok,
// Error:owned_by_other_user, Error:malformed_url, Error:malformed_mac).
package snomfake

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
)

// Path is the XML-RPC endpoint path; the trailing slash is mandatory.
const Path = "/xmlrpc/"

// Start runs the fake accepting user/pass.
func Start(t testing.TB, user, pass string) *fakeserver.Server {
	var s *fakeserver.Server
	s = fakeserver.Start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != Path {
			http.NotFound(w, r) // e.g. "/xmlrpc" without its slash
			return
		}
		if !fakeserver.BasicAuth(r, user, pass) {
			fakeserver.Unauthorized(w, "SRAPS")
			return
		}
		c, ok := fakeserver.ReadCall(w, r)
		if !ok {
			return
		}
		serve(w, s.Registry, c)
	}))
	return s
}

func serve(w http.ResponseWriter, reg *fakeserver.Registry, c fakeserver.Call) {
	res := func(ok bool, text string) { fakeserver.WriteResult(w, fakeserver.Typed, ok, text) }
	want := map[string]int{"redirect.registerPhone": 2, "redirect.deregisterPhone": 1,
		"redirect.checkPhone": 1, "redirect.getPhoneRedirection": 1}
	n, known := want[c.Method]
	if !known {
		fakeserver.WriteFault(w, -32601, "method not found: "+c.Method)
		return
	}
	if len(c.Params) != n {
		fakeserver.WriteFault(w, -32602, "wrong number of params")
		return
	}
	mac := fakeserver.CanonMAC(c.Str(0), "")
	if mac == "" || reg.Invalid(mac) {
		if c.Method == "redirect.checkPhone" {
			res(false, "error:malformed_mac")
		} else {
			res(false, "Error:malformed_mac")
		}
		return
	}
	e, exists := reg.Get(mac)
	foreign := exists && e.Owner != fakeserver.Us
	switch c.Method {
	case "redirect.registerPhone":
		url := c.Str(1)
		if !(strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")) {
			res(false, "Error:malformed_url")
			return
		}
		if foreign {
			res(false, "Error:owned_by_other_user")
			return
		}
		reg.Put(mac, fakeserver.Entry{Owner: fakeserver.Us, URL: url})
		res(true, "Ok")
	case "redirect.deregisterPhone":
		switch {
		case foreign:
			res(false, "Error:owned_by_other_user")
		case !exists:
			res(false, "Error:no_such_mac")
		default:
			reg.Delete(mac)
			res(true, "Ok")
		}
	case "redirect.checkPhone":
		switch {
		case foreign:
			res(false, "error:owned_by_other_user")
		case !exists:
			res(false, "error:no_such_mac")
		default:
			res(true, "ok")
		}
	case "redirect.getPhoneRedirection":
		switch {
		case foreign:
			res(false, "Error:owned_by_other_user")
		case !exists:
			res(false, "Error:no_such_mac")
		default:
			res(true, "Dialtone Test Company, "+e.URL)
		}
	}
}
