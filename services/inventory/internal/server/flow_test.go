package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
)

const mac1 = "001565aabbcc"

func tokenFromURL(t *testing.T, url string) string {
	t.Helper()
	i := strings.Index(url, "/p/")
	if i < 0 || !strings.HasSuffix(url, "/") {
		t.Fatalf("malformed provisioning URL")
	}
	return strings.TrimSuffix(url[i+3:], "/")
}

// TestAssignProvisionCycle walks the PnP flow: discovery, bootstrap URL,
// assignment with every setting, the profile, a fetch, a settings change,
// rotation with grace, unassignment and deletion.
func TestAssignProvisionCycle(t *testing.T) { backends(t, testAssignProvisionCycle) }

func testAssignProvisionCycle(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
	e := newEnv(t)
	e.seed("acme")
	a := e.admin()
	t0 := time.Now().Add(-time.Minute).UTC()
	e.discover("00:15:65:AA:BB:CC", t0)

	p := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: "phones/0015.65aa.bbcc"})).GetPhone()
	if p.GetState() != inventoryv1.PhoneState_PHONE_STATE_DISCOVERED || p.GetVendor() != "yealink" || p.GetModel() != "T54W" ||
		p.GetOrigin() != inventoryv1.PhoneOrigin_PHONE_ORIGIN_PNP || p.GetListener() != "site-a" || p.GetFirmware() != "96.86.0.100" ||
		!p.GetFirstSeenTime().AsTime().Equal(t0) || p.GetName() != "phones/"+mac1 || p.GetEtag() == "" || p.GetRevision() == 0 {
		t.Fatalf("discovered phone: %v", p)
	}
	// Bootstrap URL (listener's view) leads to a secret-free profile.
	u := must[*inventoryv1.GetProvisioningUrlResponse](t)(e.c("listener").GetProvisioningUrl(ctx(), &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + mac1}))
	if !u.GetBootstrap() || !strings.HasPrefix(u.GetUrl(), "http://prov.test:8080/p/") || u.GetPhone().GetProvisioningUrl() != "" {
		t.Fatalf("bootstrap url: %v", u)
	}
	bootTok := tokenFromURL(t, u.GetUrl())
	if len(bootTok) != 43 {
		t.Fatalf("token length %d", len(bootTok))
	}
	prof := must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: bootTok}))
	if !prof.GetProfile().GetBootstrap() || len(prof.GetProfile().GetLines()) != 0 || prof.GetProfile().GetWebPassword() != "" || prof.GetPhone() != "phones/"+mac1 {
		t.Fatalf("bootstrap profile: %v", prof)
	}

	// Assign with every seed setting.
	settings := &inventoryv1.ProvisioningSettings{
		WebPassword: "web-secret-1", Language: "de", TimeZone: "Europe/Berlin",
		SipInterface: "tenants/acme/sipInterfaces/pbx", Transport: provisioningv1.Transport_TRANSPORT_TLS,
		SaveToRps: true, Https: true,
		Codecs: []provisioningv1.Codec{provisioningv1.Codec_CODEC_G722, provisioningv1.Codec_CODEC_PCMA},
	}
	as := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: "phones/00-15-65-aa-bb-cc", Extension: "tenants/acme/extensions/100",
		AdditionalExtensions: []string{"tenants/acme/extensions/101"}, Settings: settings, Etag: p.GetEtag(),
	}))
	ap := as.GetPhone()
	if ap.GetState() != inventoryv1.PhoneState_PHONE_STATE_ASSIGNED || ap.GetTenant() != "tenants/acme" || len(ap.GetLines()) != 2 ||
		ap.GetSettings().GetWebPassword() != "" || !ap.GetSettings().GetHasWebPassword() || ap.GetRevision() <= p.GetRevision() {
		t.Fatalf("assigned phone: %v", ap)
	}
	if !strings.HasPrefix(as.GetProvisioningUrl(), "https://prov.test:8443/p/") || ap.GetProvisioningUrl() != as.GetProvisioningUrl() {
		t.Fatalf("assigned URL")
	}
	tok := tokenFromURL(t, as.GetProvisioningUrl())
	if tok == bootTok {
		t.Fatal("assignment kept the bootstrap token")
	}
	_, err := e.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: bootTok})
	wantCode(t, err, codes.NotFound, "")

	prof = must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: tok}))
	pp := prof.GetProfile()
	if pp.GetBootstrap() || !prof.GetHttpsRequired() || prof.GetGrace() || pp.GetTenant() != "tenants/acme" ||
		pp.GetWebPassword() != "web-secret-1" || pp.GetLanguage() != "de" || pp.GetTimeZone() != "Europe/Berlin" ||
		pp.GetNtpServer() != "pool.ntp.org" || pp.GetSipServer().GetHost() != "pbx.example.com" || pp.GetSipServer().GetPort() != 5061 ||
		pp.GetSipServer().GetTransport() != provisioningv1.Transport_TRANSPORT_TLS || len(pp.GetCodecs()) != 2 ||
		pp.GetProvisioningUrl() != as.GetProvisioningUrl() || pp.GetRevision() < ap.GetRevision() || pp.GetModel() != "T54W" {
		t.Fatalf("profile: %v", prof)
	}
	if len(pp.GetLines()) != 2 || pp.GetLines()[0].GetPassword() != "sip-secret-acme100" || pp.GetLines()[1].GetExtension() != "101" ||
		pp.GetLines()[0].GetAuthUser() != "100" || pp.GetLines()[0].GetDisplayName() != "Ext 100" {
		t.Fatalf("profile lines: %v", pp.GetLines())
	}
	// The same assignment again changes nothing.
	again := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: mac1, Extension: "tenants/acme/extensions/100", AdditionalExtensions: []string{"tenants/acme/extensions/101"}, Settings: settings}))
	if again.GetPhone().GetRevision() != ap.GetRevision() {
		t.Fatal("identical assignment made a new revision")
	}

	// A bootstrap fetch and a stale fetch change nothing; a current fetch provisions.
	fetch := func(rev int64, bootstrap bool, at time.Time) {
		t.Helper()
		if err := e.srv.HandleConfigFetched(context.Background(), &eventsv1.ConfigFetched{
			Mac: mac1, FileName: mac1 + ".cfg", SourceAddress: "198.18.0.10:40000", UserAgent: "Yealink",
			Revision: rev, Bootstrap: bootstrap, FetchTime: timestamppb.New(at)}); err != nil {
			t.Fatal(err)
		}
	}
	fetch(pp.GetRevision(), true, time.Now())
	fetch(pp.GetRevision()-1, false, time.Now())
	if got := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone(); got.GetState() != inventoryv1.PhoneState_PHONE_STATE_ASSIGNED {
		t.Fatalf("state after stale fetch: %v", got.GetState())
	}
	fetchAt := time.Now().UTC()
	fetch(pp.GetRevision(), false, fetchAt)
	got := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	if got.GetState() != inventoryv1.PhoneState_PHONE_STATE_PROVISIONED || got.GetLastFetch().GetFileName() != mac1+".cfg" ||
		!got.GetProvisionedTime().AsTime().Equal(fetchAt) || got.GetLastFetch().GetSourceAddress() != "198.18.0.10:40000" {
		t.Fatalf("provisioned: %v", got)
	}
	// Redelivery of the same fetch changes nothing.
	fetch(pp.GetRevision(), false, fetchAt)
	if g2 := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone(); g2.GetRevision() != got.GetRevision() {
		t.Fatal("redelivered fetch made a new revision")
	}
	// A later discovery refreshes the LAN facts but keeps state and tenant.
	e.discover(mac1, time.Now())
	g3 := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	if g3.GetState() != inventoryv1.PhoneState_PHONE_STATE_PROVISIONED || g3.GetTenant() != "tenants/acme" || !g3.GetFirstSeenTime().AsTime().Equal(t0) {
		t.Fatalf("discovery downgraded: %v", g3)
	}

	// A settings change returns the phone to ASSIGNED; the web password stays.
	up := must[*inventoryv1.UpdatePhoneResponse](t)(a.UpdatePhone(ctx(), &inventoryv1.UpdatePhoneRequest{
		Phone:      &inventoryv1.Phone{Name: "phones/" + mac1, Settings: &inventoryv1.ProvisioningSettings{Language: "fr"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.language"}},
	})).GetPhone()
	if up.GetState() != inventoryv1.PhoneState_PHONE_STATE_ASSIGNED || up.GetSettings().GetLanguage() != "fr" || !up.GetSettings().GetHasWebPassword() ||
		up.GetSettings().GetTimeZone() != "Europe/Berlin" {
		t.Fatalf("updated: %v", up)
	}
	// A stale etag is refused.
	_, err = a.UpdatePhone(ctx(), &inventoryv1.UpdatePhoneRequest{
		Phone:      &inventoryv1.Phone{Name: mac1, Etag: ap.GetEtag(), Model: "T57W"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"model"}}})
	wantCode(t, err, codes.Aborted, "etag")

	// Rotation: the old token works during the grace period.
	rot := must[*inventoryv1.RotateProvisioningTokenResponse](t)(a.RotateProvisioningToken(ctx(), &inventoryv1.RotateProvisioningTokenRequest{
		Name: mac1, GracePeriod: durationpb.New(time.Hour)}))
	newTok := tokenFromURL(t, rot.GetProvisioningUrl())
	if newTok == tok {
		t.Fatal("rotation kept the token")
	}
	old := must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: tok}))
	if !old.GetGrace() || old.GetProfile().GetProvisioningUrl() != rot.GetProvisioningUrl() {
		t.Fatalf("grace profile: grace=%v", old.GetGrace())
	}
	cur := must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: newTok}))
	if cur.GetGrace() {
		t.Fatal("current token reported as grace")
	}
	// Rotation without grace: the previous token stops at once.
	rot2 := must[*inventoryv1.RotateProvisioningTokenResponse](t)(a.RotateProvisioningToken(ctx(), &inventoryv1.RotateProvisioningTokenRequest{
		Name: mac1, GracePeriod: durationpb.New(0)}))
	for _, old := range []string{tok, newTok} {
		_, err = e.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: old})
		wantCode(t, err, codes.NotFound, "")
	}

	// RPS status is recorded; a redelivery changes nothing.
	rps := &eventsv1.RpsResult{Mac: mac1, Vendor: "yealink", State: rpsv1.RegistrationState_REGISTRATION_STATE_REGISTERED, Time: timestamppb.Now()}
	if err := e.srv.HandleRpsResult(context.Background(), rps); err != nil {
		t.Fatal(err)
	}
	g4 := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	if g4.GetRpsStatus().GetState() != rpsv1.RegistrationState_REGISTRATION_STATE_REGISTERED {
		t.Fatalf("rps status: %v", g4.GetRpsStatus())
	}
	_ = e.srv.HandleRpsResult(context.Background(), rps)
	if g5 := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone(); g5.GetRevision() != g4.GetRevision() {
		t.Fatal("redelivered RPS result made a new revision")
	}

	// Unassign: back to DISCOVERED with a bootstrap profile; the token no longer yields secrets.
	un := must[*inventoryv1.UnassignPhoneResponse](t)(a.UnassignPhone(ctx(), &inventoryv1.UnassignPhoneRequest{Name: mac1})).GetPhone()
	if un.GetState() != inventoryv1.PhoneState_PHONE_STATE_DISCOVERED || un.GetTenant() != "" || len(un.GetLines()) != 0 {
		t.Fatalf("unassigned: %v", un)
	}
	bp := must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: tokenFromURL(t, rot2.GetProvisioningUrl())}))
	if !bp.GetProfile().GetBootstrap() || len(bp.GetProfile().GetLines()) != 0 || bp.GetProfile().GetWebPassword() != "" {
		t.Fatalf("profile after unassign: %v", bp)
	}
	// Extensions are free again; the phone can be deleted.
	must[*inventoryv1.DeleteExtensionResponse](t)(a.DeleteExtension(ctx(), &inventoryv1.DeleteExtensionRequest{Name: "tenants/acme/extensions/101"}))
	must[*inventoryv1.DeletePhoneResponse](t)(a.DeletePhone(ctx(), &inventoryv1.DeletePhoneRequest{Name: mac1}))
	_, err = a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})
	wantCode(t, err, codes.NotFound, "")
}

// TestManualFlow: CreatePhone with lines (origin MANUAL), assign with a new
// extension in the same call, and the "same kind of thing twice" refusals.
func TestManualFlow(t *testing.T) { backends(t, testManualFlow) }

func testManualFlow(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
	e := newEnv(t)
	e.seed("acme")
	a := e.admin()
	cp := must[*inventoryv1.CreatePhoneResponse](t)(a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{
		Mac: "00:04:F2:11:22:33", Model: "VVX450",
		Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: "tenants/acme/extensions/100"}},
	}})).GetPhone()
	if cp.GetVendor() != "poly" || cp.GetOrigin() != inventoryv1.PhoneOrigin_PHONE_ORIGIN_MANUAL || cp.GetState() != inventoryv1.PhoneState_PHONE_STATE_ASSIGNED ||
		cp.GetTenant() != "tenants/acme" || cp.GetSettings().GetSipInterface() != "tenants/acme/sipInterfaces/pbx" ||
		!strings.HasPrefix(cp.GetProvisioningUrl(), "http://prov.test:8080/p/") {
		t.Fatalf("created: %v", cp)
	}
	_, err := a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "0004f2112233", Model: "VVX450"}})
	wantCode(t, err, codes.AlreadyExists, "")
	// A MAC in no vendor's IEEE block: the vendor is required.
	_, err = a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "020000000001", Model: "CP-8851-3PCC"}})
	wantCode(t, err, codes.InvalidArgument, "phone.vendor")
	_, err = a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "020000000001", Model: "X1", Vendor: "Acme"}})
	wantCode(t, err, codes.InvalidArgument, "phone.vendor")
	// Cisco's blocks are in the table (platform/vendorid): no vendor needed.
	cisco := must[*inventoryv1.CreatePhoneResponse](t)(a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "00562b000001", Model: "CP-8851-3PCC"}})).GetPhone()
	if cisco.GetState() != inventoryv1.PhoneState_PHONE_STATE_DISCOVERED || cisco.GetVendor() != "cisco" {
		t.Fatalf("cisco: %v", cisco)
	}
	as := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: "phones/00562b000001", Tenant: "tenants/acme",
		CreateExtension: &inventoryv1.Extension{Number: "200", DisplayName: "Reception", SipPassword: "pw-200"},
	}))
	if as.GetPhone().GetLines()[0].GetExtension() != "tenants/acme/extensions/200" {
		t.Fatalf("lines %v", as.GetPhone().GetLines())
	}
	ext := must[*inventoryv1.GetExtensionResponse](t)(a.GetExtension(ctx(), &inventoryv1.GetExtensionRequest{Name: "tenants/acme/extensions/200"})).GetExtension()
	if !ext.GetHasSipPassword() || ext.GetSipPassword() != "" {
		t.Fatalf("extension: %v", ext)
	}
	// Creating the same extension again fails, and so does the whole assignment.
	_, err = a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: "phones/0004f2112233", Tenant: "tenants/acme", CreateExtension: &inventoryv1.Extension{Number: "200"}})
	wantCode(t, err, codes.AlreadyExists, "200")
	// Cascade decision: a referenced extension cannot be deleted.
	_, err = a.DeleteExtension(ctx(), &inventoryv1.DeleteExtensionRequest{Name: "tenants/acme/extensions/200"})
	wantCode(t, err, codes.FailedPrecondition, "referenced")
	_, err = a.DeleteSipInterface(ctx(), &inventoryv1.DeleteSipInterfaceRequest{Name: "tenants/acme/sipInterfaces/pbx"})
	wantCode(t, err, codes.FailedPrecondition, "referenced")
	_, err = a.DeleteTenant(ctx(), &inventoryv1.DeleteTenantRequest{Name: "tenants/acme"})
	wantCode(t, err, codes.FailedPrecondition, "referenced")
	// A phone of one tenant cannot be assigned into another.
	e.seed("beta")
	_, err = a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: "phones/00562b000001", Extension: "tenants/beta/extensions/100"})
	wantCode(t, err, codes.FailedPrecondition, "unassign")
	// Updating an extension marks the phones using it changed (ASSIGNED again, new revision).
	before := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: "00562b000001"})).GetPhone()
	must[*inventoryv1.UpdateExtensionResponse](t)(a.UpdateExtension(ctx(), &inventoryv1.UpdateExtensionRequest{
		Extension: &inventoryv1.Extension{Name: "tenants/acme/extensions/200", SipPassword: "pw-200-new"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"sip_password"}}}))
	after := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: "00562b000001"})).GetPhone()
	if after.GetRevision() <= before.GetRevision() {
		t.Fatal("extension change did not touch its phone")
	}
}

func TestDiscoveryIdempotentAndOrdered(t *testing.T) {
	e := newEnv(t)
	a := e.admin()
	t1 := time.Now().Add(-time.Hour)
	e.discover(mac1, t1)
	p1 := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	e.discover(mac1, t1)                   // redelivery
	e.discover(mac1, t1.Add(-time.Minute)) // older, out of order
	p2 := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	if p2.GetRevision() != p1.GetRevision() {
		t.Fatalf("redelivery changed the phone: %d -> %d", p1.GetRevision(), p2.GetRevision())
	}
	e.discover(mac1, t1.Add(time.Minute))
	p3 := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	if p3.GetRevision() <= p2.GetRevision() || !p3.GetLastSeenTime().AsTime().Equal(t1.Add(time.Minute)) {
		t.Fatalf("newer discovery not applied: %v", p3)
	}
	// Invalid MACs are dropped (acknowledged), not retried.
	if err := e.srv.HandleDiscovered(context.Background(), &eventsv1.PhoneDiscovered{Mac: "nope"}); err != nil {
		t.Fatal(err)
	}
	// Unknown vendor from the event: the OUI decides (Snom here).
	if err := e.srv.HandleDiscovered(context.Background(), &eventsv1.PhoneDiscovered{Mac: "000413000001", Vendor: "???", ObservedTime: timestamppb.Now()}); err != nil {
		t.Fatal(err)
	}
	if v := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: "000413000001"})).GetPhone().GetVendor(); v != "snom" {
		t.Fatalf("vendor %q", v)
	}
}

func TestBootstrapOff(t *testing.T) { backends(t, testBootstrapOff) }

func testBootstrapOff(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
	e := newEnv(t, func(c *serverConfig, _ *serverOptions) { c.Bootstrap = false })
	e.seed("acme")
	e.discover(mac1, time.Now())
	u := must[*inventoryv1.GetProvisioningUrlResponse](t)(e.c("service").GetProvisioningUrl(ctx(), &inventoryv1.GetProvisioningUrlRequest{Name: mac1}))
	if u.GetUrl() != "" || u.GetPhone().GetProvisioningUrl() != "" {
		t.Fatalf("unassigned phone got a URL with bootstrap off")
	}
	_, err := e.admin().RotateProvisioningToken(ctx(), &inventoryv1.RotateProvisioningTokenRequest{Name: mac1})
	wantCode(t, err, codes.FailedPrecondition, "")
	as := must[*inventoryv1.AssignPhoneResponse](t)(e.admin().AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, Extension: "tenants/acme/extensions/100"}))
	if as.GetProvisioningUrl() == "" {
		t.Fatal("assigned phone has no URL")
	}
	un := must[*inventoryv1.UnassignPhoneResponse](t)(e.admin().UnassignPhone(ctx(), &inventoryv1.UnassignPhoneRequest{Name: mac1}))
	_ = un
	_, err = e.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: tokenFromURL(t, as.GetProvisioningUrl())})
	wantCode(t, err, codes.NotFound, "")
}

func TestHTTPSNeedsEdge(t *testing.T) {
	e := newEnv(t, func(c *serverConfig, _ *serverOptions) { c.EdgeHTTPSBase = "" })
	e.seed("acme")
	e.discover(mac1, time.Now())
	_, err := e.admin().AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, Extension: "tenants/acme/extensions/100",
		Settings: &inventoryv1.ProvisioningSettings{Https: true}})
	wantCode(t, err, codes.FailedPrecondition, "settings.https")
}
