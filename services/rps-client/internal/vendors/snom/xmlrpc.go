// Package snom implements Snom's two redirection APIs: the legacy XML-RPC
// redirection service (redirect.registerPhone & co., HTTP Basic) and the
// SRAPS REST API (Hawk), the latter through package sraps.
package snom

import (
	"context"
	"fmt"
	"strings"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/sraps"
)

// Default base URLs (rps-apis.md §2). The XML-RPC path's trailing slash is
// mandatory.
const (
	DefaultXMLRPCURL = "https://secure-provisioning.snom.com:8083/xmlrpc/"
	DefaultSRAPSURL  = "https://api.sraps.snom.com/api/v1/"
)

// SettingServer is the SRAPS setting that holds the provisioning URL.
const SettingServer = "setting_server"

// NewSRAPS returns a SRAPS REST client.
func NewSRAPS(acct vendors.Account, opts vendors.Options) (vendors.Client, error) {
	if acct.BaseURL == "" {
		acct.BaseURL = DefaultSRAPSURL
	}
	return sraps.New(vendors.APISnomSRAPS, SettingServer, acct, opts)
}

// XMLRPC is the legacy redirection client.
type XMLRPC struct {
	endpoint string
	user     string
	pass     vendors.Secret
	tr       *vendors.Transport
}

// NewXMLRPC returns a legacy XML-RPC client.
func NewXMLRPC(acct vendors.Account, opts vendors.Options) (vendors.Client, error) {
	if acct.Username == "" || acct.Password == "" {
		return nil, fmt.Errorf("snom-xmlrpc: username and password are required")
	}
	ep := acct.BaseURL
	if ep == "" {
		ep = DefaultXMLRPCURL
	}
	if !strings.HasSuffix(ep, "/") { // "the trailing slash is mandatory"
		ep += "/"
	}
	return &XMLRPC{endpoint: ep, user: acct.Username, pass: acct.Password, tr: &vendors.Transport{
		API: vendors.APISnomXMLRPC, Options: opts.WithDefaults(), Secrets: []string{acct.Password.Reveal()},
	}}, nil
}

// mac spells a canonical MAC as Snom's clients do: 12 uppercase hex digits.
func mac(m string) string { return strings.ToUpper(m) }

// Register calls redirect.registerPhone(mac, url); Snom replaces our own
// earlier registration of the MAC.
func (c *XMLRPC) Register(ctx context.Context, m, url string) error {
	tr := c.tr.With(url)
	ok, text, err := tr.RPCResult(ctx, "register", c.endpoint, c.user, c.pass.Reveal(), "redirect.registerPhone", mac(m), url)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	return classify(tr, "register", text)
}

// Deregister calls redirect.deregisterPhone(mac). A MAC held by another
// user, or unknown, is not ours to remove: success.
func (c *XMLRPC) Deregister(ctx context.Context, m string) error {
	ok, text, err := c.tr.RPCResult(ctx, "deregister", c.endpoint, c.user, c.pass.Reveal(), "redirect.deregisterPhone", mac(m))
	if err != nil || ok {
		return err
	}
	lt := strings.ToLower(text)
	if strings.Contains(lt, "owned_by_other_user") || strings.Contains(lt, "no_such_mac") {
		return nil
	}
	return classify(c.tr, "deregister", text)
}

// Check calls redirect.checkPhone(mac) (ok / error:no_such_mac /
// error:owned_by_other_user) and, when the MAC is ours,
// redirect.getPhoneRedirection(mac) for "Company name, Redirection URL".
func (c *XMLRPC) Check(ctx context.Context, m string) (vendors.CheckResult, error) {
	ok, text, err := c.tr.RPCResult(ctx, "check", c.endpoint, c.user, c.pass.Reveal(), "redirect.checkPhone", mac(m))
	if err != nil {
		return vendors.CheckResult{}, err
	}
	lt := strings.ToLower(text)
	switch {
	case strings.Contains(lt, "owned_by_other_user"):
		return vendors.CheckResult{Registered: true}, nil
	case strings.Contains(lt, "no_such_mac"):
		return vendors.CheckResult{}, nil
	case !ok || lt != "ok":
		return vendors.CheckResult{}, classify(c.tr, "check", text)
	}
	res := vendors.CheckResult{Registered: true, OwnedByUs: true}
	ok, text, err = c.tr.RPCResult(ctx, "check", c.endpoint, c.user, c.pass.Reveal(), "redirect.getPhoneRedirection", mac(m))
	if err != nil {
		return vendors.CheckResult{}, err
	}
	if ok {
		owner, url, found := strings.Cut(text, ",")
		if found {
			res.Owner, res.URL = strings.TrimSpace(owner), strings.TrimSpace(url)
		} else {
			res.URL = strings.TrimSpace(text)
		}
	}
	return res, nil
}

// classify maps Snom's documented texts (Error:owned_by_other_user,
// Error:malformed_url, Error:malformed_mac) to reasons.
func classify(tr *vendors.Transport, op, text string) error {
	lt := strings.ToLower(text)
	switch {
	case strings.Contains(lt, "owned_by_other_user"):
		return tr.Fail(op, vendors.ReasonOwned, text, nil)
	case strings.Contains(lt, "malformed_mac"), strings.Contains(lt, "no_such_mac"):
		return tr.Fail(op, vendors.ReasonInvalidMAC, text, nil)
	}
	return tr.Fail(op, vendors.ReasonRejected, text, nil)
}
