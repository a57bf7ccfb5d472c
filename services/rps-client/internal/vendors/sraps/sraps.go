// Package sraps implements the Hawk-authenticated REST redirect API shared
// by Snom SRAPS and Gigaset GRAPE (rps-apis.md §2.2, §3.2): navigate
// tokens/{id} → company → endpoints, find the provisioning setting's uuid in
// the paginated settings list, then PUT/GET/DELETE endpoints/{mac}.
package sraps

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/hawk"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
)

// Client is one SRAPS or GRAPE account.
type Client struct {
	base    string
	id      string
	key     vendors.Secret
	setting string // "setting_server" (SRAPS) or "ProvisioningServer" (GRAPE)
	profile string
	tr      *vendors.Transport

	mu          sync.Mutex
	endpoints   string // endpoints collection URL, with a trailing slash
	settingUUID string
	skew        int64 // server time minus our time, learnt from a stale-timestamp challenge
}

// New returns a client for api ("snom-sraps" or "gigaset-grape"); setting
// is the param_name of the provisioning-server setting.
func New(api, setting string, acct vendors.Account, opts vendors.Options) (*Client, error) {
	if acct.KeyID == "" || acct.KeySecret == "" {
		return nil, fmt.Errorf("%s: key_id and key_secret (Hawk id and key) are required", api)
	}
	if _, err := url.Parse(acct.BaseURL); err != nil || acct.BaseURL == "" {
		return nil, fmt.Errorf("%s: invalid base URL", api)
	}
	return &Client{
		base: acct.BaseURL, id: acct.KeyID, key: acct.KeySecret, setting: setting,
		profile: acct.ProvisioningProfile,
		tr:      &vendors.Transport{API: api, Options: opts.WithDefaults(), Secrets: []string{acct.KeySecret.Reveal()}},
	}, nil
}

// do sends a Hawk-signed request. A 401 carrying a verifiable
// stale-timestamp challenge adjusts the clock and is retried once.
func (c *Client) do(ctx context.Context, tr *vendors.Transport, op, method, target string, body any) (*vendors.Response, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, tr.Fail(op, vendors.ReasonRejected, "encoding request", err)
		}
	}
	for attempt := 0; ; attempt++ {
		u, err := url.Parse(target)
		if err != nil {
			return nil, tr.Fail(op, vendors.ReasonRejected, "bad URL from the API", nil)
		}
		req, err := http.NewRequest(method, u.String(), nil)
		if err != nil {
			return nil, tr.Fail(op, vendors.ReasonRejected, "bad URL from the API", nil)
		}
		req.Header.Set("Accept", "application/json")
		c.mu.Lock()
		skew := c.skew
		c.mu.Unlock()
		a := hawk.ArtifactsFor(method, u, tr.Options.Now().Unix()+skew, hawk.Nonce())
		// Always send a payload hash (as falconieri does); for a request
		// without a body it is the hash of an empty payload with no type.
		ct := ""
		if raw != nil {
			ct = "application/json"
			req.Header.Set("Content-Type", ct)
		}
		a.Hash = hawk.PayloadHash(ct, raw)
		req.Header.Set("Authorization", hawk.Header(c.id, []byte(c.key.Reveal()), a))
		resp, err := tr.Do(ctx, op, req, raw)
		if err != nil {
			return nil, err
		}
		if resp.Status == http.StatusUnauthorized && stale(resp) {
			// A Hawk server checks the request MAC before the timestamp, so
			// the credentials were good. Correct the clock only from a
			// server time signed with our key (tsm): an unsigned one may
			// be forged to make us replay-able later.
			ts, err := hawk.ServerTime(resp.Header.Get("WWW-Authenticate"), []byte(c.key.Reveal()))
			if err == nil && attempt == 0 {
				c.mu.Lock()
				c.skew = ts - tr.Options.Now().Unix()
				c.mu.Unlock()
				continue
			}
			why := "its server time (tsm) could not be verified, so the clock was not adjusted"
			if err == nil {
				why = "still stale after adjusting to its verified server time"
			}
			e := tr.Fail(op, vendors.ReasonTransient,
				"clock skew: the vendor refused our request time (Hawk stale timestamp); "+why+"; check this host's clock (NTP)", nil)
			e.Cause = vendors.CauseClockSkew
			return nil, e
		}
		return resp, nil
	}
}

// stale reports whether a 401 is Hawk's stale-timestamp answer: the
// challenge's error attribute (mozilla/hawk lib/server.js) or, from servers
// that only put it in the body, the body's text.
func stale(resp *vendors.Response) bool {
	if attrs, ok := hawk.ParseHeader(resp.Header.Get("WWW-Authenticate")); ok &&
		strings.Contains(strings.ToLower(attrs["error"]), "stale timestamp") {
		return true
	}
	return strings.Contains(strings.ToLower(apiError(resp.Body)), "stale timestamp")
}

// apiError extracts the text of a JSON error body ({message|error|detail}).
func apiError(body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		for _, k := range []string{"message", "error", "detail"} {
			if s, ok := m[k].(string); ok && s != "" {
				return s
			}
		}
		if b, err := json.Marshal(m); err == nil {
			return string(b)
		}
	}
	var s string
	if json.Unmarshal(body, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(body))
}

func ownership(text string) bool {
	lt := strings.ToLower(text)
	return strings.Contains(lt, "taken_mac_or_forbidden") || strings.Contains(lt, "lacks permission")
}

// refusal maps a non-success status to a typed error.
func refusal(tr *vendors.Transport, op string, resp *vendors.Response) error {
	text := apiError(resp.Body)
	switch {
	case resp.Status == http.StatusForbidden && ownership(text):
		return tr.Fail(op, vendors.ReasonOwned, text, nil)
	case resp.Status == http.StatusUnauthorized, resp.Status == http.StatusForbidden:
		// 403 without an ownership text: an API key whose role may not
		// register devices (role "None") — a credentials problem.
		return tr.Fail(op, vendors.ReasonBadCreds, fmt.Sprintf("HTTP %d: %s", resp.Status, text), nil)
	case resp.Status == http.StatusBadRequest && strings.Contains(strings.ToLower(text), "mac"):
		return tr.Fail(op, vendors.ReasonInvalidMAC, text, nil)
	}
	return tr.Fail(op, vendors.ReasonRejected, fmt.Sprintf("HTTP %d: %s", resp.Status, text), nil)
}

type links struct {
	Links map[string]string `json:"links"`
}

// discover finds (once) the endpoints collection and the setting's uuid.
func (c *Client) discover(ctx context.Context, op string) (endpoints, setting string, err error) {
	c.mu.Lock()
	endpoints, setting = c.endpoints, c.settingUUID
	c.mu.Unlock()
	if endpoints != "" && setting != "" {
		return endpoints, setting, nil
	}
	tokURL, err := vendors.JoinURL(c.base, "tokens/"+url.PathEscape(c.id))
	if err != nil {
		return "", "", c.tr.Fail(op, vendors.ReasonRejected, "bad base URL", nil)
	}
	company, err := c.link(ctx, op, tokURL, "company")
	if err != nil {
		return "", "", err
	}
	endpoints, err = c.link(ctx, op, company, "endpoints")
	if err != nil {
		return "", "", err
	}
	if !strings.HasSuffix(endpoints, "/") {
		endpoints += "/"
	}
	setting, err = c.findSetting(ctx, op)
	if err != nil {
		return "", "", err
	}
	c.mu.Lock()
	c.endpoints, c.settingUUID = endpoints, setting
	c.mu.Unlock()
	return endpoints, setting, nil
}

func (c *Client) forget() {
	c.mu.Lock()
	c.endpoints, c.settingUUID = "", ""
	c.mu.Unlock()
}

func (c *Client) link(ctx context.Context, op, from, rel string) (string, error) {
	resp, err := c.do(ctx, c.tr, op, http.MethodGet, from, nil)
	if err != nil {
		return "", err
	}
	if resp.Status != http.StatusOK {
		return "", refusal(c.tr, op, resp)
	}
	var l links
	if err := json.Unmarshal(resp.Body, &l); err != nil || l.Links[rel] == "" {
		return "", c.tr.Fail(op, vendors.ReasonTransient, "no "+rel+" link in the API answer", nil)
	}
	return resolve(from, l.Links[rel])
}

func resolve(from, ref string) (string, error) {
	b, err := url.Parse(from)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(r).String(), nil
}

type setting struct {
	UUID      string `json:"uuid"`
	ParamName string `json:"param_name"`
}

// findSetting pages through settings/ (RFC 5988 Link rel="next").
func (c *Client) findSetting(ctx context.Context, op string) (string, error) {
	next, err := vendors.JoinURL(c.base, "settings/?page_size=1000")
	if err != nil {
		return "", c.tr.Fail(op, vendors.ReasonRejected, "bad base URL", nil)
	}
	for page := 0; next != "" && page < 100; page++ {
		resp, err := c.do(ctx, c.tr, op, http.MethodGet, next, nil)
		if err != nil {
			return "", err
		}
		if resp.Status != http.StatusOK {
			return "", refusal(c.tr, op, resp)
		}
		var list []setting
		if err := json.Unmarshal(resp.Body, &list); err != nil {
			// Some deployments wrap lists as {results, next}.
			var wrapped struct {
				Results []setting `json:"results"`
				Next    string    `json:"next"`
			}
			if err := json.Unmarshal(resp.Body, &wrapped); err != nil {
				return "", c.tr.Fail(op, vendors.ReasonTransient, "undecodable settings list", nil)
			}
			list = wrapped.Results
			if wrapped.Next != "" {
				resp.Header.Set("Link", "<"+wrapped.Next+`>; rel="next"`)
			}
		}
		for _, s := range list {
			if s.ParamName == c.setting && s.UUID != "" {
				return s.UUID, nil
			}
		}
		nextRef := nextLink(resp.Header.Values("Link"))
		if nextRef == "" {
			break
		}
		if next, err = resolve(next, nextRef); err != nil {
			break
		}
	}
	return "", c.tr.Fail(op, vendors.ReasonRejected, "setting "+c.setting+" not found in the settings list", nil)
}

// nextLink returns the rel="next" target of RFC 5988 Link headers.
func nextLink(values []string) string {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			segs := strings.Split(part, ";")
			target := strings.TrimSpace(segs[0])
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range segs[1:] {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && strings.Trim(val, `"`) == "next" {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

type settingValue struct {
	Value string            `json:"value"`
	Attrs map[string]string `json:"attrs,omitempty"`
}

type endpoint struct {
	SettingsManager map[string]settingValue `json:"settings_manager"`
}

// Register PUTs endpoints/{mac} with the provisioning setting. The PUT is a
// full update that resets every field it omits, so an existing endpoint is
// read first and written back with only the fields we own changed
// (autoprovisioning_enabled, our setting in settings_manager, and the
// provisioning profile when the account names one): a description, another
// setting or a profile set in the vendor's portal survives. Null fields are
// left out (GRAPE resets warranty_exp_warning_period when sent null). An
// edit made in the portal between our GET and PUT can still be lost.
func (c *Client) Register(ctx context.Context, mac, target string) error {
	tr := c.tr.With(target)
	endpoints, uuid, err := c.discover(ctx, "register")
	if err != nil {
		return err
	}
	doc := map[string]json.RawMessage{}
	resp, err := c.do(ctx, tr, "register", http.MethodGet, endpoints+mac, nil)
	if err != nil {
		return err
	}
	switch {
	case resp.Status == http.StatusOK:
		if err := json.Unmarshal(resp.Body, &doc); err != nil || doc == nil {
			return tr.Fail("register", vendors.ReasonTransient, "undecodable endpoint", nil)
		}
	case resp.Status == http.StatusNotFound:
	default:
		return refusal(tr, "register", resp)
	}
	for k, v := range doc {
		if readOnly[k] || string(v) == "null" {
			delete(doc, k)
		}
	}
	settings := map[string]json.RawMessage{}
	if raw, ok := doc["settings_manager"]; ok {
		if err := json.Unmarshal(raw, &settings); err != nil || settings == nil {
			settings = map[string]json.RawMessage{}
		}
	}
	set := func(m map[string]json.RawMessage, k string, v any) {
		m[k], _ = json.Marshal(v) // plain values: cannot fail
	}
	set(settings, uuid, settingValue{Value: target, Attrs: map[string]string{"perm": "RW"}})
	set(doc, "settings_manager", settings)
	set(doc, "mac", mac)
	set(doc, "autoprovisioning_enabled", true)
	if c.profile != "" {
		set(doc, "provisioning_profile", c.profile)
	}
	resp, err = c.do(ctx, tr, "register", http.MethodPut, endpoints+mac, doc)
	if err != nil {
		return err
	}
	switch resp.Status {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent:
		return nil
	case http.StatusNotFound:
		c.forget() // the company or collection moved; rediscover next time
	}
	return refusal(tr, "register", resp)
}

// readOnly are fields of a read endpoint that are not written back.
var readOnly = map[string]bool{"links": true, "uuid": true, "url": true, "created": true, "modified": true}

// Deregister DELETEs endpoints/{mac}; absent or foreign is success.
func (c *Client) Deregister(ctx context.Context, mac string) error {
	endpoints, _, err := c.discover(ctx, "deregister")
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, c.tr, "deregister", http.MethodDelete, endpoints+mac, nil)
	if err != nil {
		return err
	}
	switch {
	case resp.Status == http.StatusOK, resp.Status == http.StatusAccepted, resp.Status == http.StatusNoContent,
		resp.Status == http.StatusNotFound:
		return nil
	case resp.Status == http.StatusForbidden && ownership(apiError(resp.Body)):
		return nil
	}
	return refusal(c.tr, "deregister", resp)
}

// Check GETs endpoints/{mac}.
func (c *Client) Check(ctx context.Context, mac string) (vendors.CheckResult, error) {
	endpoints, uuid, err := c.discover(ctx, "check")
	if err != nil {
		return vendors.CheckResult{}, err
	}
	resp, err := c.do(ctx, c.tr, "check", http.MethodGet, endpoints+mac, nil)
	if err != nil {
		return vendors.CheckResult{}, err
	}
	switch {
	case resp.Status == http.StatusNotFound:
		return vendors.CheckResult{}, nil
	case resp.Status == http.StatusForbidden && ownership(apiError(resp.Body)):
		return vendors.CheckResult{Registered: true}, nil
	case resp.Status != http.StatusOK:
		return vendors.CheckResult{}, refusal(c.tr, "check", resp)
	}
	var e endpoint
	if err := json.Unmarshal(resp.Body, &e); err != nil {
		return vendors.CheckResult{}, c.tr.Fail("check", vendors.ReasonTransient, "undecodable endpoint", nil)
	}
	return vendors.CheckResult{Registered: true, OwnedByUs: true, URL: e.SettingsManager[uuid].Value}, nil
}
