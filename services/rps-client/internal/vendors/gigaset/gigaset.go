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
	"time"

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

// Register binds the MAC to url. The API has no override flag: a MAC we
// already hold must be deregistered before it can be registered again,
// which leaves the phone without a redirect in between. So we check first
// (as peoplefone's addPhone does) and register at once when we hold
// nothing, with no gap; only a MAC that is ours is deregistered and then
// registered, and that register is retried (gapRetries, then by the
// service's retry schedule as a temporary failure with Cause
// registration_gap) until it holds.
func (c *XMLRPC) Register(ctx context.Context, m, url string) error {
	tr := c.tr.With(url)
	st, err := c.check(ctx, tr, "register", m)
	if err != nil {
		return err
	}
	switch {
	case st.Registered && !st.OwnedByUs:
		return tr.Fail("register", vendors.ReasonOwned, "mac_already_in_use", nil)
	case !st.Registered:
		return c.register(ctx, tr, m, url)
	}
	ok, text, err := tr.RPCResult(ctx, "register", c.endpoint, c.user, c.pass.Reveal(), "autoprov.deregisterDevice", macID(m))
	switch {
	case err != nil:
		return err // our old registration is still in place
	case !ok && code(text) == "mac_already_in_use":
		return tr.Fail("register", vendors.ReasonOwned, text, nil)
	case !ok && code(text) != "mac_not_found":
		return classify(tr, "register", text)
	}
	// From here until a register succeeds, the phone has no redirect.
	for i, wait := range gapRetries {
		if i > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if err = c.register(ctx, tr, m, url); err == nil || vendors.ReasonOf(err) == vendors.ReasonOwned || ctx.Err() != nil {
			break
		}
	}
	if err == nil || vendors.ReasonOf(err) == vendors.ReasonOwned {
		return err // done, or another provider took the MAC in the gap
	}
	e := tr.Fail("register", vendors.ReasonTransient,
		"registration gap: our previous registration was removed and the new one failed, so the phone has no redirect until a retry succeeds", err)
	e.Cause = vendors.CauseRegistrationGap
	return e
}

// gapRetries are the waits before each register attempt after a
// deregister, within one Register call.
var gapRetries = []time.Duration{0, 250 * time.Millisecond, time.Second}

func (c *XMLRPC) register(ctx context.Context, tr *vendors.Transport, m, url string) error {
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

// Check calls autoprov.checkDevice(macId).
func (c *XMLRPC) Check(ctx context.Context, m string) (vendors.CheckResult, error) {
	return c.check(ctx, c.tr, "check", m)
}

// check reads checkDevice's answer [boolean, text], whose texts Gigaset does
// not document. As peoplefone's checkPhone
// (peoplefone/provisioning-rpc src/ProvisioningRPCDeviceGigaset.php) does,
// true, or a text that echoes the MAC whatever the flag, means the MAC is
// registered; the call is made with our account and peoplefone then removes
// the registration with the same account, so we read it as ours.
// mac_already_in_use is another provider's (the register/deregister text),
// mac_not_found is unregistered, and mac_invalid/mac_not_exist an invalid MAC.
func (c *XMLRPC) check(ctx context.Context, tr *vendors.Transport, op, m string) (vendors.CheckResult, error) {
	ok, text, err := tr.RPCResult(ctx, op, c.endpoint, c.user, c.pass.Reveal(), "autoprov.checkDevice", macID(m))
	if err != nil {
		return vendors.CheckResult{}, err
	}
	if ok || echoes(text, m) {
		return vendors.CheckResult{Registered: true, OwnedByUs: true}, nil
	}
	switch code(text) {
	case "mac_already_in_use":
		return vendors.CheckResult{Registered: true}, nil
	case "mac_not_found":
		return vendors.CheckResult{}, nil
	}
	return vendors.CheckResult{}, classify(tr, op, text)
}

// echoes reports whether text is the MAC (or a MAC-ID "MAC-XXXX") itself.
func echoes(text, m string) bool {
	t := strings.TrimSpace(text)
	if len(t) == 17 && t[12] == '-' {
		t = t[:12]
	}
	return strings.EqualFold(t, m)
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
