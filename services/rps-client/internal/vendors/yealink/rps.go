package yealink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
)

// DefaultRPSURL is the RPS JSON API's base.
const DefaultRPSURL = "https://api-dm.yealink.com:8443"

// RPS is a client of the RPS JSON API ("Yealink Json API for RPS
// Management Platform"). Devices are bound to one server object of the
// account (ServerName, created on first use, pointing at the edge's
// origin) and carry their own URL in uniqueServerUrl.
type RPS struct {
	base       string
	key        string
	secret     vendors.Secret
	serverName string
	tr         *vendors.Transport

	mu       sync.Mutex
	serverID json.RawMessage // echoed back as the API spelled it (number or string)
}

// NewRPS returns an RPS JSON client.
func NewRPS(acct vendors.Account, opts vendors.Options) (vendors.Client, error) {
	if acct.KeyID == "" || acct.KeySecret == "" {
		return nil, fmt.Errorf("yealink-rps: key_id and key_secret (AccessKey ID and Secret) are required")
	}
	base := acct.BaseURL
	if base == "" {
		base = DefaultRPSURL
	}
	name := acct.ServerName
	if name == "" {
		name = "dialtone"
	}
	if len(name) > 20 {
		return nil, fmt.Errorf("yealink-rps: server_name must be at most 20 characters")
	}
	return &RPS{base: strings.TrimRight(base, "/"), key: acct.KeyID, secret: acct.KeySecret, serverName: name,
		tr: &vendors.Transport{API: vendors.APIYealinkRPS, Options: opts.WithDefaults(), Secrets: []string{acct.KeySecret.Reveal()}}}, nil
}

// envelope is every answer's shape: ret >= 0 is success.
type envelope struct {
	Ret   int             `json:"ret"`
	Data  json.RawMessage `json:"data"`
	Error *struct {
		Msg       string `json:"msg"`
		ErrorCode int    `json:"errorCode"`
	} `json:"error"`
}

func nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b) // a UUID's 32 hex digits without dashes
}

// do sends a signed request and returns the envelope's data.
func (c *RPS) do(ctx context.Context, tr *vendors.Transport, op, method, path string, query url.Values, body any) (json.RawMessage, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, tr.Fail(op, vendors.ReasonRejected, "encoding request", err)
		}
	}
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		return nil, tr.Fail(op, vendors.ReasonRejected, "bad base URL", nil)
	}
	ts := strconv.FormatInt(tr.Options.Now().UnixMilli(), 10)
	n := nonce()
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(HeaderKey, c.key)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNonce, n)
	if len(raw) > 0 {
		req.Header.Set(HeaderMD5, ContentMD5(raw))
	}
	req.Header.Set(HeaderSignature, Signature(c.secret.Reveal(), StringToSign(method, path, query, raw, c.key, ts, n)))
	resp, err := tr.Do(ctx, op, req, raw)
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden {
		return nil, tr.Fail(op, vendors.ReasonBadCreds, fmt.Sprintf("HTTP %d", resp.Status), nil)
	}
	var env envelope
	if err := json.Unmarshal(resp.Body, &env); err != nil {
		if resp.Status != http.StatusOK {
			return nil, tr.Fail(op, vendors.ReasonRejected, fmt.Sprintf("HTTP %d", resp.Status), nil)
		}
		return nil, tr.Fail(op, vendors.ReasonTransient, "undecodable answer", nil)
	}
	if env.Ret < 0 || env.Error != nil && env.Error.Msg != "" {
		msg, code := "refused", 0
		if env.Error != nil {
			msg, code = env.Error.Msg, env.Error.ErrorCode
		}
		return nil, tr.Fail(op, rpsReason(msg, code), msg, nil)
	}
	if resp.Status != http.StatusOK {
		return nil, tr.Fail(op, vendors.ReasonRejected, fmt.Sprintf("HTTP %d", resp.Status), nil)
	}
	return env.Data, nil
}

// rpsReason maps the envelope's error: device.mac.added.by.other (§4.3 of
// Yealink's document) is another enterprise's MAC.
func rpsReason(msg string, code int) rpsv1.FailureReason {
	lm := strings.ToLower(msg)
	switch {
	case strings.Contains(lm, "added.by.other"):
		return vendors.ReasonOwned
	case code == 401 || code == 403 || strings.Contains(lm, "signature") || strings.Contains(lm, "accesskey") ||
		strings.Contains(lm, "access.key") || strings.Contains(lm, "unauthorized"):
		return vendors.ReasonBadCreds
	case strings.Contains(lm, "mac") && (strings.Contains(lm, "invalid") || strings.Contains(lm, "illegal") || strings.Contains(lm, "format")):
		return vendors.ReasonInvalidMAC
	case code == 429:
		return vendors.ReasonTransient
	}
	return vendors.ReasonRejected
}

type page[T any] struct {
	Total int `json:"total"`
	Data  []T `json:"data"`
}

type server struct {
	ID         json.RawMessage `json:"id"`
	ServerName string          `json:"serverName"`
	URL        string          `json:"url"`
}

type device struct {
	ID              json.RawMessage `json:"id"`
	MAC             string          `json:"mac"`
	ServerID        json.RawMessage `json:"serverId"`
	UniqueServerURL string          `json:"uniqueServerUrl"`
}

func decode(tr *vendors.Transport, op string, data json.RawMessage, v any) error {
	d := json.NewDecoder(strings.NewReader(string(data)))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return tr.Fail(op, vendors.ReasonTransient, "undecodable data", nil)
	}
	return nil
}

// origin is scheme://host[:port]/ of a URL: the server object's URL, which
// carries no token (each device's uniqueServerUrl overrides it).
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host + "/"
}

// server finds or creates the account's server object.
func (c *RPS) server(ctx context.Context, tr *vendors.Transport, op, target string) (json.RawMessage, error) {
	c.mu.Lock()
	id := c.serverID
	c.mu.Unlock()
	if id != nil {
		return id, nil
	}
	id, err := c.findServer(ctx, tr, op)
	if err != nil {
		return nil, err
	}
	if id == nil {
		data, err := c.do(ctx, tr, op, http.MethodPost, "/api/open/v1/server/add", nil,
			map[string]any{"serverName": c.serverName, "url": origin(target)})
		switch {
		case err != nil:
			// Added meanwhile by another replica (both found none, both
			// added, the vendor refused the second: names are unique, the
			// fake answers "server.name.existed"): use that one. Whatever
			// the vendor's words, an object found now is ours; refusing
			// the phone for good here left it unregistered (cmd/e2e/rps
			// TestEndToEnd).
			if found, lerr := c.findServer(ctx, tr, op); lerr == nil && found != nil {
				id = found
				break
			}
			return nil, err
		default:
			var s server
			if err := decode(tr, op, data, &s); err != nil {
				return nil, err
			}
			id = s.ID
		}
	}
	if len(id) == 0 || string(id) == "null" {
		return nil, tr.Fail(op, vendors.ReasonTransient, "server object has no id", nil)
	}
	c.mu.Lock()
	c.serverID = id
	c.mu.Unlock()
	return id, nil
}

// findServer returns the id of our server object (named serverName), nil if
// the account has none.
func (c *RPS) findServer(ctx context.Context, tr *vendors.Transport, op string) (json.RawMessage, error) {
	data, err := c.do(ctx, tr, op, http.MethodPost, "/api/open/v1/server/list", nil,
		map[string]any{"key": c.serverName, "skip": 0, "limit": 100, "autoCount": true})
	if err != nil {
		return nil, err
	}
	var p page[server]
	if err := decode(tr, op, data, &p); err != nil {
		return nil, err
	}
	var id json.RawMessage
	for _, s := range p.Data {
		if s.ServerName == c.serverName {
			id = s.ID
		}
	}
	return id, nil
}

// find returns our device record for mac, if the account holds it.
func (c *RPS) find(ctx context.Context, tr *vendors.Transport, op, mac string) (*device, error) {
	data, err := c.do(ctx, tr, op, http.MethodPost, "/api/open/v1/device/list", nil,
		map[string]any{"key": mac, "skip": 0, "limit": 100, "autoCount": true})
	if err != nil {
		return nil, err
	}
	var p page[device]
	if err := decode(tr, op, data, &p); err != nil {
		return nil, err
	}
	for _, d := range p.Data {
		if strings.EqualFold(d.MAC, mac) {
			return &d, nil
		}
	}
	return nil, nil
}

// Register adds the device (device/add) or re-points ours (device/edit).
func (c *RPS) Register(ctx context.Context, mac, target string) error {
	tr := c.tr.With(target)
	serverID, err := c.server(ctx, tr, "register", target)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 2; attempt++ {
		d, err := c.find(ctx, tr, "register", mac)
		if err != nil {
			return err
		}
		if d != nil {
			if d.UniqueServerURL == target && sameID(d.ServerID, serverID) {
				return nil
			}
			_, err = c.do(ctx, tr, "register", http.MethodPost, "/api/open/v1/device/edit", nil,
				map[string]any{"id": d.ID, "serverId": serverID, "uniqueServerUrl": target})
			return err
		}
		_, err = c.do(ctx, tr, "register", http.MethodPost, "/api/open/v1/device/add", nil,
			map[string]any{"macs": []string{mac}, "serverId": serverID, "uniqueServerUrl": target})
		var ve *vendors.Error
		if errors.As(err, &ve) && strings.Contains(ve.Msg, "device.mac.existed") {
			continue // added meanwhile by another replica: edit it
		}
		return err
	}
	return tr.Fail("register", vendors.ReasonTransient, "device appeared and vanished", nil)
}

// Deregister deletes our device record (device/delete {ids}); a MAC the
// account does not hold is left alone.
func (c *RPS) Deregister(ctx context.Context, mac string) error {
	d, err := c.find(ctx, c.tr, "deregister", mac)
	if err != nil || d == nil {
		return err
	}
	_, err = c.do(ctx, c.tr, "deregister", http.MethodPost, "/api/open/v1/device/delete", nil,
		map[string]any{"ids": []json.RawMessage{d.ID}})
	return err
}

// Check looks for our record, then asks device/checkMac whether the MAC
// exists in RPS at all (then it is another enterprise's).
func (c *RPS) Check(ctx context.Context, mac string) (vendors.CheckResult, error) {
	d, err := c.find(ctx, c.tr, "check", mac)
	if err != nil {
		return vendors.CheckResult{}, err
	}
	if d != nil {
		return vendors.CheckResult{Registered: true, OwnedByUs: true, URL: d.UniqueServerURL}, nil
	}
	data, err := c.do(ctx, c.tr, "check", http.MethodGet, "/api/open/v1/device/checkMac", url.Values{"mac": {mac}}, nil)
	if err != nil {
		return vendors.CheckResult{}, err
	}
	var r struct {
		Existed bool `json:"existed"`
	}
	if err := decode(c.tr, "check", data, &r); err != nil {
		return vendors.CheckResult{}, err
	}
	return vendors.CheckResult{Registered: r.Existed}, nil
}

// sameID compares two ids whatever their JSON spelling ("7" and 7).
func sameID(a, b json.RawMessage) bool {
	return strings.Trim(string(a), `"`) == strings.Trim(string(b), `"`)
}
