// Package gigasetfake fakes Gigaset's legacy autoprov XML-RPC redirect
// service (rps-apis.md §3.1): POST text/xml to /apxml/rpc.do with HTTP
// Basic; autoprov.registerDevice(macId, url, providerName),
// autoprov.deregisterDevice(mac), autoprov.checkDevice(macId); MAC-IDs are
// uppercase ("XXXXXXXXXXXX" or "XXXXXXXXXXXX-XXXX"); answers [boolean, text]
// with mac_invalid:, mac_not_exist:, mac_not_found:, mac_already_in_use:,
// url_invalid:, name_invalid:.
package gigasetfake

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
)

// Path is the endpoint path.
const Path = "/apxml/rpc.do"

var (
	macIDRe = regexp.MustCompile(`^([0-9A-F]{12})(-[A-Z0-9]{4})?$`)
	nameRe  = regexp.MustCompile(`^[A-Za-z0-9 ._-]{1,40}$`)
)

// Option changes the fake's behaviour.
type Option func(*options)

type options struct{ echo bool }

// EchoOnCheck makes checkDevice answer a MAC registered to us with
// [false, "<MAC-ID>"]: the MAC echoed, flag false — an answer
// peoplefone's client reads as "registered".
func EchoOnCheck() Option { return func(o *options) { o.echo = true } }

// Start runs the fake accepting user/pass.
func Start(t testing.TB, user, pass string, opts ...Option) *fakeserver.Server {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var s *fakeserver.Server
	s = fakeserver.Start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != Path {
			http.NotFound(w, r)
			return
		}
		if !fakeserver.BasicAuth(r, user, pass) {
			fakeserver.Unauthorized(w, "autoprov")
			return
		}
		c, ok := fakeserver.ReadCall(w, r)
		if !ok {
			return
		}
		s.RunHooks(c.Method)
		serve(w, s.Registry, c, o)
	}))
	return s
}

func serve(w http.ResponseWriter, reg *fakeserver.Registry, c fakeserver.Call, o options) {
	res := func(ok bool, text string) { fakeserver.WriteResult(w, fakeserver.Untyped, ok, text) }
	want := map[string]int{"autoprov.registerDevice": 3, "autoprov.deregisterDevice": 1, "autoprov.checkDevice": 1}
	n, known := want[c.Method]
	if !known {
		fakeserver.WriteFault(w, 1, "No such handler: "+c.Method)
		return
	}
	if len(c.Params) != n {
		fakeserver.WriteFault(w, 2, "wrong number of params")
		return
	}
	raw := c.Str(0)
	m := macIDRe.FindStringSubmatch(raw)
	if m == nil {
		res(false, "mac_invalid:"+raw)
		return
	}
	mac := strings.ToLower(m[1])
	if reg.Invalid(mac) {
		res(false, "mac_not_exist:"+raw)
		return
	}
	e, exists := reg.Get(mac)
	foreign := exists && e.Owner != fakeserver.Us
	switch c.Method {
	case "autoprov.registerDevice":
		url, name := c.Str(1), c.Str(2)
		if !(strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")) {
			res(false, "url_invalid:"+url)
			return
		}
		if !nameRe.MatchString(name) {
			res(false, "name_invalid:"+name)
			return
		}
		if foreign {
			res(false, "mac_already_in_use:"+raw)
			return
		}
		if exists {
			// No override: a registered MAC must be deregistered first.
			res(false, "mac_already_in_use:"+raw)
			return
		}
		reg.Put(mac, fakeserver.Entry{Owner: fakeserver.Us, URL: url, Ref: name})
		res(true, "ok")
	case "autoprov.deregisterDevice":
		switch {
		case foreign:
			res(false, "mac_already_in_use:"+raw)
		case !exists:
			res(false, "mac_not_found:"+raw)
		default:
			reg.Delete(mac)
			res(true, "ok")
		}
	case "autoprov.checkDevice":
		switch {
		case foreign:
			res(false, "mac_already_in_use:"+raw)
		case !exists:
			res(false, "mac_not_found:"+raw)
		case o.echo:
			res(false, raw)
		default:
			res(true, "ok")
		}
	}
}
