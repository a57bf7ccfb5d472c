package provisionhttp

import (
	"net/http"
	"strings"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
)

// A pnp-listener that relays a phone's fetch (its TFTP front, for Cisco
// 79xx phones that cannot carry a token) proved at the link layer that the
// requester is the phone's MAC. It says so in LinkProofHeader, naming that
// MAC, on a request that also carries its relay credential in
// "Authorization: Bearer <token>". The edge honours the assertion — the fetch's
// proof becomes FETCH_PROOF_LINK, which inventory's release rule binds as
// link:{mac} — only when the token authenticates (Deps.Relays) as a
// principal of role listener and the MAC is the token's phone. Anything
// else (a phone or scanner sending the header, a wrong or missing
// credential, another MAC) is ignored and counted in
// dialtone_provision_http_link_assertions_total{outcome}; the request is
// then served or refused exactly as without the header.
const LinkProofHeader = "Dialtone-Link-Proof"

// Link assertion outcomes (dialtone_provision_http_link_assertions_total).
const (
	linkHonoured      = "honoured"       // served with FETCH_PROOF_LINK
	linkNoCredential  = "no_credential"  // header without a bearer token
	linkBadCredential = "bad_credential" // unknown token, or no relay tokens configured
	linkWrongRole     = "wrong_role"     // a known token whose role is not listener
	linkMalformed     = "malformed"      // the header is not one MAC
	linkMACMismatch   = "mac_mismatch"   // the proved MAC is not the token's phone
)

var linkOutcomes = []string{linkHonoured, linkNoCredential, linkBadCredential, linkWrongRole, linkMalformed, linkMACMismatch}

// linkAssertion reads r's link assertion. It returns the asserted MAC when
// the header is present and the credential is a listener's, else "" (and
// counts the forgery). A request without the header costs nothing.
func (s *Service) linkAssertion(r *http.Request) string {
	vals := r.Header.Values(LinkProofHeader)
	if len(vals) == 0 {
		return ""
	}
	if len(vals) != 1 {
		s.met.linkAssertions.WithLabelValues(linkMalformed).Inc()
		return ""
	}
	mac, err := macaddr.Parse(strings.TrimSpace(vals[0]))
	if err != nil {
		s.met.linkAssertions.WithLabelValues(linkMalformed).Inc()
		return ""
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		s.met.linkAssertions.WithLabelValues(linkNoCredential).Inc()
		return ""
	}
	if s.relays == nil {
		s.met.linkAssertions.WithLabelValues(linkBadCredential).Inc()
		return ""
	}
	p, ok := s.relays.Authenticate(strings.TrimSpace(tok))
	switch {
	case !ok:
		s.met.linkAssertions.WithLabelValues(linkBadCredential).Inc()
		return ""
	case p.Role != auth.RoleListener:
		s.met.linkAssertions.WithLabelValues(linkWrongRole).Inc()
		return ""
	}
	return mac
}
