// Package yealink implements Yealink's redirect APIs: the legacy XML-RPC
// API (redirect.* methods with HTTP Basic, whose template Htek's RPS also
// follows — see Family) and the RPS JSON API at api-dm.yealink.com with its
// X-Ca HMAC-SHA256 request signing (rps-apis.md §1.1, §1.2).
package yealink

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
)

// DefaultXMLRPCURL is the current legacy XML-RPC endpoint.
const DefaultXMLRPCURL = "https://api-dm.yealink.com:8443/xmlrpc"

// Family describes one member of the Yealink-template XML-RPC family.
type Family struct {
	API        string
	DefaultURL string
	// MAC spells a canonical MAC for this service.
	MAC func(string) string
	// OverrideAfterCheck: call checkDevice before registering, and send
	// isOverride "1" at once only when it says the MAC is already ours (or it
	// is another account's and the operator allows takeover). Otherwise
	// register without the flag and resend with it only on "Existing MAC(s)"
	// (Htek's documented flow). ngcp and peoplefone send the flag
	// unconditionally; we do not, because between the check and the register
	// another account may take the MAC, and the flag would then silently take
	// it back from them.
	OverrideAfterCheck bool
}

// YealinkFamily is Yealink's own legacy API: 12 uppercase hex digits (ngcp).
var YealinkFamily = Family{
	API: vendors.APIYealinkXMLRPC, DefaultURL: DefaultXMLRPCURL,
	MAC: strings.ToUpper, OverrideAfterCheck: true,
}

// XMLRPC is a client of the Yealink-template XML-RPC API.
type XMLRPC struct {
	fam      Family
	endpoint string
	user     string
	pass     vendors.Secret
	takeover bool
	tr       *vendors.Transport
}

// NewXMLRPC returns a Yealink legacy XML-RPC client.
func NewXMLRPC(acct vendors.Account, opts vendors.Options) (vendors.Client, error) {
	return NewFamily(YealinkFamily, acct, opts)
}

// NewFamily returns a client for a member of the family.
func NewFamily(fam Family, acct vendors.Account, opts vendors.Options) (*XMLRPC, error) {
	if acct.Username == "" || acct.Password == "" {
		return nil, fmt.Errorf("%s: username and password are required", fam.API)
	}
	ep := acct.BaseURL
	if ep == "" {
		ep = fam.DefaultURL
	}
	return &XMLRPC{fam: fam, endpoint: ep, user: acct.Username, pass: acct.Password, takeover: acct.AllowTakeover,
		tr: &vendors.Transport{API: fam.API, Options: opts.WithDefaults(), Secrets: []string{acct.Password.Reveal()}}}, nil
}

// ServerName names the server object for a URL: the first 20 hex digits of
// MD5(url), as ngcp does — one object per distinct URL, within the 20
// character limit, revealing nothing of the URL's token.
func ServerName(url string) string {
	sum := md5.Sum([]byte(url))
	return hex.EncodeToString(sum[:])[:20]
}

// Objects names the server object a registration to url binds the MAC to.
// The API cannot delete server objects, so one per distinct URL stays at
// the vendor; the service lists them (DeviceStatus.vendor_objects).
func (c *XMLRPC) Objects(url string) []string { return []string{"server " + ServerName(url)} }

func (c *XMLRPC) call(ctx context.Context, tr *vendors.Transport, op, method string, params ...any) (bool, string, error) {
	return tr.RPCResult(ctx, op, c.endpoint, c.user, c.pass.Reveal(), method, params...)
}

// checkState is checkDevice's answer.
type checkState int

const (
	unregistered checkState = iota
	ours
	elsewhere
)

// check calls redirect.checkDevice; documented texts: registered,
// unregistered, unknown, registered elsewhere, Error:Invalid MAC.
func (c *XMLRPC) check(ctx context.Context, tr *vendors.Transport, op, mac string) (checkState, error) {
	_, text, err := c.call(ctx, tr, op, "redirect.checkDevice", c.fam.MAC(mac))
	if err != nil {
		return 0, err
	}
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "registered":
		return ours, nil
	case "registered elsewhere":
		return elsewhere, nil
	case "unregistered", "unknown":
		return unregistered, nil
	}
	return 0, classify(tr, op, text)
}

// ownedRe is falconieri's "owned by another user" pattern for Yealink.
var ownedRe = regexp.MustCompile(`^Error:[a-z0-9]{10}`)

func classify(tr *vendors.Transport, op, text string) error {
	lt := strings.ToLower(text)
	switch {
	case strings.Contains(lt, "override mac"), strings.Contains(lt, "registered elsewhere"):
		return tr.Fail(op, vendors.ReasonOwned, text, nil)
	case strings.Contains(lt, "invalid mac"):
		return tr.Fail(op, vendors.ReasonInvalidMAC, text, nil)
	case strings.Contains(lt, "invalid server"), strings.Contains(lt, "url can only"), strings.Contains(lt, "server name can only"):
		return tr.Fail(op, vendors.ReasonRejected, text, nil)
	case ownedRe.MatchString(text):
		return tr.Fail(op, vendors.ReasonOwned, text, nil)
	}
	return tr.Fail(op, vendors.ReasonRejected, text, nil)
}

// Register ensures a server object for url (redirect.addServer; an existing
// one is fine) and binds the MAC to it (redirect.registerDevice).
func (c *XMLRPC) Register(ctx context.Context, mac, url string) error {
	tr := c.tr.With(url)
	override := false
	if c.fam.OverrideAfterCheck {
		st, err := c.check(ctx, tr, "register", mac)
		if err != nil {
			return err
		}
		switch {
		case st == elsewhere && !c.takeover:
			return tr.Fail("register", vendors.ReasonOwned, "registered elsewhere", nil)
		case st == ours, st == elsewhere: // ours to update, or a takeover the operator allowed
			override = true
		}
		// unregistered: no flag. Should another account register the MAC
		// before our call, the service asks "override?" and we refuse below.
	}
	name := ServerName(url)
	ok, text, err := c.call(ctx, tr, "register", "redirect.addServer", name, url)
	if err != nil {
		return err
	}
	if !ok {
		lt := strings.ToLower(text)
		if strings.Contains(lt, "url can only") || strings.Contains(lt, "server name can only") {
			return classify(tr, "register", text)
		}
		// Anything else (the name already exists) lets registerDevice decide.
	}
	for attempt := 0; attempt < 2; attempt++ {
		params := []any{c.fam.MAC(mac), name}
		if override {
			params = append(params, "1")
		}
		ok, text, err = c.call(ctx, tr, "register", "redirect.registerDevice", params...)
		if err != nil || ok {
			return err
		}
		lt := strings.ToLower(text)
		switch {
		case strings.HasPrefix(lt, "existing mac") && !override:
			override = true // already ours: resend with isOverride
			continue
		case strings.Contains(lt, "override mac") && !override && c.takeover:
			override = true // another account's, and the operator allows taking it
			continue
		}
		break
	}
	return classify(tr, "register", text)
}

// Deregister checks first so that a MAC that is not ours is left alone,
// then calls redirect.deRegisterDevice.
func (c *XMLRPC) Deregister(ctx context.Context, mac string) error {
	st, err := c.check(ctx, c.tr, "deregister", mac)
	if err != nil {
		return err
	}
	if st != ours {
		return nil
	}
	ok, text, err := c.call(ctx, c.tr, "deregister", "redirect.deRegisterDevice", c.fam.MAC(mac))
	if err != nil || ok {
		return err
	}
	return classify(c.tr, "deregister", text)
}

// Check calls redirect.checkDevice. The API does not disclose the URL.
func (c *XMLRPC) Check(ctx context.Context, mac string) (vendors.CheckResult, error) {
	st, err := c.check(ctx, c.tr, "check", mac)
	if err != nil {
		return vendors.CheckResult{}, err
	}
	return vendors.CheckResult{Registered: st != unregistered, OwnedByUs: st == ours}, nil
}
