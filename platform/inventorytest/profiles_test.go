package inventorytest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
)

// TestProfiles: tokens resolve to profiles as inventory's do (URL,
// revision, grace after a rotation, one NotFound for every bad token), the
// first release binds the token and publishes PhoneChanged, and changes
// publish PhoneChanged with their aspects.
func TestProfiles(t *testing.T) {
	ns := natstest.Start(t)
	const edge = "edge-token-0123456789"
	s, err := Start(edge)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := s.SetJetStream(ns.JetStream()); err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken(edge, false)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	c := inventoryv1.NewInventoryServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := ns.JetStream().OrderedConsumer(ctx, streams.Phones, jetstream.OrderedConsumerConfig{FilterSubjects: []string{streams.PhoneChangedAll}})
	if err != nil {
		t.Fatal(err)
	}
	next := func() *eventsv1.PhoneChanged {
		t.Helper()
		m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("no PhoneChanged: %v", err)
		}
		var ev eventsv1.PhoneChanged
		if err := proto.Unmarshal(m.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		return &ev
	}
	profile := func(tok string) (*inventoryv1.GetProvisioningProfileResponse, codes.Code) {
		r, err := c.GetProvisioningProfile(ctx, &inventoryv1.GetProvisioningProfileRequest{Token: tok})
		return r, status.Code(err)
	}

	tok, err := s.AddPhone(Phone{HTTPS: true, Profile: &provisioningv1.ProvisioningProfile{Mac: "00:15:65:00:00:01", Vendor: "yealink", Language: "en"}})
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.GetChangeType() != inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_CREATED || !ev.GetFilesChanged() || ev.GetPhone().GetMac() != "001565000001" {
		t.Fatalf("created: %v", ev)
	}
	r, code := profile(tok)
	if code != codes.OK || r.GetProfile().GetMac() != "001565000001" || r.GetProfile().GetProvisioningUrl() != EdgeHTTPSBase+"/p/"+tok+"/" ||
		!r.GetHttpsRequired() || r.GetGrace() || r.GetProfile().GetPollInterval().AsDuration() != AssignedPoll || r.GetPhone() != "phones/001565000001" {
		t.Fatalf("profile: %v %v", r, code)
	}
	rev := r.GetProfile().GetRevision()
	for _, bad := range []string{"", "short", tok[:42] + "x"} {
		if _, code := profile(bad); code != codes.NotFound {
			t.Errorf("token %q: %v, want NotFound", bad, code)
		}
	}

	newRev, err := s.ChangePhone("001565000001", func(p *provisioningv1.ProvisioningProfile) { p.Language = "de" })
	if err != nil || newRev <= rev {
		t.Fatalf("change: %d %v", newRev, err)
	}
	if ev := next(); ev.GetRevision() != newRev || !ev.GetFilesChanged() || ev.GetAspects()[0] != inventoryv1.PhoneAspect_PHONE_ASPECT_SETTINGS {
		t.Fatalf("changed: %v", ev)
	}
	if r, _ := profile(tok); r.GetProfile().GetLanguage() != "de" || r.GetProfile().GetRevision() != newRev {
		t.Fatalf("after change: %v", r)
	}

	// Release: the first binds the token (an event), the next write nothing.
	rel := func(tok string) (*inventoryv1.AuthorizeSecretReleaseResponse, codes.Code) {
		r, err := c.AuthorizeSecretRelease(ctx, &inventoryv1.AuthorizeSecretReleaseRequest{Token: tok, Proof: inventoryv1.FetchProof_FETCH_PROOF_TOKEN_UA})
		return r, status.Code(err)
	}
	if r, code := rel(tok); code != codes.OK || !r.GetAllowed() || r.GetIdentity() != "token" {
		t.Fatalf("release: %v %v", r, code)
	}
	if ev := next(); ev.GetChangeType() != inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_BOUND || ev.GetFilesChanged() {
		t.Fatalf("bound: %v", ev)
	}
	if r, code := rel(tok); code != codes.OK || !r.GetAllowed() || s.ReleaseIdentity("001565000001") != "token" {
		t.Fatalf("second release: %v %v", r, code)
	}
	if _, code := rel("nope"); code != codes.NotFound {
		t.Fatalf("release of a bad token: %v", code)
	}
	if _, err := c.AuthorizeSecretRelease(ctx, &inventoryv1.AuthorizeSecretReleaseRequest{Token: tok, CertificateSha256: "xyz"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad certificate hash: %v", err)
	}

	// Rotation: the old token answers with grace, then not at all.
	tok2, err := s.RotateToken("001565000001", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.GetChangeType() != inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_TOKEN_ROTATED || ev.GetPreviousTokenExpireTime() == nil {
		t.Fatalf("rotated: %v", ev)
	}
	if r, code := profile(tok); code != codes.OK || !r.GetGrace() || r.GetProfile().GetProvisioningUrl() != EdgeHTTPSBase+"/p/"+tok2+"/" {
		t.Fatalf("previous token: %v %v", r, code)
	}
	if _, err := s.RotateToken("001565000001", 0); err != nil {
		t.Fatal(err)
	}
	for _, old := range []string{tok, tok2} {
		if _, code := profile(old); code != codes.NotFound {
			t.Errorf("an old token after a rotation without grace: %v", code)
		}
	}
	if s.ProfileCalls() == 0 {
		t.Error("profile calls not counted")
	}

	// The bearer token is checked.
	anon, closeAnon, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer closeAnon()
	if _, err := anon.GetProvisioningProfile(ctx, &inventoryv1.GetProvisioningProfileRequest{Token: tok}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without the bearer token: %v", err)
	}
}
