package yealink

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
)

// DefaultYMCSURL is the US region; the account's "Domain" picks eu-/au-.
const DefaultYMCSURL = "https://us-api.ymcs.yealink.com"

// YMCS is a client of the YMCS Open API v2 RPS endpoints (rps-apis.md
// §1.3): OAuth2 client credentials (POST /v2/token with Basic
// clientId:clientSecret) for a bearer token, "timestamp" (ms) and "nonce"
// headers on every call, devices added by MAC with their own
// uniqueServerUrl (POST /v2/rps/addDevicesByMac — Yealink must enable it for
// the account; the other add calls need the serial number, which inventory
// does not know), removed with POST /v2/rps/delDevices by MAC.
type YMCS struct {
	base, id string
	secret   vendors.Secret
	tr       *vendors.Transport

	mu      sync.Mutex
	token   string
	expires time.Time
}

// NewYMCS returns a YMCS client.
func NewYMCS(acct vendors.Account, opts vendors.Options) (vendors.Client, error) {
	if acct.KeyID == "" || acct.KeySecret == "" {
		return nil, fmt.Errorf("yealink-ymcs: key_id and key_secret (client id and secret) are required")
	}
	base := acct.BaseURL
	if base == "" {
		base = DefaultYMCSURL
	}
	if opts.HTTPClient == nil {
		// "The Yealink API servers require TLS renegotiation" (n8n node).
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{Renegotiation: tls.RenegotiateOnceAsClient, MinVersion: tls.VersionTLS12}
		timeout := opts.Timeout
		if timeout <= 0 {
			timeout = 15 * time.Second
		}
		opts.HTTPClient = &http.Client{Transport: tr, Timeout: timeout}
	}
	return &YMCS{base: strings.TrimRight(base, "/"), id: acct.KeyID, secret: acct.KeySecret,
		tr: &vendors.Transport{API: vendors.APIYealinkYMCS, Options: opts.WithDefaults(), Secrets: []string{acct.KeySecret.Reveal()}}}, nil
}

// ymcsError is the error body: {"code": "800004", "message": …}; OAuth
// errors use {"error": …}.
type ymcsError struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Error   string          `json:"error"`
}

func (e ymcsError) code() string { return strings.Trim(string(e.Code), `"`) }

// ymcsReason maps YMCS codes (falconieri's knownErrorCodes).
func ymcsReason(code, text string) (reason vendors.Reason, ok bool) {
	switch code {
	case "800004":
		return vendors.ReasonOwned, true
	case "800001":
		return vendors.ReasonInvalidMAC, true
	case "900401", "70011":
		return vendors.ReasonBadCreds, true
	case "900429", "900500", "900503":
		return vendors.ReasonTransient, true
	case "":
	default:
		return vendors.ReasonRejected, true
	}
	lt := strings.ToLower(text)
	switch {
	case strings.Contains(lt, "another organization"):
		return vendors.ReasonOwned, true
	case strings.Contains(lt, "mac.invalid"), strings.Contains(lt, "invalid mac"):
		return vendors.ReasonInvalidMAC, true
	}
	return 0, false
}

func headers(req *http.Request, now time.Time) {
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("timestamp", strconv.FormatInt(now.UnixMilli(), 10))
	req.Header.Set("nonce", nonce())
}

// bearer returns a valid access token, fetching one when needed.
func (c *YMCS) bearer(ctx context.Context, tr *vendors.Transport, op string) (string, error) {
	c.mu.Lock()
	tok, exp := c.token, c.expires
	c.mu.Unlock()
	now := tr.Options.Now()
	if tok != "" && now.Before(exp) {
		return tok, nil
	}
	req, err := http.NewRequest(http.MethodPost, c.base+"/v2/token", nil)
	if err != nil {
		return "", tr.Fail(op, vendors.ReasonRejected, "bad base URL", nil)
	}
	headers(req, now)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.id+":"+c.secret.Reveal())))
	resp, err := tr.Do(ctx, op, req, []byte(`{"grant_type":"client_credentials"}`))
	if err != nil {
		return "", err
	}
	if resp.Status != http.StatusOK {
		var e ymcsError
		_ = json.Unmarshal(resp.Body, &e)
		if resp.Status == http.StatusUnauthorized || resp.Status == http.StatusBadRequest || resp.Status == http.StatusForbidden {
			return "", tr.Fail(op, vendors.ReasonBadCreds, fmt.Sprintf("token: HTTP %d %s%s", resp.Status, e.Error, e.Message), nil)
		}
		return "", tr.Fail(op, vendors.ReasonRejected, fmt.Sprintf("token: HTTP %d", resp.Status), nil)
	}
	var t struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(resp.Body, &t); err != nil || t.AccessToken == "" {
		return "", tr.Fail(op, vendors.ReasonTransient, "token: undecodable answer", nil)
	}
	if t.ExpiresIn <= 0 {
		t.ExpiresIn = 86400
	}
	c.mu.Lock()
	// Renew a minute early so a token never expires in flight.
	c.token, c.expires = t.AccessToken, now.Add(time.Duration(t.ExpiresIn)*time.Second-time.Minute)
	c.mu.Unlock()
	return t.AccessToken, nil
}

func (c *YMCS) dropToken() {
	c.mu.Lock()
	c.token = ""
	c.mu.Unlock()
}

// call sends an authorised request; on 401 it drops the token and retries
// once (as fspbx, n8n and the wazo plugin do).
func (c *YMCS) call(ctx context.Context, tr *vendors.Transport, op, method, path string, body any) ([]byte, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, tr.Fail(op, vendors.ReasonRejected, "encoding request", err)
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.bearer(ctx, tr, op)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequest(method, c.base+path, nil)
		if err != nil {
			return nil, tr.Fail(op, vendors.ReasonRejected, "bad base URL", nil)
		}
		headers(req, tr.Options.Now())
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := tr.Do(ctx, op, req, raw)
		if err != nil {
			var e ymcsError
			if resp != nil && json.Unmarshal(resp.Body, &e) == nil && e.code() != "" {
				if ve, ok := err.(*vendors.Error); ok {
					ve.Msg = vendors.Scrub(ve.Msg+": "+e.code()+" "+e.Message, tr.Secrets...)
				}
			}
			return nil, err
		}
		if resp.Status == http.StatusUnauthorized && attempt == 0 {
			c.dropToken()
			continue
		}
		if resp.Status == http.StatusOK || resp.Status == http.StatusCreated {
			return resp.Body, nil
		}
		var e ymcsError
		_ = json.Unmarshal(resp.Body, &e)
		text := strings.TrimSpace(e.code() + " " + e.Message)
		if resp.Status == http.StatusForbidden && strings.HasSuffix(path, "/addDevicesByMac") {
			return nil, tr.Fail(op, vendors.ReasonRejected,
				"addDevicesByMac is not enabled for this account (Yealink must enable it; the other add calls need the serial number): "+text, nil)
		}
		if reason, ok := ymcsReason(e.code(), e.Message); ok {
			return nil, tr.Fail(op, reason, text, nil)
		}
		switch resp.Status {
		case http.StatusUnauthorized:
			return nil, tr.Fail(op, vendors.ReasonBadCreds, text, nil)
		case http.StatusForbidden:
			return nil, tr.Fail(op, vendors.ReasonBadCreds, text, nil)
		}
		return nil, tr.Fail(op, vendors.ReasonRejected, fmt.Sprintf("HTTP %d %s", resp.Status, text), nil)
	}
}

type ymcsDevice struct {
	ID              string `json:"id"`
	MAC             string `json:"mac"`
	UniqueServerURL string `json:"uniqueServerUrl"`
}

// batch is the answer of the batch endpoints: HTTP 200 even when items fail.
type batch struct {
	Total        int `json:"total"`
	SuccessCount int `json:"successCount"`
	FailureCount int `json:"failureCount"`
	Errors       []struct {
		MAC       string `json:"mac"`
		ErrorInfo string `json:"errorInfo"`
		Field     string `json:"field"`
		Msg       string `json:"msg"`
	} `json:"errors"`
}

func (b batch) text() string {
	var parts []string
	for _, e := range b.Errors {
		parts = append(parts, strings.TrimSpace(e.ErrorInfo+" "+e.Msg))
	}
	return strings.Join(parts, "; ")
}

func (c *YMCS) find(ctx context.Context, tr *vendors.Transport, op, mac string) (*ymcsDevice, error) {
	raw, err := c.call(ctx, tr, op, http.MethodPost, "/v2/rps/listDevices",
		map[string]any{"skip": 0, "limit": 100, "autoCount": true, "filter": map[string]string{"mac": mac}})
	if err != nil {
		return nil, err
	}
	var p struct {
		Data []ymcsDevice `json:"data"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, tr.Fail(op, vendors.ReasonTransient, "undecodable device list", nil)
	}
	for _, d := range p.Data {
		if strings.EqualFold(d.MAC, mac) {
			return &d, nil
		}
	}
	return nil, nil
}

func (c *YMCS) delete(ctx context.Context, tr *vendors.Transport, op, mac string) error {
	raw, err := c.call(ctx, tr, op, http.MethodPost, "/v2/rps/delDevices",
		map[string]any{"deviceIdType": "mac", "deviceIds": []string{mac}})
	if err != nil {
		return err
	}
	var b batch
	if err := json.Unmarshal(raw, &b); err != nil {
		return tr.Fail(op, vendors.ReasonTransient, "undecodable answer", nil)
	}
	if b.FailureCount > 0 {
		return tr.Fail(op, vendors.ReasonRejected, b.text(), nil)
	}
	return nil
}

// Register adds the device by MAC with its URL; a device of ours with
// another URL is deleted and added again (falconieri's delete-then-add:
// the only update call, PATCH /v2/rps/devices/{id}, rests on one source).
func (c *YMCS) Register(ctx context.Context, mac, target string) error {
	tr := c.tr.With(target)
	d, err := c.find(ctx, tr, "register", mac)
	if err != nil {
		return err
	}
	if d != nil {
		if d.UniqueServerURL == target {
			return nil
		}
		if err := c.delete(ctx, tr, "register", mac); err != nil {
			return err
		}
	}
	raw, err := c.call(ctx, tr, "register", http.MethodPost, "/v2/rps/addDevicesByMac",
		[]map[string]string{{"mac": mac, "uniqueServerUrl": target}})
	if err != nil {
		return err
	}
	var b batch
	if err := json.Unmarshal(raw, &b); err != nil {
		return tr.Fail("register", vendors.ReasonTransient, "undecodable answer", nil)
	}
	if b.FailureCount == 0 && b.SuccessCount > 0 {
		return nil
	}
	text := b.text()
	for _, e := range b.Errors {
		// errorInfo is a code ("800004") or a text ("device.mac.invalid").
		info := strings.TrimSpace(e.ErrorInfo)
		code := ""
		if _, err := strconv.Atoi(info); err == nil {
			code = info
		}
		if reason, ok := ymcsReason(code, info+" "+e.Msg); ok {
			return tr.Fail("register", reason, text, nil)
		}
	}
	return tr.Fail("register", vendors.ReasonRejected, text, nil)
}

// Deregister deletes our device; a MAC the organization does not hold is
// left alone.
func (c *YMCS) Deregister(ctx context.Context, mac string) error {
	d, err := c.find(ctx, c.tr, "deregister", mac)
	if err != nil || d == nil {
		return err
	}
	return c.delete(ctx, c.tr, "deregister", mac)
}

// Check lists our devices filtered by MAC. YMCS does not say whether
// another organization holds a MAC it does not show us.
func (c *YMCS) Check(ctx context.Context, mac string) (vendors.CheckResult, error) {
	d, err := c.find(ctx, c.tr, "check", mac)
	if err != nil || d == nil {
		return vendors.CheckResult{}, err
	}
	return vendors.CheckResult{Registered: true, OwnedByUs: true, URL: d.UniqueServerURL}, nil
}
