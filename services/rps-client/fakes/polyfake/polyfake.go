// Package polyfake fakes Poly's ZTP API (rps-apis.md §6.1): API-KEY header
// (401 {"message":"Unauthorized"}), profiles CRUD whose template's
// provisioning.server.address is the redirect target, devices
// POST {"id": mac, "profile": id} (400 invalid MAC, 409 held by an account),
// GET /devices/{mac} with profileid (404 {"message":"Not Found"}),
// DELETE /devices/{mac} (409 when registered with a different account).
// It refuses profiles carrying provisioning credentials: we send none.
package polyfake

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
)

// Prefix is the API path prefix.
const Prefix = "/v1"

// Fake is a running ZTP fake.
type Fake struct {
	*fakeserver.Server
	mu       sync.Mutex
	next     int
	profiles map[string]map[string]any // id → profile JSON
	devices  map[string]string         // our mac → profile id
}

// Start runs the fake accepting apiKey.
func Start(t testing.TB, apiKey string) *Fake {
	f := &Fake{profiles: map[string]map[string]any{}, devices: map[string]string{}}
	f.Server = fakeserver.Start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("API-KEY") != apiKey {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"message":"Unauthorized"}`)
			return
		}
		f.serve(w, r)
	}))
	return f
}

// Profiles returns the number of profiles.
func (f *Fake) Profiles() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.profiles)
}

func msg(w http.ResponseWriter, status int, text string) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": text})
}

func address(p map[string]any) (string, bool) {
	tpl, _ := p["template"].(map[string]any)
	prov, _ := tpl["provisioning"].(map[string]any)
	srv, _ := prov["server"].(map[string]any)
	addr, _ := srv["address"].(string)
	_, user := srv["username"]
	_, pass := srv["password"]
	ok := (strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://")) && !user && !pass
	return addr, ok
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, Prefix)
	var body map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			msg(w, http.StatusUnsupportedMediaType, "Unsupported Media Type")
			return
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
			msg(w, http.StatusBadRequest, "Invalid JSON")
			return
		}
	}
	reg := f.Registry
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && path == "/profiles":
		if _, ok := address(body); !ok {
			msg(w, http.StatusBadRequest, "template.provisioning.server.address is invalid")
			return
		}
		f.next++
		id := "prof-" + strconv.Itoa(f.next)
		body["id"] = id
		f.profiles[id] = body
		_ = json.NewEncoder(w).Encode(body)
	case strings.HasPrefix(path, "/profiles/"):
		id := strings.TrimPrefix(path, "/profiles/")
		p, exists := f.profiles[id]
		if !exists {
			msg(w, http.StatusNotFound, "Not Found")
			return
		}
		switch r.Method {
		case http.MethodGet:
			_ = json.NewEncoder(w).Encode(p)
		case http.MethodPut:
			addr, ok := address(body)
			if !ok {
				msg(w, http.StatusBadRequest, "template.provisioning.server.address is invalid")
				return
			}
			body["id"] = id
			f.profiles[id] = body
			for mac, pid := range f.devices {
				if pid == id {
					reg.Put(mac, fakeserver.Entry{Owner: fakeserver.Us, URL: addr, Ref: id})
				}
			}
			_ = json.NewEncoder(w).Encode(body)
		case http.MethodDelete:
			delete(f.profiles, id)
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, `{}`)
		default:
			msg(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		}
	case r.Method == http.MethodPost && path == "/devices":
		mac, _ := body["id"].(string)
		pid, _ := body["profile"].(string)
		if fakeserver.CanonMAC(mac, "") != mac || reg.Invalid(mac) {
			msg(w, http.StatusBadRequest, "Invalid MAC address")
			return
		}
		p, ok := f.profiles[pid]
		if !ok {
			msg(w, http.StatusBadRequest, "Invalid profile")
			return
		}
		if _, exists := reg.Get(mac); exists {
			msg(w, http.StatusConflict, "Device is already registered")
			return
		}
		addr, _ := address(p)
		f.devices[mac] = pid
		reg.Put(mac, fakeserver.Entry{Owner: fakeserver.Us, URL: addr, Ref: pid})
		_ = json.NewEncoder(w).Encode(map[string]string{"id": mac, "profileid": pid})
	case strings.HasPrefix(path, "/devices/"):
		mac := strings.TrimPrefix(path, "/devices/")
		if fakeserver.CanonMAC(mac, "") == "" {
			msg(w, http.StatusBadRequest, "Invalid MAC address")
			return
		}
		e, exists := reg.Get(strings.ToLower(mac))
		switch r.Method {
		case http.MethodGet:
			pid, ours := f.devices[mac]
			if !ours {
				msg(w, http.StatusNotFound, "Not Found")
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"id": mac, "profileid": pid})
		case http.MethodDelete:
			switch {
			case exists && e.Owner != fakeserver.Us:
				msg(w, http.StatusConflict, "Device is registered with a different account")
			case !exists:
				msg(w, http.StatusNotFound, "Not Found")
			default:
				delete(f.devices, mac)
				reg.Delete(mac)
				_, _ = io.WriteString(w, `{}`)
			}
		default:
			msg(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		}
	default:
		msg(w, http.StatusNotFound, "Not Found")
	}
}
