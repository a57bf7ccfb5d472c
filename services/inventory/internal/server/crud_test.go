package server_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
)

// TestTenantsInterfacesExtensionsCRUD: the happy paths of the tenant,
// interface and extension RPCs, masks, etags and write-only secrets.
func TestTenantsInterfacesExtensionsCRUD(t *testing.T) {
	e := newEnv(t)
	a := e.admin()
	tn := must[*inventoryv1.CreateTenantResponse](t)(a.CreateTenant(ctx(), &inventoryv1.CreateTenantRequest{TenantId: "acme",
		Tenant: &inventoryv1.Tenant{DisplayName: "ACME", DefaultSettings: &inventoryv1.ProvisioningSettings{WebPassword: "tenant-web", Language: "EN-us"}}})).GetTenant()
	if tn.GetName() != "tenants/acme" || tn.GetDefaultSettings().GetWebPassword() != "" || !tn.GetDefaultSettings().GetHasWebPassword() ||
		tn.GetDefaultSettings().GetLanguage() != "en-US" || tn.GetCreateTime() == nil || tn.GetEtag() == "" {
		t.Fatalf("created tenant: %v", tn)
	}
	_, err := a.CreateTenant(ctx(), &inventoryv1.CreateTenantRequest{TenantId: "acme"})
	wantCode(t, err, codes.AlreadyExists, "")
	got := must[*inventoryv1.GetTenantResponse](t)(a.GetTenant(ctx(), &inventoryv1.GetTenantRequest{Name: "tenants/acme"})).GetTenant()
	if got.GetEtag() != tn.GetEtag() || got.GetDisplayName() != "ACME" {
		t.Fatalf("get tenant: %v", got)
	}
	si := must[*inventoryv1.CreateSipInterfaceResponse](t)(a.CreateSipInterface(ctx(), &inventoryv1.CreateSipInterfaceRequest{
		Parent: "tenants/acme", SipInterfaceId: "pbx", SipInterface: &inventoryv1.SipInterface{Host: "10.1.2.3", UdpPort: 5060, TcpPort: 5060,
			OutboundProxy: "sbc.example.com:5070", RegistrationExpiry: durationpb.New(10 * time.Minute)}})).GetSipInterface()
	if si.GetName() != "tenants/acme/sipInterfaces/pbx" {
		t.Fatalf("interface: %v", si)
	}
	// Full update (empty mask) of the tenant keeps the write-only web password.
	up := must[*inventoryv1.UpdateTenantResponse](t)(a.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{Tenant: &inventoryv1.Tenant{
		Name: "tenants/acme", Etag: got.GetEtag(), DisplayName: "ACME Corp", NtpServer: "ntp.example.com",
		DefaultSettings: &inventoryv1.ProvisioningSettings{SipInterface: si.GetName(), Transport: provisioningv1.Transport_TRANSPORT_TCP}}})).GetTenant()
	if up.GetDisplayName() != "ACME Corp" || !up.GetDefaultSettings().GetHasWebPassword() || up.GetDefaultSettings().GetLanguage() != "" || up.GetEtag() == got.GetEtag() {
		t.Fatalf("updated tenant: %v", up)
	}
	// Masked update touches only the named field.
	up2 := must[*inventoryv1.UpdateTenantResponse](t)(a.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{
		Tenant:     &inventoryv1.Tenant{Name: "tenants/acme", DisplayName: "ignored", DefaultSettings: &inventoryv1.ProvisioningSettings{Language: "de"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"default_settings.language"}}})).GetTenant()
	if up2.GetDisplayName() != "ACME Corp" || up2.GetDefaultSettings().GetLanguage() != "de" || up2.GetDefaultSettings().GetSipInterface() != si.GetName() {
		t.Fatalf("masked update: %v", up2)
	}
	_, err = a.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{Tenant: &inventoryv1.Tenant{Name: "tenants/acme", Etag: got.GetEtag()}})
	wantCode(t, err, codes.Aborted, "etag")

	// Interfaces: get, masked update, refusal to drop a used transport.
	g := must[*inventoryv1.GetSipInterfaceResponse](t)(a.GetSipInterface(ctx(), &inventoryv1.GetSipInterfaceRequest{Name: si.GetName()})).GetSipInterface()
	if g.GetOutboundProxy() != "sbc.example.com:5070" || g.GetRegistrationExpiry().AsDuration() != 10*time.Minute {
		t.Fatalf("get interface: %v", g)
	}
	_, err = a.UpdateSipInterface(ctx(), &inventoryv1.UpdateSipInterfaceRequest{SipInterface: &inventoryv1.SipInterface{Name: si.GetName()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"tcp_port"}}})
	wantCode(t, err, codes.FailedPrecondition, "tenant default")
	u := must[*inventoryv1.UpdateSipInterfaceResponse](t)(a.UpdateSipInterface(ctx(), &inventoryv1.UpdateSipInterfaceRequest{
		SipInterface: &inventoryv1.SipInterface{Name: si.GetName(), Host: "pbx.example.com", Etag: g.GetEtag()},
		UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"host"}}})).GetSipInterface()
	if u.GetHost() != "pbx.example.com" || u.GetUdpPort() != 5060 {
		t.Fatalf("updated interface: %v", u)
	}

	// Extensions: a full update without a password keeps it.
	x := must[*inventoryv1.CreateExtensionResponse](t)(a.CreateExtension(ctx(), &inventoryv1.CreateExtensionRequest{Parent: "tenants/acme",
		Extension: &inventoryv1.Extension{Number: "100", DisplayName: "Alice", AuthUser: "alice", SipPassword: "pw"}})).GetExtension()
	_, err = a.CreateExtension(ctx(), &inventoryv1.CreateExtensionRequest{Parent: "tenants/acme", Extension: &inventoryv1.Extension{Number: "100"}})
	wantCode(t, err, codes.AlreadyExists, "")
	ux := must[*inventoryv1.UpdateExtensionResponse](t)(a.UpdateExtension(ctx(), &inventoryv1.UpdateExtensionRequest{
		Extension: &inventoryv1.Extension{Name: x.GetName(), DisplayName: "Alice B", Etag: x.GetEtag()}})).GetExtension()
	if ux.GetDisplayName() != "Alice B" || !ux.GetHasSipPassword() || ux.GetAuthUser() != "" || ux.GetNumber() != "100" {
		t.Fatalf("updated extension: %v", ux)
	}
	cleared := must[*inventoryv1.UpdateExtensionResponse](t)(a.UpdateExtension(ctx(), &inventoryv1.UpdateExtensionRequest{
		Extension: &inventoryv1.Extension{Name: x.GetName()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"sip_password"}}})).GetExtension()
	if cleared.GetHasSipPassword() {
		t.Fatal("masked update did not clear the password")
	}

	// Deletes: referenced records first refuse, then go in order.
	_, err = a.DeleteTenant(ctx(), &inventoryv1.DeleteTenantRequest{Name: "tenants/acme"})
	wantCode(t, err, codes.FailedPrecondition, "")
	_, err = a.DeleteSipInterface(ctx(), &inventoryv1.DeleteSipInterfaceRequest{Name: si.GetName()})
	wantCode(t, err, codes.FailedPrecondition, "") // the tenant default names it
	must[*inventoryv1.UpdateTenantResponse](t)(a.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{Tenant: &inventoryv1.Tenant{Name: "tenants/acme"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"default_settings"}}}))
	_, err = a.DeleteSipInterface(ctx(), &inventoryv1.DeleteSipInterfaceRequest{Name: si.GetName(), Etag: "1"})
	wantCode(t, err, codes.Aborted, "")
	must[*inventoryv1.DeleteSipInterfaceResponse](t)(a.DeleteSipInterface(ctx(), &inventoryv1.DeleteSipInterfaceRequest{Name: si.GetName()}))
	must[*inventoryv1.DeleteExtensionResponse](t)(a.DeleteExtension(ctx(), &inventoryv1.DeleteExtensionRequest{Name: x.GetName()}))
	last := must[*inventoryv1.GetTenantResponse](t)(a.GetTenant(ctx(), &inventoryv1.GetTenantRequest{Name: "tenants/acme"})).GetTenant()
	must[*inventoryv1.DeleteTenantResponse](t)(a.DeleteTenant(ctx(), &inventoryv1.DeleteTenantRequest{Name: "tenants/acme", Etag: last.GetEtag()}))
	_, err = a.GetTenant(ctx(), &inventoryv1.GetTenantRequest{Name: "tenants/acme"})
	wantCode(t, err, codes.NotFound, "")
	if ts := must[*inventoryv1.ListTenantsResponse](t)(a.ListTenants(ctx(), &inventoryv1.ListTenantsRequest{})).GetTenants(); len(ts) != 0 {
		t.Fatalf("tenants left: %v", ts)
	}
}
