// Package htek implements Htek's RPS, an XML-RPC API on the Yealink template
// (rps-apis.md §9): redirect.addServer, redirect.registerDevice with the
// optional isOverride flag, redirect.deRegisterDevice, redirect.checkDevice,
// HTTP Basic.
package htek

import (
	"strings"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/yealink"
)

// DefaultURL is Htek's RPS endpoint.
const DefaultURL = "https://rps.htek.com/index.php/xmlrpc"

// Family is Htek's member of the template: lowercase MACs (the document's
// examples), and the documented flow — register without isOverride, resend
// with it on "Existing MAC(s)" (ours); "Are you sure you want to override
// MAC addresses" (another RPS user's) is a refusal unless the account sets
// allow_takeover.
var Family = yealink.Family{
	API: vendors.APIHtekXMLRPC, DefaultURL: DefaultURL,
	MAC: strings.ToLower, OverrideAfterCheck: false,
}

// New returns an Htek RPS client.
func New(acct vendors.Account, opts vendors.Options) (vendors.Client, error) {
	return yealink.NewFamily(Family, acct, opts)
}
