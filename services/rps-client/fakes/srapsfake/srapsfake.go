// Package srapsfake is a fake of the Hawk REST redirect API shared by Snom
// SRAPS and Gigaset GRAPE. It verifies what the real services verify, per
// rps-apis.md §2.2 and mozilla/hawk lib/server.js, with its own code (not
// the client's): the Hawk MAC over the normalized string, the payload hash
// when one is sent (payload validation is optional on SRAPS), a ±60 s clock
// window answered with a "Stale timestamp" challenge carrying tsm, nonce
// replay, lowercase 12-hex MACs, and the setting uuid. It answers with the
// documented faults: 403 taken_mac_or_forbidden / "User lacks permission to
// endpoint" for another account's MAC. A PUT replaces the whole endpoint,
// as the real API's full update does: every field it omits (a description
// or a setting made in the vendor's portal) is reset.
package srapsfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
)

// Config of the fake.
type Config struct {
	// Prefix is the API path prefix, e.g. "/api/v1".
	Prefix string
	// ID and Key are the only Hawk credentials accepted.
	ID, Key string
	// Setting is the provisioning setting's param_name.
	Setting string
	// Skew shifts the fake's clock (to exercise stale-timestamp recovery).
	Skew time.Duration
	// ForgedTSM signs the stale-timestamp challenge's server time with a
	// key other than the account's, as a forged or broken answer would.
	ForgedTSM bool
	// ForbidNullWarranty refuses "warranty_exp_warning_period": null (GRAPE).
	ForbidNullWarranty bool
}

// Fake is the running fake.
type Fake struct {
	*fakeserver.Server
	cfg         Config
	settingUUID string

	mu       sync.Mutex
	nonces   map[string]bool
	unsigned int                                   // requests whose payload hash was absent
	docs     map[string]map[string]json.RawMessage // our endpoints' documents, by MAC
}

// EditInPortal changes fields of our endpoint mac as an administrator would
// in the vendor's portal: top-level fields, and settings_manager entries
// merged into the existing ones.
func (f *Fake) EditInPortal(t testing.TB, mac string, fields map[string]any) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	doc := f.docs[mac]
	if doc == nil {
		t.Fatalf("srapsfake: no endpoint %s of ours", mac)
	}
	for k, v := range fields {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if k != "settings_manager" {
			doc[k] = raw
			continue
		}
		var sm, add map[string]json.RawMessage
		_ = json.Unmarshal(doc[k], &sm)
		if sm == nil {
			sm = map[string]json.RawMessage{}
		}
		_ = json.Unmarshal(raw, &add)
		for sk, sv := range add {
			sm[sk] = sv
		}
		doc[k], _ = json.Marshal(sm)
	}
}

// Doc returns a copy of our endpoint mac's document, or nil.
func (f *Fake) Doc(mac string) map[string]json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.docs[mac] == nil {
		return nil
	}
	out := map[string]json.RawMessage{}
	for k, v := range f.docs[mac] {
		out[k] = v
	}
	return out
}

const companyID = "c0ffee00-0000-4000-8000-000000000001"

// Start runs a fake.
func Start(t testing.TB, cfg Config) *Fake {
	f := &Fake{cfg: cfg, nonces: map[string]bool{}, docs: map[string]map[string]json.RawMessage{}, settingUUID: "5e771n9-0000-4000-8000-00000000beef"}
	f.Server = fakeserver.Start(t, http.HandlerFunc(f.serve))
	return f
}

// SettingUUID is the uuid of the provisioning setting.
func (f *Fake) SettingUUID() string { return f.settingUUID }

func (f *Fake) now() time.Time { return time.Now().Add(f.cfg.Skew) }

func (f *Fake) jsonErr(w http.ResponseWriter, status int, key, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{key: msg})
}

// authenticate verifies the Hawk header; on failure it has answered.
func (f *Fake) authenticate(w http.ResponseWriter, r *http.Request, body []byte) bool {
	attrs, ok := parseHawk(r.Header.Get("Authorization"))
	if !ok {
		f.jsonErr(w, http.StatusUnauthorized, "detail", "Authentication credentials were not provided.")
		return false
	}
	for _, k := range []string{"id", "ts", "nonce", "mac"} {
		if attrs[k] == "" {
			f.jsonErr(w, http.StatusUnauthorized, "detail", "Missing attribute "+k)
			return false
		}
	}
	if attrs["id"] != f.cfg.ID {
		f.jsonErr(w, http.StatusUnauthorized, "detail", "Unknown credentials")
		return false
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "80"
	}
	// hawk.1.header\n ts\n nonce\n METHOD\n resource\n host\n port\n hash\n ext\n
	normalized := "hawk.1.header\n" + attrs["ts"] + "\n" + attrs["nonce"] + "\n" + r.Method + "\n" +
		r.URL.RequestURI() + "\n" + strings.ToLower(host) + "\n" + port + "\n" + attrs["hash"] + "\n" + attrs["ext"] + "\n"
	mac := hmac.New(sha256.New, []byte(f.cfg.Key))
	mac.Write([]byte(normalized))
	if !hmac.Equal([]byte(base64.StdEncoding.EncodeToString(mac.Sum(nil))), []byte(attrs["mac"])) {
		f.jsonErr(w, http.StatusUnauthorized, "detail", "Bad mac")
		return false
	}
	if attrs["hash"] != "" {
		ct := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
		sum := sha256.Sum256([]byte("hawk.1.payload\n" + ct + "\n" + string(body) + "\n"))
		if base64.StdEncoding.EncodeToString(sum[:]) != attrs["hash"] {
			f.jsonErr(w, http.StatusUnauthorized, "detail", "Bad payload hash")
			return false
		}
	} else {
		f.mu.Lock()
		f.unsigned++
		f.mu.Unlock()
	}
	ts, err := strconv.ParseInt(attrs["ts"], 10, 64)
	now := f.now().Unix()
	if err != nil || ts < now-60 || ts > now+60 {
		tsmKey := f.cfg.Key
		if f.cfg.ForgedTSM {
			tsmKey = "not-" + tsmKey
		}
		tsm := hmac.New(sha256.New, []byte(tsmKey))
		tsm.Write([]byte("hawk.1.ts\n" + strconv.FormatInt(now, 10) + "\n"))
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Hawk ts="%d", tsm="%s", error="Stale timestamp"`,
			now, base64.StdEncoding.EncodeToString(tsm.Sum(nil))))
		f.jsonErr(w, http.StatusUnauthorized, "detail", "Stale timestamp")
		return false
	}
	f.mu.Lock()
	replay := f.nonces[attrs["id"]+"/"+attrs["nonce"]+"/"+attrs["ts"]]
	f.nonces[attrs["id"]+"/"+attrs["nonce"]+"/"+attrs["ts"]] = true
	f.mu.Unlock()
	if replay {
		f.jsonErr(w, http.StatusUnauthorized, "detail", "Invalid nonce")
		return false
	}
	return true
}

func parseHawk(h string) (map[string]string, bool) {
	if !strings.HasPrefix(h, "Hawk ") {
		return nil, false
	}
	out := map[string]string{}
	rest := h[len("Hawk "):]
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		if rest == "" {
			break
		}
		eq := strings.IndexByte(rest, '=')
		if eq < 0 || eq+1 >= len(rest) || rest[eq+1] != '"' {
			return nil, false
		}
		key := rest[:eq]
		end := strings.IndexByte(rest[eq+2:], '"')
		if end < 0 {
			return nil, false
		}
		out[key] = rest[eq+2 : eq+2+end]
		rest = rest[eq+2+end+1:]
	}
	return out, true
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if !f.authenticate(w, r, body) {
		return
	}
	p := strings.TrimPrefix(r.URL.Path, f.cfg.Prefix)
	base := "http://" + r.Host + f.cfg.Prefix
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && p == "/tokens/"+f.cfg.ID:
		_ = json.NewEncoder(w).Encode(map[string]any{"uuid": f.cfg.ID, "links": map[string]string{
			"company": base + "/companies/" + companyID, "self": base + "/tokens/" + f.cfg.ID}})
	case r.Method == http.MethodGet && p == "/companies/"+companyID:
		// A relative endpoints link exercises link resolution.
		_ = json.NewEncoder(w).Encode(map[string]any{"uuid": companyID, "links": map[string]string{
			"endpoints": f.cfg.Prefix + "/companies/" + companyID + "/endpoints/"}})
	case r.Method == http.MethodGet && p == "/settings/":
		f.settings(w, r, base)
	case strings.HasPrefix(p, "/companies/"+companyID+"/endpoints/"):
		f.endpoint(w, r, strings.TrimPrefix(p, "/companies/"+companyID+"/endpoints/"), body)
	default:
		f.jsonErr(w, http.StatusNotFound, "detail", "Not found.")
	}
}

// settings serves 45 settings, at most 20 per page whatever page_size asks,
// with the provisioning setting on the third page.
func (f *Fake) settings(w http.ResponseWriter, r *http.Request, base string) {
	const total, perPage = 45, 20
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page < 1 {
		page = 1
	}
	var list []map[string]string
	for i := (page - 1) * perPage; i < total && i < page*perPage; i++ {
		name, uuid := fmt.Sprintf("setting_%02d", i), fmt.Sprintf("uuid-%02d", i)
		if i == 42 {
			name, uuid = f.cfg.Setting, f.settingUUID
		}
		list = append(list, map[string]string{"uuid": uuid, "param_name": name, "section": "phone-settings"})
	}
	if page*perPage < total {
		w.Header().Set("Link", fmt.Sprintf(`<%s/settings/?page=%d&page_size=%d>; rel="next"`, base, page+1, perPage))
	}
	_ = json.NewEncoder(w).Encode(list)
}

func validMAC(s string) bool {
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

// endpointFields are the writable fields of an endpoint (falconieri's
// libs/grape client and SRAPS' endpoint form).
var endpointFields = map[string]bool{
	"mac": true, "autoprovisioning_enabled": true, "settings_manager": true, "provisioning_profile": true,
	"description": true, "product_model": true, "warranty_exp_warning_period": true,
}

func (f *Fake) endpoint(w http.ResponseWriter, r *http.Request, mac string, body []byte) {
	reg := f.Registry
	if !validMAC(mac) || reg.Invalid(mac) {
		f.jsonErr(w, http.StatusBadRequest, "message", "mac: Enter a valid MAC address.")
		return
	}
	e, exists := reg.Get(mac)
	if exists && e.Owner != fakeserver.Us {
		if r.Method == http.MethodPut {
			f.jsonErr(w, http.StatusForbidden, "message", "taken_mac_or_forbidden")
		} else {
			f.jsonErr(w, http.StatusForbidden, "detail", "User lacks permission to endpoint")
		}
		return
	}
	switch r.Method {
	case http.MethodGet:
		if !exists {
			f.jsonErr(w, http.StatusNotFound, "detail", "Not found.")
			return
		}
		_ = json.NewEncoder(w).Encode(f.Doc(mac))
	case http.MethodDelete:
		if !exists {
			f.jsonErr(w, http.StatusNotFound, "detail", "Not found.")
			return
		}
		reg.Delete(mac)
		f.mu.Lock()
		delete(f.docs, mac)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			f.jsonErr(w, http.StatusUnsupportedMediaType, "detail", "Unsupported media type")
			return
		}
		var in map[string]json.RawMessage
		if err := json.Unmarshal(body, &in); err != nil {
			f.jsonErr(w, http.StatusBadRequest, "detail", "JSON parse error")
			return
		}
		if f.cfg.ForbidNullWarranty {
			if v, ok := in["warranty_exp_warning_period"]; ok && string(v) == "null" {
				f.jsonErr(w, http.StatusBadRequest, "detail", "warranty_exp_warning_period reset by null")
				return
			}
		}
		var bodyMAC string
		_ = json.Unmarshal(in["mac"], &bodyMAC)
		if bodyMAC != mac {
			f.jsonErr(w, http.StatusBadRequest, "message", "mac: does not match the path")
			return
		}
		var sm map[string]struct {
			Value string            `json:"value"`
			Attrs map[string]string `json:"attrs"`
		}
		if err := json.Unmarshal(in["settings_manager"], &sm); err != nil {
			f.jsonErr(w, http.StatusBadRequest, "detail", "settings_manager: invalid")
			return
		}
		v, ok := sm[f.settingUUID]
		if !ok || !(strings.HasPrefix(v.Value, "http://") || strings.HasPrefix(v.Value, "https://")) {
			f.jsonErr(w, http.StatusBadRequest, "detail", "settings_manager: "+f.cfg.Setting+" missing or not a URL")
			return
		}
		for k := range in {
			if !endpointFields[k] {
				f.jsonErr(w, http.StatusBadRequest, "detail", k+": unknown field")
				return
			}
		}
		reg.Put(mac, fakeserver.Entry{Owner: fakeserver.Us, URL: v.Value})
		f.mu.Lock()
		f.docs[mac] = in // a full update: what was not sent is gone
		f.mu.Unlock()
		status := http.StatusOK
		if !exists {
			status = http.StatusCreated
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"mac": mac, "autoprovisioning_enabled": true})
	default:
		f.jsonErr(w, http.StatusMethodNotAllowed, "detail", "Method not allowed")
	}
}
