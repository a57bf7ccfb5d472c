// Package fanvilfake fakes Fanvil's FDPS (rps-apis.md §4): XML-RPC at
// /xmlrpc.php, HTTP Basic whose password must be md5hex(md5hex(password))
// (computed here independently), server objects created with
// redirect.addMaterialServer's key=value list (cfgName, cfgPfSrv, cfgPfName,
// cfgPfProt 1/2/4/5, cfgPfMode, cfgDhcpOpt, cfgPnpEnable), devices bound
// with redirect.registerDevice(mac, server), and the documented error texts
// (Error: mac_format_error, Error: url_format_error, Error: device_had_existed,
// Error:server_not_exist, Error:server_had_existed, Error:device_not_exist).
// A server a device is bound to cannot be deleted.
package fanvilfake

import (
	"crypto/md5"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
)

// Path is the endpoint path.
const Path = "/xmlrpc.php"

// Fake is a running FDPS fake.
type Fake struct {
	*fakeserver.Server
	mu      sync.Mutex
	servers map[string]string // name → URL
}

// Start runs the fake for user with the plain password pw.
func Start(t testing.TB, user, pw string) *Fake {
	inner := fmt.Sprintf("%x", md5.Sum([]byte(pw)))
	wire := fmt.Sprintf("%x", md5.Sum([]byte(inner)))
	f := &Fake{servers: map[string]string{}}
	f.Server = fakeserver.Start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != Path {
			http.NotFound(w, r)
			return
		}
		if !fakeserver.BasicAuth(r, user, wire) {
			fakeserver.Unauthorized(w, "FDPS")
			return
		}
		c, ok := fakeserver.ReadCall(w, r)
		if !ok {
			return
		}
		f.serve(w, c)
	}))
	return f
}

// Servers returns the number of server objects.
func (f *Fake) Servers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.servers)
}

func (f *Fake) serve(w http.ResponseWriter, c fakeserver.Call) {
	reg := f.Registry
	res := func(ok bool, text string) { fakeserver.WriteResult(w, fakeserver.Typed, ok, text) }
	f.mu.Lock()
	defer f.mu.Unlock()
	switch c.Method {
	case "redirect.addMaterialServer":
		arr, _ := c.Params[0].([]any)
		kv := map[string]string{}
		for _, it := range arr {
			s, _ := it.(string)
			k, v, ok := strings.Cut(s, "=")
			if !ok {
				res(false, "Error: param_format_error")
				return
			}
			kv[k] = v
		}
		scheme := map[string]string{"1": "ftp", "2": "tftp", "4": "http", "5": "https"}[kv["cfgPfProt"]]
		if kv["cfgName"] == "" || kv["cfgPfSrv"] == "" || scheme == "" || strings.HasPrefix(kv["cfgPfName"], "/") ||
			strings.ContainsAny(kv["cfgPfSrv"], "/?#") {
			res(false, "Error: url_format_error")
			return
		}
		if kv["cfgPfMode"] != "1" || kv["cfgDhcpOpt"] != "false" || kv["cfgPnpEnable"] != "false" {
			res(false, "Error: param_format_error")
			return
		}
		if _, ok := f.servers[kv["cfgName"]]; ok {
			res(false, "Error:server_had_existed")
			return
		}
		f.servers[kv["cfgName"]] = scheme + "://" + kv["cfgPfSrv"] + "/" + kv["cfgPfName"]
		res(true, "success")
	case "redirect.deleteServer":
		name := c.Str(0)
		if _, ok := f.servers[name]; !ok {
			res(false, "Error:server_not_existed")
			return
		}
		// Refuse while one of our devices is bound to it.
		if mac := fakeserver.CanonMAC(name, ""); mac != "" {
			if e, ok := reg.Get(mac); ok && e.Owner == fakeserver.Us && e.Ref == name {
				res(false, "Error:server_in_use")
				return
			}
		}
		delete(f.servers, name)
		res(true, "success")
	case "redirect.registerDevice", "redirect.deRegisterDevice", "redirect.checkDevice":
		raw := c.Str(0)
		mac := fakeserver.CanonMAC(raw, ":-")
		if mac == "" || reg.Invalid(mac) {
			res(false, "Error: mac_format_error")
			return
		}
		e, exists := reg.Get(mac)
		foreign := exists && e.Owner != fakeserver.Us
		switch c.Method {
		case "redirect.registerDevice":
			url, ok := f.servers[c.Str(1)]
			switch {
			case !ok:
				res(false, "Error:server_not_exist")
			case exists:
				res(false, "Error: device_had_existed")
			default:
				reg.Put(mac, fakeserver.Entry{Owner: fakeserver.Us, URL: url, Ref: c.Str(1)})
				res(true, "success")
			}
		case "redirect.deRegisterDevice":
			if !exists || foreign {
				res(false, "Error:device_not_exist")
				return
			}
			reg.Delete(mac)
			res(true, "success")
		case "redirect.checkDevice":
			switch {
			case foreign:
				res(false, "Error: device_had_existed")
			case !exists:
				res(false, "Error:device_not_exist")
			default:
				res(true, "success")
			}
		}
	default:
		fakeserver.WriteFault(w, 1, "method not found")
	}
}
