package suite

import (
	"fmt"
	"io"
	"strings"

	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
)

type bannerInfo struct {
	cfg                          Config
	grpcAddr, sipAddr, replyAddr string
	httpBase, httpsBase          string
	// site is read back from the store: what is in effect, not the flags.
	site         siteState
	tokenCreated bool
	tokenPath    string
}

// printBanner writes the one short start-up banner: what listens where, and
// the next command to try. It never prints a token, only where it is.
func printBanner(w io.Writer, b bannerInfo) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Dialtone is running (data in %s)\n", b.cfg.DataDir)
	fmt.Fprintf(&sb, "  admin gRPC      %s\n", b.grpcAddr)
	if b.httpBase != "" {
		fmt.Fprintf(&sb, "  phones (HTTP)   %s/p/{token}/\n", b.httpBase)
	}
	if b.httpsBase != "" {
		fmt.Fprintf(&sb, "  phones (HTTPS)  %s/p/{token}/\n", b.httpsBase)
	}
	sipIf := b.cfg.SIPInterfaces
	if sipIf == "" {
		sipIf = "every multicast interface"
	}
	fmt.Fprintf(&sb, "  SIP PnP         udp %s, group 224.0.1.75 on %s\n", b.sipAddr, sipIf)
	if b.cfg.SIPBindMode == pnplistener.BindBesidePBX {
		fmt.Fprintf(&sb, "                  beside the PBX on this host: it keeps unicast SIP; replies from udp %s\n", b.replyAddr)
	}
	if b.cfg.AdminAddr != "" {
		fmt.Fprintf(&sb, "  health/metrics  http://%s/readyz\n", b.cfg.AdminAddr)
	}
	fmt.Fprintf(&sb, "  phones register to %s (SIP interface \"default\")\n", b.site.pbxHost)
	if b.site.previousHost != "" {
		fmt.Fprintf(&sb, "  --pbx-host changed it from %s: its phones are being re-provisioned\n", b.site.previousHost)
	}
	if b.tokenCreated {
		fmt.Fprintf(&sb, "Created the admin token in %s (dialtonectl reads it from there).\n", b.tokenPath)
	}
	if !b.site.hasExtension {
		fmt.Fprintf(&sb, "Next: go run ./cmd/dialtonectl extensions add 101 --name Alice --password <secret>\n")
	}
	io.WriteString(w, sb.String())
}
