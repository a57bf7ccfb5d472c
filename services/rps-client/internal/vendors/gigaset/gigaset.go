// Package gigaset implements Gigaset's redirect APIs: the legacy autoprov
// XML-RPC service at prov.gigaset.net (HTTP Basic, MAC-ID) and GRAPE, the
// Hawk REST API that uses the SRAPS protocol with the ProvisioningServer
// setting (rps-apis.md §3).
package gigaset

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/sraps"
)

// Default base URLs.
const (
	DefaultXMLRPCURL = "https://prov.gigaset.net/apxml/rpc.do"
	DefaultGRAPEURL  = "https://api.grape.gigaset.net/api/v1/"
)

// SettingProvisioningServer is GRAPE's provisioning-URL setting.
const SettingProvisioningServer = "ProvisioningServer"

// NewGRAPE returns a GRAPE REST client.
func NewGRAPE(acct vendors.Account, opts vendors.Options) (vendors.Client, error) {
	if acct.BaseURL == "" {
		acct.BaseURL = DefaultGRAPEURL
	}
	return sraps.New(vendors.APIGigasetGRAPE, SettingProvisioningServer, acct, opts)
}

// XMLRPC is the legacy autoprov client.
type XMLRPC struct {
	endpoint, user, provider string
	pass                     vendors.Secret
	tr                       *vendors.Transport
}

// providerName is what the portal shows; keep it to a safe charset.
var providerName = regexp.MustCompile(`^[A-Za-z0-9 ._-]{1,40}$`)

// NewXMLRPC returns a legacy XML-RPC client.
func NewXMLRPC(acct vendors.Account, opts vendors.Options) (vendors.Client, error) {
	if acct.Username == "" || acct.Password == "" {
		return nil, fmt.Errorf("gigaset-xmlrpc: username and password are required")
	}
	ep := acct.BaseURL
	if ep == "" {
		ep = DefaultXMLRPCURL
	}
	p := acct.ProviderName
	if p == "" {
		p = "Dialtone"
	}
	if !providerName.MatchString(p) {
		return nil, fmt.Errorf("gigaset-xmlrpc: provider_name must be 1-40 characters of [A-Za-z0-9 ._-]")
	}
	return &XMLRPC{endpoint: ep, user: acct.Username, pass: acct.Password, provider: p, tr: &vendors.Transport{
		API: vendors.APIGigasetXMLRPC, Options: opts.WithDefaults(), Secrets: []string{acct.Password.Reveal()},
	}}, nil
}

// macID spells the device id. Gigaset's MAC-ID is the MAC plus a 4-character
// code from the device label ("XXXXXXXXXXXX-XXXX"); inventory does not know
// that code, so we send the bare 12 uppercase hex digits, which the API also
// accepts (peoplefone accepts 12 or 17 characters; falconieri has disable_crc).
func macID(m string) string { return strings.ToUpper(m) }

// Register deregisters first (the API has no override flag; both OSS
// clients do the same, ignoring the result) and then calls
// autoprov.registerDevice(macId, url, providerName).
func (c *XMLRPC) Register(ctx context.Context, m, url string) error {
	tr := c.tr.With(url)
	if _, _, err := tr.RPCResult(ctx, "register", c.endpoint, c.user, c.pass.Reveal(), "autoprov.deregisterDevice", macID(m)); err != nil {
		if vendors.ReasonOf(err) == vendors.ReasonTransient || vendors.ReasonOf(err) == vendors.ReasonBadCreds {
			return err
		}
	}
	ok, text, err := tr.RPCResult(ctx, "register", c.endpoint, c.user, c.pass.Reveal(), "autoprov.registerDevice", macID(m), url, c.provider)
	if err != nil || ok {
		return err
	}
	return classify(tr, "register", text)
}

// Deregister calls autoprov.deregisterDevice(mac); mac_not_found (nothing
// to remove) and mac_already_in_use (another provider's) are success.
func (c *XMLRPC) Deregister(ctx context.Context, m string) error {
	ok, text, err := c.tr.RPCResult(ctx, "deregister", c.endpoint, c.user, c.pass.Reveal(), "autoprov.deregisterDevice", macID(m))
	if err != nil || ok {
		return err
	}
	if code := code(text); code == "mac_not_found" || code == "mac_already_in_use" {
		return nil
	}
	return classify(c.tr, "deregister", text)
}

// Check calls autoprov.checkDevice(macId). Its answer texts are not
// documented; we read true as "registered to us", mac_already_in_use as
// another provider's and mac_not_found as unregistered (inferred from the
// register/deregister texts).
func (c *XMLRPC) Check(ctx context.Context, m string) (vendors.CheckResult, error) {
	ok, text, err := c.tr.RPCResult(ctx, "check", c.endpoint, c.user, c.pass.Reveal(), "autoprov.checkDevice", macID(m))
	if err != nil {
		return vendors.CheckResult{}, err
	}
	if ok {
		return vendors.CheckResult{Registered: true, OwnedByUs: true}, nil
	}
	switch code(text) {
	case "mac_already_in_use":
		return vendors.CheckResult{Registered: true}, nil
	case "mac_not_found":
		return vendors.CheckResult{}, nil
	}
	return vendors.CheckResult{}, classify(c.tr, "check", text)
}

// code is the part of "mac_invalid:<mac>" before the colon.
func code(text string) string {
	c, _, _ := strings.Cut(strings.TrimSpace(text), ":")
	return strings.ToLower(c)
}

func classify(tr *vendors.Transport, op, text string) error {
	switch code(text) {
	case "mac_already_in_use":
		return tr.Fail(op, vendors.ReasonOwned, text, nil)
	case "mac_invalid", "mac_not_exist", "mac_not_found":
		return tr.Fail(op, vendors.ReasonInvalidMAC, text, nil)
	}
	// url_invalid:<url> echoes our URL: tr scrubs it.
	return tr.Fail(op, vendors.ReasonRejected, text, nil)
}
