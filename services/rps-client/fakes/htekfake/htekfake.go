// Package htekfake fakes Htek's RPS (rps-apis.md §9): the Yealink-template
// XML-RPC fake at /index.php/xmlrpc with Htek's texts ("Invalid MAC(s): …",
// "Existing MAC(s): …", "Error: Invalid server", "Are you sure you want to
// override MAC addresses") and Apache XML-RPC's extensions namespace on the
// response.
package htekfake

import (
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/yealinkfake"
)

// Path is the endpoint path.
const Path = "/index.php/xmlrpc"

// Template is Htek's variant.
var Template = yealinkfake.Template{
	Path: Path, Style: fakeserver.Apache,
	InvalidMAC: "Invalid MAC(s): ", Existing: "Existing MAC(s): ",
	OverrideQuestion: "Are you sure you want to override MAC addresses", InvalidServer: "Error: Invalid server",
}

// Start runs the fake.
func Start(t testing.TB, user, pass string) *yealinkfake.XMLRPC {
	return yealinkfake.StartXMLRPC(t, Template, user, pass)
}
