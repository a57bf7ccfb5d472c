// Package fanvil implements Fanvil's FDPS redirect service (rps-apis.md §4):
// XML-RPC with HTTP Basic whose password is md5hex(md5hex(password)). Each
// MAC gets its own server object (named after the MAC, created with
// redirect.addMaterialServer) so that every phone has its own URL.
package fanvil

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
)

// DefaultURL is the FDPS endpoint.
const DefaultURL = "https://fdps.fanvil.com/xmlrpc.php"

// Client is an FDPS account.
type Client struct {
	endpoint, user string
	pass           vendors.Secret // already double-hashed
	tr             *vendors.Transport
}

// PasswordHash is what FDPS expects in place of the password: the
// lowercase hex MD5 of the lowercase hex MD5 of the password.
func PasswordHash(pw string) string {
	a := md5.Sum([]byte(pw))
	b := md5.Sum([]byte(hex.EncodeToString(a[:])))
	return hex.EncodeToString(b[:])
}

// New returns an FDPS client.
func New(acct vendors.Account, opts vendors.Options) (vendors.Client, error) {
	if acct.Username == "" || acct.Password == "" {
		return nil, fmt.Errorf("fanvil-fdps: username and password are required")
	}
	ep := acct.BaseURL
	if ep == "" {
		ep = DefaultURL
	}
	h := PasswordHash(acct.Password.Reveal())
	return &Client{endpoint: ep, user: acct.Username, pass: vendors.Secret(h), tr: &vendors.Transport{
		API: vendors.APIFanvilFDPS, Options: opts.WithDefaults(), Secrets: []string{acct.Password.Reveal(), h},
	}}, nil
}

func mac(m string) string { return strings.ToUpper(m) }

func (c *Client) call(ctx context.Context, tr *vendors.Transport, op, method string, params ...any) (bool, string, error) {
	return tr.RPCResult(ctx, op, c.endpoint, c.user, c.pass.Reveal(), method, params...)
}

func has(text string, codes ...string) bool {
	lt := strings.ToLower(text)
	for _, c := range codes {
		if strings.Contains(lt, c) {
			return true
		}
	}
	return false
}

func classify(tr *vendors.Transport, op, text string) error {
	switch {
	case has(text, "device_had_existed"):
		return tr.Fail(op, vendors.ReasonOwned, text, nil)
	case has(text, "mac_format_error"):
		return tr.Fail(op, vendors.ReasonInvalidMAC, text, nil)
	}
	return tr.Fail(op, vendors.ReasonRejected, text, nil)
}

// materialServer splits a URL into addMaterialServer's key=value list.
func materialServer(name, raw string) ([]string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("not an absolute URL")
	}
	prot := map[string]string{"ftp": "1", "tftp": "2", "http": "4", "https": "5"}[strings.ToLower(u.Scheme)]
	if prot == "" {
		return nil, fmt.Errorf("scheme %q is not ftp, tftp, http or https", u.Scheme)
	}
	path := strings.TrimPrefix(u.EscapedPath(), "/")
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return []string{
		"cfgName=" + name,
		"cfgPfMode=1",        // apply the configuration fetched from this server
		"cfgDhcpOpt=false",   // and stop looking at DHCP options
		"cfgPnpEnable=false", // or SIP PnP
		"cfgPfSrv=" + u.Host,
		"cfgPfName=" + path,
		"cfgPfProt=" + prot,
	}, nil
}

// Register re-creates the MAC's server object with url and binds the MAC to
// it: deRegisterDevice (ignoring device_not_exist), deleteServer (FDPS
// refuses to delete a server a device is bound to; ignoring
// server_not_exist*), addMaterialServer, registerDevice.
func (c *Client) Register(ctx context.Context, m, target string) error {
	tr := c.tr.With(target)
	name := mac(m)
	params, err := materialServer(name, target)
	if err != nil {
		return tr.Fail("register", vendors.ReasonRejected, "provisioning URL: "+err.Error(), nil)
	}
	ok, text, err := c.call(ctx, tr, "register", "redirect.deRegisterDevice", name)
	if err != nil {
		return err
	}
	if !ok && has(text, "mac_format_error") {
		return classify(tr, "register", text)
	}
	if _, _, err := c.call(ctx, tr, "register", "redirect.deleteServer", name); err != nil {
		return err
	}
	ok, text, err = c.call(ctx, tr, "register", "redirect.addMaterialServer", params)
	if err != nil {
		return err
	}
	if !ok {
		return classify(tr, "register", text)
	}
	ok, text, err = c.call(ctx, tr, "register", "redirect.registerDevice", name, name)
	if err != nil || ok {
		return err
	}
	if has(text, "device_had_existed") {
		// Another account holds the MAC: drop the server object we made.
		_, _, _ = c.call(ctx, tr, "register", "redirect.deleteServer", name)
	}
	return classify(tr, "register", text)
}

// Deregister unbinds the MAC and deletes its server object.
func (c *Client) Deregister(ctx context.Context, m string) error {
	name := mac(m)
	ok, text, err := c.call(ctx, c.tr, "deregister", "redirect.deRegisterDevice", name)
	if err != nil {
		return err
	}
	if !ok && !has(text, "device_not_exist") {
		return classify(c.tr, "deregister", text)
	}
	if _, _, err := c.call(ctx, c.tr, "deregister", "redirect.deleteServer", name); err != nil {
		return err
	}
	return nil
}

// Check calls redirect.checkDevice. FDPS's answer texts are not
// documented; true is read as "registered to us", device_not_exist as
// unregistered and device_had_existed as another account's (inferred from
// the register texts).
func (c *Client) Check(ctx context.Context, m string) (vendors.CheckResult, error) {
	ok, text, err := c.call(ctx, c.tr, "check", "redirect.checkDevice", mac(m))
	if err != nil {
		return vendors.CheckResult{}, err
	}
	switch {
	case ok:
		return vendors.CheckResult{Registered: true, OwnedByUs: true}, nil
	case has(text, "device_not_exist"):
		return vendors.CheckResult{}, nil
	case has(text, "device_had_existed"):
		return vendors.CheckResult{Registered: true}, nil
	}
	return vendors.CheckResult{}, classify(c.tr, "check", text)
}
