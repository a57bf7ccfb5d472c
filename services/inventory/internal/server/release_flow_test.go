package server_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/server"
)

// TestLinkProofReleaseFlow: the pnp-listener proves the phone's link
// address; the first fetch binds it; a later discovery of the MAC from
// another link address (link check off) makes the token alone a second
// identity: refused, recorded as pending, published; approval binds it. The
// listener's fields are stood in for until PhoneDiscovered carries them.
func TestLinkProofReleaseFlow(t *testing.T) {
	var mu sync.Mutex
	link, verified := mac1, true
	restore := server.SetDiscoveryLink(func(*eventsv1.PhoneDiscovered) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		return link, verified
	})
	t.Cleanup(restore)
	e := newEnv(t)
	e.seed("acme")
	t0 := time.Now().Add(-time.Hour)
	e.discover(mac1, t0)
	a, edge := e.admin(), e.c("edge")
	must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, Extension: "tenants/acme/extensions/100"}))
	url := must[*inventoryv1.GetProvisioningUrlResponse](t)(a.GetProvisioningUrl(ctx(), &inventoryv1.GetProvisioningUrlRequest{Name: mac1})).GetUrl()
	_, tok, _ := strings.Cut(url, "/p/")
	tok = strings.TrimSuffix(tok, "/")
	release := func() *inventoryv1.AuthorizeSecretReleaseResponse {
		t.Helper()
		return must[*inventoryv1.AuthorizeSecretReleaseResponse](t)(edge.AuthorizeSecretRelease(ctx(), &inventoryv1.AuthorizeSecretReleaseRequest{
			Token: tok, Proof: inventoryv1.FetchProof_FETCH_PROOF_TOKEN_UA, SourceAddress: "203.0.113.7:1024", FileName: mac1 + ".cfg",
		}))
	}
	phone := func() *inventoryv1.Phone {
		t.Helper()
		return must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	}

	if r := release(); !r.GetAllowed() || r.GetIdentity() != "link:"+mac1 {
		t.Fatalf("first fetch after a proven boot: %v", r)
	}
	p := phone()
	if lp := p.GetLastLinkProof(); !lp.GetVerified() || lp.GetLinkAddress() != mac1 || lp.GetListener() != "site-a" {
		t.Fatalf("link proof %v", lp)
	}
	if p.GetSecretRelease().GetId() != "link:"+mac1 || p.GetSecretRelease().GetSourceAddress() != "203.0.113.7:1024" {
		t.Fatalf("release %v", p.GetSecretRelease())
	}
	if r := release(); !r.GetAllowed() {
		t.Fatalf("same identity again: %v", r)
	}

	// Another host announces the MAC; the listener runs without the check.
	mu.Lock()
	link, verified = "02aabbccddee", false
	mu.Unlock()
	e.discover(mac1, t0.Add(time.Minute))
	r := release()
	if r.GetAllowed() || r.GetIdentity() != "unverified-link:02aabbccddee" || r.GetReason() == "" {
		t.Fatalf("after another link address: %v", r)
	}
	p = phone()
	if p.GetPendingRelease().GetId() != r.GetIdentity() || p.GetSecretRelease().GetId() != "link:"+mac1 {
		t.Fatalf("pending %v bound %v", p.GetPendingRelease(), p.GetSecretRelease())
	}
	// A retry within the minute writes nothing new.
	rev := p.GetRevision()
	release()
	if got := phone().GetRevision(); got != rev {
		t.Fatalf("repeated refusal wrote revision %d (was %d)", got, rev)
	}
	ap := must[*inventoryv1.ApprovePhoneResponse](t)(a.ApprovePhone(ctx(), &inventoryv1.ApprovePhoneRequest{Name: mac1})).GetPhone()
	if ap.GetSecretRelease().GetId() != r.GetIdentity() || ap.GetPendingRelease() != nil {
		t.Fatalf("approved: %v", ap)
	}
	if r := release(); !r.GetAllowed() {
		t.Fatalf("approved identity: %v", r)
	}
	// Under require, a fetch without a certificate is refused and the
	// refusal cannot be approved away: the policy has to change.
	must[*inventoryv1.UpdatePhoneResponse](t)(a.UpdatePhone(ctx(), &inventoryv1.UpdatePhoneRequest{
		Phone:      &inventoryv1.Phone{Name: mac1, Settings: &inventoryv1.ProvisioningSettings{DeviceCert: inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_REQUIRE}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.device_cert"}},
	}))
	if r := release(); r.GetAllowed() || r.GetReason() != "device certificate required" {
		t.Fatalf("require without a certificate: %v", r)
	}
	if _, err := a.ApprovePhone(ctx(), &inventoryv1.ApprovePhoneRequest{Name: mac1}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("approving a require refusal: %v", err)
	}
	// No password in any of it (the admin sees the URL, as on every phone).
	if b, _ := proto.Marshal(ap); strings.Contains(string(b), "sip-secret") {
		t.Fatal("phone carries a password")
	}
}

// TestRelayedLinkProofFlow: a phone that never sends a PnP SUBSCRIBE (a
// Cisco 79xx behind the listener's TFTP front) has no last_link_proof. Its
// relayed fetch with FETCH_PROOF_LINK (which the edge reports only for a
// relay authenticated as a listener) is the identity link:{mac}: it binds
// it, upgrades an earlier token binding, and afterwards a fetch with the
// token alone (a leaked URL) is a second, weaker identity: refused.
func TestRelayedLinkProofFlow(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	a, edge := e.admin(), e.c("edge")
	must[*inventoryv1.CreatePhoneResponse](t)(a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{
		Mac: mac1, Model: "T54W", Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: "tenants/acme/extensions/100"}}}}))
	url := must[*inventoryv1.GetProvisioningUrlResponse](t)(a.GetProvisioningUrl(ctx(), &inventoryv1.GetProvisioningUrlRequest{Name: mac1})).GetUrl()
	_, tok, _ := strings.Cut(url, "/p/")
	tok = strings.TrimSuffix(tok, "/")
	release := func(proof inventoryv1.FetchProof) *inventoryv1.AuthorizeSecretReleaseResponse {
		t.Helper()
		return must[*inventoryv1.AuthorizeSecretReleaseResponse](t)(edge.AuthorizeSecretRelease(ctx(), &inventoryv1.AuthorizeSecretReleaseRequest{
			Token: tok, Proof: proof, SourceAddress: "198.18.0.1:40000", FileName: "SIP" + strings.ToUpper(mac1) + ".cnf",
		}))
	}
	if r := release(inventoryv1.FetchProof_FETCH_PROOF_TOKEN); !r.GetAllowed() || r.GetIdentity() != "token" {
		t.Fatalf("first token fetch: %v", r)
	}
	if r := release(inventoryv1.FetchProof_FETCH_PROOF_LINK); !r.GetAllowed() || r.GetIdentity() != "link:"+mac1 {
		t.Fatalf("relayed link-proved fetch: %v", r)
	}
	p := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	if sr := p.GetSecretRelease(); sr.GetId() != "link:"+mac1 || sr.GetProof() != inventoryv1.FetchProof_FETCH_PROOF_LINK {
		t.Fatalf("release %v", sr)
	}
	if r := release(inventoryv1.FetchProof_FETCH_PROOF_TOKEN); r.GetAllowed() || r.GetIdentity() != "token" {
		t.Fatalf("token alone after the link binding: %v", r)
	}
	if r := release(inventoryv1.FetchProof_FETCH_PROOF_LINK); !r.GetAllowed() {
		t.Fatalf("relayed fetch again: %v", r)
	}
}
