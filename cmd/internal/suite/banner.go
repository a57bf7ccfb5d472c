package suite

import (
	"fmt"
	"io"
	"strings"
)

type bannerInfo struct {
	cfg                 Config
	grpcAddr, sipAddr   string
	httpBase, httpsBase string
	pbxHost             string
	tokenCreated        bool
	tokenPath           string
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
	if b.cfg.AdminAddr != "" {
		fmt.Fprintf(&sb, "  health/metrics  http://%s/readyz\n", b.cfg.AdminAddr)
	}
	fmt.Fprintf(&sb, "  phones register to %s (SIP interface \"default\")\n", b.pbxHost)
	if b.tokenCreated {
		fmt.Fprintf(&sb, "Created the admin token in %s (dialtonectl reads it from there).\n", b.tokenPath)
	}
	fmt.Fprintf(&sb, "Next: go run ./cmd/dialtonectl extensions add 101 --name Alice --password <secret>\n")
	io.WriteString(w, sb.String())
}
