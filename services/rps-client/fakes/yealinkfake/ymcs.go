package yealinkfake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
)

// YMCSConfig configures the YMCS fake.
type YMCSConfig struct {
	ClientID, ClientSecret string
	// AllowAddByMac: Yealink enabled /v2/rps/addDevicesByMac for the
	// account; otherwise it answers 403 "This request is forbidden".
	AllowAddByMac bool
	// TokenTTL is the access tokens' lifetime (default 86400 s).
	TokenTTL time.Duration
}

// YMCS is a running fake of the YMCS v2 RPS API (rps-apis.md §1.3): the
// client-credentials token endpoint (Basic clientId:clientSecret, JSON
// grant, timestamp/nonce headers), bearer tokens that expire, timestamp
// (13 digits) and nonce (32 hex) required on every call, batch answers
// with HTTP 200 on partial failure, 800004 for another organization's MAC,
// 900401 for a missing or expired token, 403 on addDevicesByMac unless
// enabled.
type YMCS struct {
	*fakeserver.Server
	cfg YMCSConfig

	mu      sync.Mutex
	tokens  map[string]time.Time
	issued  int
	nextID  int
	devices map[string]string // our mac → id
}

var nonceRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// StartYMCS runs the fake.
func StartYMCS(t testing.TB, cfg YMCSConfig) *YMCS {
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = 24 * time.Hour
	}
	f := &YMCS{cfg: cfg, tokens: map[string]time.Time{}, devices: map[string]string{}}
	f.Server = fakeserver.Start(t, http.HandlerFunc(f.serve))
	return f
}

// ExpireTokens invalidates every issued token.
func (f *YMCS) ExpireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]time.Time{}
}

// TokensIssued counts token grants.
func (f *YMCS) TokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issued
}

func ymcsErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "requestId": "req-1", "details": []any{}})
}

func (f *YMCS) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		ymcsErr(w, http.StatusMethodNotAllowed, "900400", "method not allowed")
		return
	}
	ts := r.Header.Get("timestamp")
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) != 13 || time.Since(time.UnixMilli(ms)).Abs() > 15*time.Minute || !nonceRe.MatchString(r.Header.Get("nonce")) {
		ymcsErr(w, http.StatusBadRequest, "900400", "timestamp and nonce headers are required")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		ymcsErr(w, http.StatusBadRequest, "900400", "Content-Type must be application/json")
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if r.URL.Path == "/v2/token" {
		f.token(w, r, body)
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	exp, known := f.tokens[tok]
	f.mu.Unlock()
	if !ok || !known || time.Now().After(exp) {
		ymcsErr(w, http.StatusUnauthorized, "900401", "not logged in or session expired")
		return
	}
	f.api(w, r.URL.Path, body)
}

func (f *YMCS) token(w http.ResponseWriter, r *http.Request, body []byte) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.Header.Get("Authorization"), "Basic "))
	if err != nil || string(raw) != f.cfg.ClientID+":"+f.cfg.ClientSecret {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
		return
	}
	var g struct {
		GrantType string `json:"grant_type"`
	}
	if json.Unmarshal(body, &g) != nil || g.GrantType != "client_credentials" {
		ymcsErr(w, http.StatusBadRequest, "70011", "invalid grant_type")
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	f.mu.Lock()
	f.tokens[tok] = time.Now().Add(f.cfg.TokenTTL)
	f.issued++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": int(f.cfg.TokenTTL.Seconds())})
}

func (f *YMCS) api(w http.ResponseWriter, path string, body []byte) {
	reg := f.Registry
	w.Header().Set("Content-Type", "application/json")
	f.mu.Lock()
	defer f.mu.Unlock()
	type itemErr struct {
		MAC       string `json:"mac,omitempty"`
		ErrorInfo string `json:"errorInfo,omitempty"`
		Field     string `json:"field,omitempty"`
		Msg       string `json:"msg,omitempty"`
	}
	answer := func(total int, errs []itemErr) {
		if errs == nil {
			errs = []itemErr{}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"total": total, "successCount": total - len(errs),
			"failureCount": len(errs), "errors": errs})
	}
	switch path {
	case "/v2/rps/listDevices":
		var q struct {
			Filter struct {
				MAC string `json:"mac"`
			} `json:"filter"`
		}
		_ = json.Unmarshal(body, &q)
		var out []any
		for mac, id := range f.devices {
			if q.Filter.MAC != "" && !strings.Contains(mac, q.Filter.MAC) {
				continue
			}
			e, _ := reg.Get(mac)
			out = append(out, map[string]any{"id": id, "mac": mac, "sn": "", "uniqueServerUrl": e.URL,
				"dateRegistered": time.Now().UnixMilli()})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"skip": 0, "limit": 100, "total": len(out), "data": out})
	case "/v2/rps/addDevicesByMac":
		if !f.cfg.AllowAddByMac {
			ymcsErr(w, http.StatusForbidden, "900403", "This request is forbidden")
			return
		}
		var items []struct {
			MAC             string `json:"mac"`
			UniqueServerURL string `json:"uniqueServerUrl"`
			SN              string `json:"sn"`
			AuthName        string `json:"authName"`
			Password        string `json:"password"`
		}
		if err := json.Unmarshal(body, &items); err != nil {
			ymcsErr(w, http.StatusBadRequest, "800007", "Invalid parameters: want a JSON array")
			return
		}
		if len(items) > 100 {
			ymcsErr(w, http.StatusBadRequest, "800006", "Batch size exceeds limit")
			return
		}
		var errs []itemErr
		for _, it := range items {
			mac := it.MAC
			_, exists := reg.Get(mac)
			switch {
			case !lowerHexMAC(mac) || reg.Invalid(mac):
				errs = append(errs, itemErr{MAC: mac, ErrorInfo: "device.mac.invalid"})
			case it.AuthName != "" || it.Password != "":
				errs = append(errs, itemErr{MAC: mac, ErrorInfo: "800007"}) // we never send credentials
			case exists && f.devices[mac] == "":
				errs = append(errs, itemErr{MAC: mac, ErrorInfo: "800004"})
			case exists:
				errs = append(errs, itemErr{MAC: mac, ErrorInfo: "800003"})
			case !(strings.HasPrefix(it.UniqueServerURL, "http://") || strings.HasPrefix(it.UniqueServerURL, "https://")):
				errs = append(errs, itemErr{MAC: mac, ErrorInfo: "800007"})
			default:
				f.nextID++
				f.devices[mac] = "dev-" + strconv.Itoa(f.nextID)
				reg.Put(mac, fakeserver.Entry{Owner: fakeserver.Us, URL: it.UniqueServerURL, Ref: f.devices[mac]})
			}
		}
		answer(len(items), errs)
	case "/v2/rps/delDevices":
		var q struct {
			DeviceIDType string   `json:"deviceIdType"`
			DeviceIDs    []string `json:"deviceIds"`
		}
		if json.Unmarshal(body, &q) != nil || q.DeviceIDType != "mac" {
			ymcsErr(w, http.StatusBadRequest, "800007", "Invalid parameters")
			return
		}
		var errs []itemErr
		for _, mac := range q.DeviceIDs {
			if f.devices[mac] == "" {
				errs = append(errs, itemErr{Field: "deviceIds", Msg: "device not found"})
				continue
			}
			delete(f.devices, mac)
			reg.Delete(mac)
		}
		answer(len(q.DeviceIDs), errs)
	default:
		ymcsErr(w, http.StatusNotFound, "900404", "not found")
	}
}
