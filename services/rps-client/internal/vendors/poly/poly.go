// Package poly implements Poly's ZTP REST API (rps-apis.md §6.1): API-KEY
// header, devices bound to a profile whose template holds the provisioning
// server address. Each phone gets its own profile, "dialtone-{mac}", so it
// can have its own URL; nothing but that address is put in the profile.
package poly

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
)

// DefaultURL is the ZTP API base.
const DefaultURL = "https://api.ztp.poly.com/v1"

// ProfilePrefix names the profiles this client owns.
const ProfilePrefix = "dialtone-"

// Client is a ZTP account.
type Client struct {
	base string
	key  vendors.Secret
	tr   *vendors.Transport
}

// New returns a ZTP client.
func New(acct vendors.Account, opts vendors.Options) (vendors.Client, error) {
	if acct.APIKey == "" {
		return nil, fmt.Errorf("poly-ztp: api_key is required")
	}
	base := acct.BaseURL
	if base == "" {
		base = DefaultURL
	}
	return &Client{base: strings.TrimRight(base, "/"), key: acct.APIKey, tr: &vendors.Transport{
		API: vendors.APIPolyZTP, Options: opts.WithDefaults(), Secrets: []string{acct.APIKey.Reveal()},
	}}, nil
}

func (c *Client) do(ctx context.Context, tr *vendors.Transport, op, method, path string, body any) (*vendors.Response, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, tr.Fail(op, vendors.ReasonRejected, "encoding request", err)
		}
	}
	req, err := http.NewRequest(method, c.base+path, nil)
	if err != nil {
		return nil, tr.Fail(op, vendors.ReasonRejected, "bad base URL", nil)
	}
	req.Header.Set("API-KEY", c.key.Reveal())
	req.Header.Set("Accept", "application/json")
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := tr.Do(ctx, op, req, raw)
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden {
		return nil, tr.Fail(op, vendors.ReasonBadCreds, fmt.Sprintf("HTTP %d: %s", resp.Status, message(resp.Body)), nil)
	}
	return resp, nil
}

func message(body []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		return m.Message
	}
	return strings.TrimSpace(string(body))
}

func ok(status int) bool { return status >= 200 && status < 300 }

type device struct {
	ID        string `json:"id"`
	Profile   string `json:"profile"`
	ProfileID string `json:"profileid"`
}

func (d device) profile() string {
	if d.ProfileID != "" {
		return d.ProfileID
	}
	return d.Profile
}

type profile struct {
	ID       string   `json:"id,omitempty"`
	Name     string   `json:"name"`
	Enabled  bool     `json:"enabled"`
	Template template `json:"template"`
}

type template struct {
	Provisioning struct {
		Server struct {
			Address string `json:"address"`
		} `json:"server"`
	} `json:"provisioning"`
}

func newProfile(mac, target string) profile {
	p := profile{Name: ProfilePrefix + mac, Enabled: true}
	p.Template.Provisioning.Server.Address = target
	return p
}

// getDevice returns our device record, or nil when the account has none.
func (c *Client) getDevice(ctx context.Context, tr *vendors.Transport, op, mac string) (*device, error) {
	resp, err := c.do(ctx, tr, op, http.MethodGet, "/devices/"+url.PathEscape(mac), nil)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.Status == http.StatusNotFound:
		return nil, nil
	case resp.Status == http.StatusBadRequest:
		return nil, tr.Fail(op, vendors.ReasonInvalidMAC, message(resp.Body), nil)
	case !ok(resp.Status):
		return nil, tr.Fail(op, vendors.ReasonRejected, fmt.Sprintf("HTTP %d: %s", resp.Status, message(resp.Body)), nil)
	}
	var d device
	if err := json.Unmarshal(resp.Body, &d); err != nil {
		return nil, tr.Fail(op, vendors.ReasonTransient, "undecodable device", nil)
	}
	return &d, nil
}

func (c *Client) getProfile(ctx context.Context, tr *vendors.Transport, op, id string) (*profile, error) {
	resp, err := c.do(ctx, tr, op, http.MethodGet, "/profiles/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusNotFound {
		return nil, nil
	}
	if !ok(resp.Status) {
		return nil, tr.Fail(op, vendors.ReasonRejected, fmt.Sprintf("HTTP %d: %s", resp.Status, message(resp.Body)), nil)
	}
	var p profile
	if err := json.Unmarshal(resp.Body, &p); err != nil {
		return nil, tr.Fail(op, vendors.ReasonTransient, "undecodable profile", nil)
	}
	return &p, nil
}

// Register points our device's own profile at url, or creates the profile
// and the device. A 409 on POST /devices is another account's MAC.
func (c *Client) Register(ctx context.Context, mac, target string) error {
	tr := c.tr.With(target)
	d, err := c.getDevice(ctx, tr, "register", mac)
	if err != nil {
		return err
	}
	if d != nil {
		if pid := d.profile(); pid != "" {
			p, err := c.getProfile(ctx, tr, "register", pid)
			if err != nil {
				return err
			}
			if p != nil && p.Name == ProfilePrefix+mac {
				if p.Template.Provisioning.Server.Address == target {
					return nil
				}
				resp, err := c.do(ctx, tr, "register", http.MethodPut, "/profiles/"+url.PathEscape(pid), newProfile(mac, target))
				if err != nil {
					return err
				}
				if !ok(resp.Status) {
					return tr.Fail("register", vendors.ReasonRejected, fmt.Sprintf("HTTP %d: %s", resp.Status, message(resp.Body)), nil)
				}
				return nil
			}
		}
		// Ours, but on a profile we did not make: move it to its own.
		resp, err := c.do(ctx, tr, "register", http.MethodDelete, "/devices/"+url.PathEscape(mac), nil)
		if err != nil {
			return err
		}
		if !ok(resp.Status) && resp.Status != http.StatusNotFound {
			return tr.Fail("register", vendors.ReasonRejected, fmt.Sprintf("HTTP %d: %s", resp.Status, message(resp.Body)), nil)
		}
	}
	resp, err := c.do(ctx, tr, "register", http.MethodPost, "/profiles", newProfile(mac, target))
	if err != nil {
		return err
	}
	if !ok(resp.Status) {
		return tr.Fail("register", vendors.ReasonRejected, fmt.Sprintf("HTTP %d: %s", resp.Status, message(resp.Body)), nil)
	}
	var p profile
	if err := json.Unmarshal(resp.Body, &p); err != nil || p.ID == "" {
		return tr.Fail("register", vendors.ReasonTransient, "profile created without an id", nil)
	}
	resp, err = c.do(ctx, tr, "register", http.MethodPost, "/devices", map[string]string{"id": mac, "profile": p.ID})
	if err == nil && ok(resp.Status) {
		return nil
	}
	// Do not leave the profile behind (best effort).
	_, _ = c.do(ctx, tr, "register", http.MethodDelete, "/profiles/"+url.PathEscape(p.ID), nil)
	if err != nil {
		return err
	}
	switch resp.Status {
	case http.StatusConflict:
		return tr.Fail("register", vendors.ReasonOwned, message(resp.Body), nil)
	case http.StatusBadRequest:
		return tr.Fail("register", vendors.ReasonInvalidMAC, message(resp.Body), nil)
	}
	return tr.Fail("register", vendors.ReasonRejected, fmt.Sprintf("HTTP %d: %s", resp.Status, message(resp.Body)), nil)
}

// Deregister deletes our device and its dialtone profile. 404 and 409 (a
// different account's) leave nothing of ours to remove.
func (c *Client) Deregister(ctx context.Context, mac string) error {
	d, err := c.getDevice(ctx, c.tr, "deregister", mac)
	if err != nil || d == nil {
		return err
	}
	resp, err := c.do(ctx, c.tr, "deregister", http.MethodDelete, "/devices/"+url.PathEscape(mac), nil)
	if err != nil {
		return err
	}
	switch {
	case resp.Status == http.StatusConflict, resp.Status == http.StatusNotFound:
		return nil
	case resp.Status == http.StatusBadRequest:
		return c.tr.Fail("deregister", vendors.ReasonInvalidMAC, message(resp.Body), nil)
	case !ok(resp.Status):
		return c.tr.Fail("deregister", vendors.ReasonRejected, fmt.Sprintf("HTTP %d: %s", resp.Status, message(resp.Body)), nil)
	}
	if pid := d.profile(); pid != "" {
		p, err := c.getProfile(ctx, c.tr, "deregister", pid)
		if err != nil {
			return err
		}
		if p != nil && p.Name == ProfilePrefix+mac {
			if _, err := c.do(ctx, c.tr, "deregister", http.MethodDelete, "/profiles/"+url.PathEscape(pid), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Check reads our device and its profile's address. ZTP does not say
// whether another account holds a MAC it does not show us.
func (c *Client) Check(ctx context.Context, mac string) (vendors.CheckResult, error) {
	d, err := c.getDevice(ctx, c.tr, "check", mac)
	if err != nil || d == nil {
		return vendors.CheckResult{}, err
	}
	res := vendors.CheckResult{Registered: true, OwnedByUs: true}
	if pid := d.profile(); pid != "" {
		p, err := c.getProfile(ctx, c.tr, "check", pid)
		if err != nil {
			return vendors.CheckResult{}, err
		}
		if p != nil {
			res.URL, res.Owner = p.Template.Provisioning.Server.Address, p.Name
		}
	}
	return res, nil
}
