package server_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
)

// TestReassignKeepsSettings: AssignPhone on a phone that already has
// settings keeps those the request does not give (the rule written on
// AssignPhoneRequest.settings); a phone without settings takes the tenant
// defaults.
func TestReassignKeepsSettings(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	a := e.admin()
	e.discover(mac1, time.Now())
	full := &inventoryv1.ProvisioningSettings{
		WebPassword: "web-secret-1", Language: "de", TimeZone: "Europe/Berlin",
		SipInterface: "tenants/acme/sipInterfaces/pbx", Transport: provisioningv1.Transport_TRANSPORT_TLS,
		Https: true, SaveToRps: true,
		Codecs: []provisioningv1.Codec{provisioningv1.Codec_CODEC_G722, provisioningv1.Codec_CODEC_PCMA},
	}
	first := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: mac1, Extension: "tenants/acme/extensions/100", Settings: full}))

	// One setting given (as "phones assign MAC --transport udp" sends it):
	// only that one changes, and a second line is added.
	got := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: mac1, Extension: "tenants/acme/extensions/100", AdditionalExtensions: []string{"tenants/acme/extensions/101"},
		Settings: &inventoryv1.ProvisioningSettings{Transport: provisioningv1.Transport_TRANSPORT_UDP}})).GetPhone()
	s := got.GetSettings()
	if s.GetTransport() != provisioningv1.Transport_TRANSPORT_UDP || s.GetLanguage() != "de" || s.GetTimeZone() != "Europe/Berlin" ||
		!s.GetHasWebPassword() || !s.GetHttps() || !s.GetSaveToRps() || len(s.GetCodecs()) != 2 ||
		s.GetSipInterface() != "tenants/acme/sipInterfaces/pbx" || len(got.GetLines()) != 2 {
		t.Fatalf("re-assigned with one setting: %v", got)
	}
	prof := must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(),
		&inventoryv1.GetProvisioningProfileRequest{Token: tokenFromURL(t, first.GetProvisioningUrl())})).GetProfile()
	if prof.GetWebPassword() != "web-secret-1" || prof.GetLanguage() != "de" || prof.GetSipServer().GetTransport() != provisioningv1.Transport_TRANSPORT_UDP {
		t.Fatalf("profile after re-assignment: web password kept %v, language %q, transport %v",
			prof.GetWebPassword() == "web-secret-1", prof.GetLanguage(), prof.GetSipServer().GetTransport())
	}

	// No settings at all: every stored one is kept, and the same lines
	// again is no change.
	again := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: mac1, Extension: "tenants/acme/extensions/100", AdditionalExtensions: []string{"tenants/acme/extensions/101"}})).GetPhone()
	if !proto.Equal(again.GetSettings(), s) || again.GetRevision() != got.GetRevision() {
		t.Fatalf("re-assigned without settings: %v (revision %d, was %d)", again.GetSettings(), again.GetRevision(), got.GetRevision())
	}

	// A given value replaces the stored one; a new web password too.
	re := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: mac1, Extension: "tenants/acme/extensions/100",
		Settings: &inventoryv1.ProvisioningSettings{Language: "FR", WebPassword: "web-secret-2"}})).GetPhone()
	if re.GetSettings().GetLanguage() != "fr" || re.GetSettings().GetTimeZone() != "Europe/Berlin" || len(re.GetLines()) != 1 {
		t.Fatalf("re-assigned with a language: %v", re)
	}
	prof = must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(),
		&inventoryv1.GetProvisioningProfileRequest{Token: tokenFromURL(t, first.GetProvisioningUrl())})).GetProfile()
	if prof.GetWebPassword() != "web-secret-2" {
		t.Fatal("a web password given on re-assignment was not taken")
	}

	// Unassigned, the phone has no settings: the next assignment starts
	// from the tenant defaults.
	must[*inventoryv1.UnassignPhoneResponse](t)(a.UnassignPhone(ctx(), &inventoryv1.UnassignPhoneRequest{Name: mac1}))
	fresh := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: mac1, Extension: "tenants/acme/extensions/100"})).GetPhone()
	if fs := fresh.GetSettings(); fs.GetLanguage() != "" || fs.GetHasWebPassword() || fs.GetHttps() || len(fs.GetCodecs()) != 0 {
		t.Fatalf("assignment after unassign kept old settings: %v", fs)
	}
}

// updatedEvents counts the PhoneChanged UPDATED events for mac waiting in
// the outbox (no relay runs in these tests): each makes pnp-listener send
// the phone a check-sync.
func (e *env) updatedEvents(mac string) int {
	e.t.Helper()
	out, err := e.st.Outbox(ctx(), 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, m := range out {
		ev := &eventsv1.PhoneChanged{}
		if proto.Unmarshal(m.Data, ev) != nil {
			continue
		}
		if ev.GetPhone().GetMac() == mac && ev.GetChangeType() == inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UPDATED {
			n++
		}
	}
	return n
}

// TestEditsTriggerCheckSync: every edit that changes an assigned phone's
// files (its settings, its extension, its SIP interface, its tenant's NTP
// server or defaults) writes an UPDATED event for it; edits that do not
// (the same value again) write none.
func TestEditsTriggerCheckSync(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	a := e.admin()
	e.discover(mac1, time.Now())
	must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: mac1, Extension: "tenants/acme/extensions/100"}))
	mask := func(p ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: p} }
	edits := []struct {
		name string
		do   func() error
		want int
	}{
		{"UpdatePhone settings.language", func() error {
			_, err := a.UpdatePhone(ctx(), &inventoryv1.UpdatePhoneRequest{Phone: &inventoryv1.Phone{Name: mac1,
				Settings: &inventoryv1.ProvisioningSettings{Language: "de"}}, UpdateMask: mask("settings.language")})
			return err
		}, 1},
		{"UpdatePhone same language again", func() error {
			_, err := a.UpdatePhone(ctx(), &inventoryv1.UpdatePhoneRequest{Phone: &inventoryv1.Phone{Name: mac1,
				Settings: &inventoryv1.ProvisioningSettings{Language: "de"}}, UpdateMask: mask("settings.language")})
			return err
		}, 0},
		{"UpdateExtension sip_password", func() error {
			_, err := a.UpdateExtension(ctx(), &inventoryv1.UpdateExtensionRequest{Extension: &inventoryv1.Extension{
				Name: "tenants/acme/extensions/100", SipPassword: "new-secret"}, UpdateMask: mask("sip_password")})
			return err
		}, 1},
		{"UpdateExtension display_name", func() error {
			_, err := a.UpdateExtension(ctx(), &inventoryv1.UpdateExtensionRequest{Extension: &inventoryv1.Extension{
				Name: "tenants/acme/extensions/100", DisplayName: "Reception"}, UpdateMask: mask("display_name")})
			return err
		}, 1},
		{"UpdateSipInterface host", func() error {
			_, err := a.UpdateSipInterface(ctx(), &inventoryv1.UpdateSipInterfaceRequest{SipInterface: &inventoryv1.SipInterface{
				Name: "tenants/acme/sipInterfaces/pbx", Host: "pbx-new.example.com"}, UpdateMask: mask("host")})
			return err
		}, 1},
		{"UpdateTenant ntp_server", func() error {
			_, err := a.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{Tenant: &inventoryv1.Tenant{
				Name: "tenants/acme", NtpServer: "ntp2.example.com"}, UpdateMask: mask("ntp_server")})
			return err
		}, 1},
		{"UpdateTenant default_settings.time_zone", func() error {
			_, err := a.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{Tenant: &inventoryv1.Tenant{
				Name: "tenants/acme", DefaultSettings: &inventoryv1.ProvisioningSettings{TimeZone: "Europe/Paris"}},
				UpdateMask: mask("default_settings.time_zone")})
			return err
		}, 1},
		{"AssignPhone one setting", func() error {
			_, err := a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, Extension: "tenants/acme/extensions/100",
				Settings: &inventoryv1.ProvisioningSettings{TimeZone: "Europe/Rome"}})
			return err
		}, 0}, // ASSIGNED, not UPDATED: pnp-listener sends the URL NOTIFY for both
	}
	for _, ed := range edits {
		before := e.updatedEvents(mac1)
		if err := ed.do(); err != nil {
			t.Fatalf("%s: %v", ed.name, err)
		}
		if got := e.updatedEvents(mac1) - before; got != ed.want {
			t.Errorf("%s: %d UPDATED event(s), want %d", ed.name, got, ed.want)
		}
	}
	p := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	if p.GetSettings().GetLanguage() != "de" || p.GetSettings().GetTimeZone() != "Europe/Rome" ||
		!slices.Equal(p.GetSettings().GetCodecs(), nil) {
		t.Fatalf("phone after edits: %v", p.GetSettings())
	}
}
