package edge_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/cmd/internal/upstreamtest"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
)

const (
	relayToken     = "relay-token-of-site1-0123456789abcdefghijklmn"
	relayEdgeToken = "relay-token-of-an-edge-0123456789abcdefghijk"
)

// relayTokens is a --relay-tokens-file: a listener's token, and a token of
// another role that must not count.
func relayTokens(t testing.TB) *auth.TokenSet {
	t.Helper()
	data, _ := json.Marshal(auth.TokensFile{Tokens: []auth.TokenEntry{
		{Name: "site1", Role: auth.RoleListener, SHA256: auth.HashToken(relayToken)},
		{Name: "edge", Role: auth.RoleEdge, SHA256: auth.HashToken(relayEdgeToken)},
	}})
	ts, err := auth.ParseTokens(data)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestLinkAssertion: the edge records FETCH_PROOF_LINK (inventory binds
// link:{mac}) only for a request carrying the link assertion header with a
// pnp-listener's relay credential and the token's own MAC. The header from
// anyone else — no credential, an unknown token, a token of another role,
// a malformed value, another MAC, or any credential at an edge with no
// relay tokens — is ignored (the fetch is the token's, as without it) and
// counted by outcome. Once the link is bound, the same URL without the
// assertion (a leaked token) is refused, with or without a forged header.
func TestLinkAssertion(t *testing.T) {
	u := newUpstream(t)
	e := newEdgeDeps(t, u, nil, func(d *provisionhttp.Deps) { d.Relays = relayTokens(t) })
	p := u.addPhone(t, "cisco-7960", false, false)
	count := func(e *edge, outcome string) float64 {
		return metrictest.Value(t, e.reg, "dialtone_provision_http_link_assertions_total", "outcome", outcome)
	}
	fetch := func(e *edge, hdr map[string]string) result {
		t.Helper()
		return e.do(t, http.MethodGet, "/p/"+p.token+"/"+p.macFile, p.ua, hdr, false)
	}
	release := func() *inventoryv1.ReleaseIdentity {
		t.Helper()
		ph, err := u.Admin.GetPhone(cctx(t), &inventoryv1.GetPhoneRequest{Name: "phones/" + p.mac})
		if err != nil {
			t.Fatal(err)
		}
		return ph.GetPhone().GetSecretRelease()
	}
	own := strings.ToUpper(p.mac)

	forged := []struct {
		outcome string
		hdr     map[string]string
	}{
		{"no_credential", map[string]string{provisionhttp.LinkProofHeader: own}},
		{"no_credential", map[string]string{provisionhttp.LinkProofHeader: own, "Authorization": "Basic " + relayToken}},
		{"bad_credential", map[string]string{provisionhttp.LinkProofHeader: own, "Authorization": "Bearer not-a-relay-token"}},
		{"bad_credential", map[string]string{provisionhttp.LinkProofHeader: own, "Authorization": "Bearer " + upstreamtest.EdgeToken}},
		{"wrong_role", map[string]string{provisionhttp.LinkProofHeader: own, "Authorization": "Bearer " + relayEdgeToken}},
		{"malformed", map[string]string{provisionhttp.LinkProofHeader: "yes", "Authorization": "Bearer " + relayToken}},
		{"mac_mismatch", map[string]string{provisionhttp.LinkProofHeader: "00562bffffff", "Authorization": "Bearer " + relayToken}},
	}
	for i, f := range forged {
		before := count(e, f.outcome)
		if r := fetch(e, f.hdr); r.code != http.StatusOK || !strings.Contains(r.body, "sip-secret-"+p.mac) {
			t.Fatalf("forged %d (%s): %d %q", i, f.outcome, r.code, r.body)
		}
		if got := count(e, f.outcome) - before; got != 1 {
			t.Errorf("forged %d: %s counted %v times, want 1", i, f.outcome, got)
		}
		if sr := release(); sr.GetId() != "token" || sr.GetProof() == inventoryv1.FetchProof_FETCH_PROOF_LINK {
			t.Fatalf("forged %d (%s) bound %v", i, f.outcome, sr)
		}
	}
	if n := count(e, "honoured"); n != 0 {
		t.Fatalf("honoured = %v before any relay", n)
	}
	if !strings.Contains(e.logs.String(), `"proof":"token`) || strings.Contains(e.logs.String(), `"proof":"link"`) {
		t.Error("forged fetches not logged with the token's proof")
	}

	// The listener's relay: the proof is the link, the binding upgrades.
	if r := fetch(e, map[string]string{provisionhttp.LinkProofHeader: p.mac, "Authorization": "Bearer " + relayToken}); r.code != http.StatusOK {
		t.Fatalf("relay: %d %q", r.code, r.body)
	}
	if n := count(e, "honoured"); n != 1 {
		t.Errorf("honoured = %v, want 1", n)
	}
	if sr := release(); sr.GetId() != "link:"+p.mac || sr.GetProof() != inventoryv1.FetchProof_FETCH_PROOF_LINK {
		t.Fatalf("after the relay: release %v", sr)
	}
	if !strings.Contains(e.logs.String(), `"proof":"link"`) {
		t.Error("relayed fetch not logged with proof link")
	}
	if strings.Contains(e.logs.String(), relayToken) {
		t.Error("the relay token is in the edge's log")
	}

	// Another edge replica (no grants cached), and one with no relay
	// tokens: the token alone, or with a forged or unverifiable assertion,
	// is now a weaker second identity.
	e2 := newEdgeDeps(t, u, nil, func(d *provisionhttp.Deps) { d.Relays = relayTokens(t) })
	for i, hdr := range []map[string]string{nil, forged[0].hdr, forged[4].hdr} {
		if r := fetch(e2, hdr); r.code != http.StatusNotFound {
			t.Errorf("leaked URL %d after the link binding: %d %q", i, r.code, r.body)
		}
	}
	e3 := newEdge(t, u, nil)
	if r := fetch(e3, map[string]string{provisionhttp.LinkProofHeader: p.mac, "Authorization": "Bearer " + relayToken}); r.code != http.StatusNotFound {
		t.Errorf("edge without relay tokens honoured the assertion: %d", r.code)
	}
	if n := count(e3, "bad_credential"); n != 1 {
		t.Errorf("edge without relay tokens: bad_credential = %v, want 1", n)
	}
	if r := fetch(e2, map[string]string{provisionhttp.LinkProofHeader: p.mac, "Authorization": "Bearer " + relayToken}); r.code != http.StatusOK {
		t.Errorf("relay at the second replica: %d", r.code)
	}
}
