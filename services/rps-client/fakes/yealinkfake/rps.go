package yealinkfake

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
)

// RPSConfig configures the RPS JSON fake.
type RPSConfig struct {
	Key, Secret string
	// Window is the accepted clock difference for X-Ca-Timestamp (default 15 min;
	// the real window is not documented).
	Window time.Duration
}

// RPS is a running fake of the RPS JSON API (rps-apis.md §1.2). It checks
// the X-Ca signature computed by its own code from the documented
// algorithm, Content-MD5, millisecond timestamps inside the window, nonce
// uniqueness, 12 lowercase hex MACs, server names of at most 20 characters,
// and answers with the {ret, data, error} envelope, including
// device.mac.added.by.other for another enterprise's MAC.
type RPS struct {
	*fakeserver.Server
	cfg RPSConfig

	mu      sync.Mutex
	nonces  map[string]bool
	nextID  int
	servers map[int]map[string]string // id → {serverName, url}
	devices map[int]string            // device id → mac (ours)
}

// StartRPS runs the fake.
func StartRPS(t testing.TB, cfg RPSConfig) *RPS {
	if cfg.Window == 0 {
		cfg.Window = 15 * time.Minute
	}
	f := &RPS{cfg: cfg, nonces: map[string]bool{}, nextID: 100, servers: map[int]map[string]string{}, devices: map[int]string{}}
	f.Server = fakeserver.Start(t, http.HandlerFunc(f.serve))
	return f
}

func envelope(w http.ResponseWriter, ret int, data any, msg string, code int) {
	w.Header().Set("Content-Type", "application/json")
	var e any
	if msg != "" {
		e = map[string]any{"msg": msg, "errorCode": code, "fieldErrors": []any{}}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ret": ret, "data": data, "error": e})
}

func refuse(w http.ResponseWriter, msg string, code int) { envelope(w, -1, nil, msg, code) }

// verify recomputes the signature; refusals come as HTTP 200 with ret -1
// (the API's documented envelope).
func (f *RPS) verify(w http.ResponseWriter, r *http.Request, body []byte) bool {
	h := r.Header
	if h.Get("X-Ca-Key") != f.cfg.Key {
		refuse(w, "accesskey.invalid", 401)
		return false
	}
	ts := h.Get("X-Ca-Timestamp")
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) != 13 {
		refuse(w, "timestamp.invalid", 400)
		return false
	}
	if d := time.Since(time.UnixMilli(ms)); d > f.cfg.Window || d < -f.cfg.Window {
		refuse(w, "timestamp.expired", 401)
		return false
	}
	nonce := h.Get("X-Ca-Nonce")
	if nonce == "" {
		refuse(w, "nonce.required", 400)
		return false
	}
	if len(body) > 0 {
		sum := md5.Sum(body)
		if h.Get("Content-MD5") != base64.StdEncoding.EncodeToString(sum[:]) {
			refuse(w, "content.md5.mismatch", 400)
			return false
		}
	}
	// METHOD\n, then the signed headers sorted by name as "Name:value\n",
	// then the path without its leading slash, then (without a body) "\n"
	// and the sorted query.
	signed := map[string]string{"X-Ca-Key": h.Get("X-Ca-Key"), "X-Ca-Nonce": nonce, "X-Ca-Timestamp": ts}
	if len(body) > 0 {
		signed["Content-MD5"] = h.Get("Content-MD5")
	}
	var names []string
	for k := range signed {
		names = append(names, k)
	}
	sort.Strings(names)
	s := r.Method + "\n"
	for _, k := range names {
		s += k + ":" + signed[k] + "\n"
	}
	s += strings.TrimPrefix(r.URL.Path, "/")
	if q := r.URL.Query(); len(body) == 0 && len(q) > 0 {
		var keys []string
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			if v := q.Get(k); v != "" {
				parts = append(parts, k+"="+v)
			} else {
				parts = append(parts, k)
			}
		}
		s += "\n" + strings.Join(parts, "&")
	}
	m := hmac.New(sha256.New, []byte(f.cfg.Secret))
	m.Write([]byte(s))
	if !hmac.Equal([]byte(base64.StdEncoding.EncodeToString(m.Sum(nil))), []byte(h.Get("X-Ca-Signature"))) {
		refuse(w, "signature.invalid", 401)
		return false
	}
	f.mu.Lock()
	replay := f.nonces[nonce]
	f.nonces[nonce] = true
	f.mu.Unlock()
	if replay {
		refuse(w, "nonce.used", 401)
		return false
	}
	return true
}

func lowerHexMAC(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (f *RPS) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if !f.verify(w, r, body) {
		return
	}
	var in map[string]json.RawMessage
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			refuse(w, "request.body.invalid", 400)
			return
		}
	}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(in[k], &s)
		return s
	}
	intv := func(k string) int {
		var n int
		if json.Unmarshal(in[k], &n) != nil {
			var s string
			_ = json.Unmarshal(in[k], &s)
			n, _ = strconv.Atoi(s)
		}
		return n
	}
	// Hooks by "METHOD /path", before the fake's lock: a hook may call it.
	f.RunHooks(r.Method + " " + r.URL.Path)
	reg := f.Registry
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method + " " + r.URL.Path {
	case "POST /api/open/v1/server/list":
		key := str("key")
		var out []any
		for id, s := range f.servers {
			if key == "" || strings.Contains(s["serverName"], key) {
				out = append(out, map[string]any{"id": strconv.Itoa(id), "serverName": s["serverName"], "url": s["url"]})
			}
		}
		envelope(w, 1, map[string]any{"skip": 0, "limit": 100, "total": len(out), "data": out}, "", 0)
	case "POST /api/open/v1/server/add":
		name, url := str("serverName"), str("url")
		if name == "" || len(name) > 20 {
			refuse(w, "server.name.invalid", 400)
			return
		}
		if !(strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")) {
			refuse(w, "server.url.invalid", 400)
			return
		}
		for _, s := range f.servers {
			if s["serverName"] == name {
				refuse(w, "server.name.existed", 400)
				return
			}
		}
		f.nextID++
		f.servers[f.nextID] = map[string]string{"serverName": name, "url": url}
		envelope(w, 1, map[string]any{"id": strconv.Itoa(f.nextID), "serverName": name, "url": url}, "", 0)
	case "POST /api/open/v1/device/list":
		key := str("key")
		var out []any
		for id, mac := range f.devices {
			if key != "" && !strings.Contains(mac, key) {
				continue
			}
			e, _ := reg.Get(mac)
			out = append(out, map[string]any{"id": strconv.Itoa(id), "mac": mac, "serverId": e.Ref, "uniqueServerUrl": e.URL})
		}
		envelope(w, 1, map[string]any{"skip": 0, "limit": 100, "total": len(out), "data": out}, "", 0)
	case "POST /api/open/v1/device/add":
		var macs []string
		if err := json.Unmarshal(in["macs"], &macs); err != nil || len(macs) == 0 {
			refuse(w, "device.macs.required", 400)
			return
		}
		serverID, url := intv("serverId"), str("uniqueServerUrl")
		if _, ok := f.servers[serverID]; !ok {
			refuse(w, "server.not.found", 404)
			return
		}
		if !(strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")) {
			refuse(w, "device.uniqueServerUrl.invalid", 400)
			return
		}
		var added []any
		for _, mac := range macs {
			if !lowerHexMAC(mac) || reg.Invalid(mac) {
				refuse(w, "device.mac.invalid", 400)
				return
			}
			if e, ok := reg.Get(mac); ok {
				if e.Owner != fakeserver.Us {
					refuse(w, "device.mac.added.by.other", 409)
				} else {
					refuse(w, "device.mac.existed", 409)
				}
				return
			}
			f.nextID++
			f.devices[f.nextID] = mac
			reg.Put(mac, fakeserver.Entry{Owner: fakeserver.Us, URL: url, Ref: strconv.Itoa(serverID)})
			added = append(added, map[string]any{"id": strconv.Itoa(f.nextID), "mac": mac})
		}
		envelope(w, 1, added, "", 0)
	case "POST /api/open/v1/device/edit":
		id, serverID, url := intv("id"), intv("serverId"), str("uniqueServerUrl")
		mac, ok := f.devices[id]
		if !ok {
			refuse(w, "device.not.found", 404)
			return
		}
		if _, ok := f.servers[serverID]; !ok {
			refuse(w, "server.not.found", 404)
			return
		}
		reg.Put(mac, fakeserver.Entry{Owner: fakeserver.Us, URL: url, Ref: strconv.Itoa(serverID)})
		envelope(w, 1, map[string]any{"id": strconv.Itoa(id), "mac": mac}, "", 0)
	case "POST /api/open/v1/device/delete":
		// {ids:[…]} (Python client, fspbx) or {macs:[…]} (Node client).
		var ids []json.RawMessage
		var macs []string
		_ = json.Unmarshal(in["ids"], &ids)
		_ = json.Unmarshal(in["macs"], &macs)
		for _, raw := range ids {
			id, _ := strconv.Atoi(strings.Trim(string(raw), `"`))
			if mac, ok := f.devices[id]; ok {
				macs = append(macs, mac)
			}
		}
		if len(macs) == 0 {
			refuse(w, "device.not.found", 404)
			return
		}
		for _, mac := range macs {
			for id, m := range f.devices {
				if m == mac {
					delete(f.devices, id)
					reg.Delete(mac)
				}
			}
		}
		envelope(w, 0, nil, "", 0)
	case "GET /api/open/v1/device/checkMac":
		mac := r.URL.Query().Get("mac")
		if !lowerHexMAC(mac) {
			refuse(w, "device.mac.invalid", 400)
			return
		}
		_, ok := reg.Get(mac)
		envelope(w, 1, map[string]any{"existed": ok}, "", 0)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"ret":-1,"data":null,"error":{"msg":"not.found","errorCode":404}}`)
	}
}
