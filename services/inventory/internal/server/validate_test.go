package server_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
)

// TestValidation sends each kind of invalid input and checks that it is
// refused with InvalidArgument naming the field, and that nothing changed.
func TestValidation(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	e.seed("beta")
	e.discover(mac1, time.Now())
	a := e.admin()
	// A TCP-less second interface, for the transport check.
	must[*inventoryv1.CreateSipInterfaceResponse](t)(a.CreateSipInterface(ctx(), &inventoryv1.CreateSipInterfaceRequest{
		Parent: "tenants/acme", SipInterfaceId: "udp-only", SipInterface: &inventoryv1.SipInterface{Host: "10.0.0.1", UdpPort: 5060}}))
	long := strings.Repeat("x", 300)
	assign := func(ps *inventoryv1.ProvisioningSettings) func() error {
		return func() error {
			_, err := a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, Extension: "tenants/acme/extensions/100", Settings: ps})
			return err
		}
	}
	ext := func(x *inventoryv1.Extension) func() error {
		return func() error {
			_, err := a.CreateExtension(ctx(), &inventoryv1.CreateExtensionRequest{Parent: "tenants/acme", Extension: x})
			return err
		}
	}
	iface := func(id string, si *inventoryv1.SipInterface) func() error {
		return func() error {
			_, err := a.CreateSipInterface(ctx(), &inventoryv1.CreateSipInterfaceRequest{Parent: "tenants/acme", SipInterfaceId: id, SipInterface: si})
			return err
		}
	}
	cases := []struct {
		name  string
		call  func() error
		field string
	}{
		{"mac bad hex", func() error {
			_, err := a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: "phones/00:15:65:aa:bb:zz"})
			return err
		}, "name"},
		{"mac mixed separators", func() error {
			_, err := a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: "00:15-65:aa:bb:cc"})
			return err
		}, "name"},
		{"mac too short", func() error {
			_, err := a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "001565aabb", Model: "T54W"}})
			return err
		}, "phone.mac"},
		{"model missing", func() error {
			_, err := a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "001565000001"}})
			return err
		}, "phone.model"},
		{"model too long", func() error {
			_, err := a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "001565000001", Model: long}})
			return err
		}, "phone.model"},
		{"unknown vendor", func() error {
			_, err := a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "001565000001", Model: "X", Vendor: "acme-phones"}})
			return err
		}, "phone.vendor"},
		{"line index 0", func() error {
			_, err := a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "001565000001", Model: "T54W",
				Lines: []*inventoryv1.PhoneLine{{Index: 0, Extension: "tenants/acme/extensions/100"}}}})
			return err
		}, "phone.lines[0].index"},
		{"line of another tenant", func() error {
			_, err := a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "001565000001", Model: "T54W", Tenant: "tenants/acme",
				Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: "tenants/beta/extensions/100"}}}})
			return err
		}, "phone.lines[0].extension"},
		{"missing extension", func() error {
			_, err := a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, Extension: "tenants/acme/extensions/999"})
			return err
		}, "extension: extension \"tenants/acme/extensions/999\" does not exist"},
		{"missing additional extension", func() error {
			_, err := a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, Extension: "tenants/acme/extensions/100",
				AdditionalExtensions: []string{"tenants/acme/extensions/101", "tenants/acme/extensions/998"}})
			return err
		}, "additional_extensions[1]: extension"},
		{"extension twice", func() error {
			_, err := a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, Extension: "tenants/acme/extensions/100",
				AdditionalExtensions: []string{"tenants/acme/extensions/100"}})
			return err
		}, "additional_extensions[0]: extension 100 is on two lines"},
		{"no extension", func() error { _, err := a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1}); return err }, "extension"},
		{"create_extension without tenant", func() error {
			_, err := a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, CreateExtension: &inventoryv1.Extension{Number: "300"}})
			return err
		}, "tenant"},
		{"bad time zone", assign(&inventoryv1.ProvisioningSettings{TimeZone: "Mars/Olympus"}), "settings.time_zone"},
		{"Local time zone", assign(&inventoryv1.ProvisioningSettings{TimeZone: "Local"}), "settings.time_zone"},
		{"bad language", assign(&inventoryv1.ProvisioningSettings{Language: "klingon"}), "settings.language"},
		{"duplicate codec", assign(&inventoryv1.ProvisioningSettings{Codecs: []provisioningv1.Codec{provisioningv1.Codec_CODEC_PCMU, provisioningv1.Codec_CODEC_PCMU}}), "settings.codecs[1]"},
		{"unknown codec", assign(&inventoryv1.ProvisioningSettings{Codecs: []provisioningv1.Codec{99}}), "settings.codecs[0]"},
		{"unknown transport", assign(&inventoryv1.ProvisioningSettings{Transport: 9}), "settings.transport"},
		{"transport not offered", assign(&inventoryv1.ProvisioningSettings{SipInterface: "tenants/acme/sipInterfaces/udp-only", Transport: provisioningv1.Transport_TRANSPORT_TLS}), "settings.transport"},
		{"interface of another tenant", assign(&inventoryv1.ProvisioningSettings{SipInterface: "tenants/beta/sipInterfaces/pbx"}), "settings.sip_interface"},
		{"missing interface", assign(&inventoryv1.ProvisioningSettings{SipInterface: "tenants/acme/sipInterfaces/nope"}), "settings.sip_interface"},
		{"malformed interface", assign(&inventoryv1.ProvisioningSettings{SipInterface: "pbx"}), "settings.sip_interface"},
		{"web password too long", assign(&inventoryv1.ProvisioningSettings{WebPassword: long}), "settings.web_password"},
		{"web password control char", assign(&inventoryv1.ProvisioningSettings{WebPassword: "a\nb"}), "settings.web_password"},
		{"tenant id uppercase", func() error {
			_, err := a.CreateTenant(ctx(), &inventoryv1.CreateTenantRequest{TenantId: "ACME"})
			return err
		}, "tenant_id"},
		{"tenant id with slash", func() error {
			_, err := a.CreateTenant(ctx(), &inventoryv1.CreateTenantRequest{TenantId: "a/b"})
			return err
		}, "tenant_id"},
		{"tenant display name too long", func() error {
			_, err := a.CreateTenant(ctx(), &inventoryv1.CreateTenantRequest{TenantId: "gamma", Tenant: &inventoryv1.Tenant{DisplayName: long}})
			return err
		}, "tenant.display_name"},
		{"tenant ntp server", func() error {
			_, err := a.CreateTenant(ctx(), &inventoryv1.CreateTenantRequest{TenantId: "gamma", Tenant: &inventoryv1.Tenant{NtpServer: "not a host"}})
			return err
		}, "tenant.ntp_server"},
		{"tenant default language", func() error {
			_, err := a.CreateTenant(ctx(), &inventoryv1.CreateTenantRequest{TenantId: "gamma", Tenant: &inventoryv1.Tenant{DefaultSettings: &inventoryv1.ProvisioningSettings{Language: "xx"}}})
			return err
		}, "tenant.default_settings.language"},
		{"extension number with space", ext(&inventoryv1.Extension{Number: "1 2"}), "extension.number"},
		{"extension number too long", ext(&inventoryv1.Extension{Number: strings.Repeat("1", 33)}), "extension.number"},
		{"extension number empty", ext(&inventoryv1.Extension{}), "extension.number"},
		{"extension display name control", ext(&inventoryv1.Extension{Number: "300", DisplayName: "a\x00b"}), "extension.display_name"},
		{"extension auth user", ext(&inventoryv1.Extension{Number: "300", AuthUser: "a b"}), "extension.auth_user"},
		{"extension password too long", ext(&inventoryv1.Extension{Number: "300", SipPassword: long}), "extension.sip_password"},
		{"extension parent", func() error {
			_, err := a.CreateExtension(ctx(), &inventoryv1.CreateExtensionRequest{Parent: "acme", Extension: &inventoryv1.Extension{Number: "300"}})
			return err
		}, "parent"},
		{"interface host", iface("x1", &inventoryv1.SipInterface{Host: "bad host", UdpPort: 5060}), "sip_interface.host"},
		{"interface no port", iface("x1", &inventoryv1.SipInterface{Host: "pbx"}), "sip_interface.udp_port"},
		{"interface port range", iface("x1", &inventoryv1.SipInterface{Host: "pbx", TcpPort: 70000}), "sip_interface.tcp_port"},
		{"interface proxy", iface("x1", &inventoryv1.SipInterface{Host: "pbx", UdpPort: 1, OutboundProxy: "a:b:c:d"}), "sip_interface.outbound_proxy"},
		{"interface expiry", iface("x1", &inventoryv1.SipInterface{Host: "pbx", UdpPort: 1, RegistrationExpiry: durationpb.New(time.Second)}), "sip_interface.registration_expiry"},
		{"interface id", iface("X_1", &inventoryv1.SipInterface{Host: "pbx", UdpPort: 1}), "sip_interface_id"},
		{"page size negative", func() error { _, err := a.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{PageSize: -1}); return err }, "page_size"},
		{"page token garbage", func() error {
			_, err := a.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{PageToken: "!!"})
			return err
		}, "page_token"},
		{"list vendor", func() error {
			_, err := a.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{Vendor: "nokia"})
			return err
		}, "vendor"},
		{"list state", func() error { _, err := a.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{State: 42}); return err }, "state"},
		{"update mask unknown", func() error {
			_, err := a.UpdatePhone(ctx(), &inventoryv1.UpdatePhoneRequest{Phone: &inventoryv1.Phone{Name: mac1}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"state"}}})
			return err
		}, "update_mask"},
		{"update mask sub-field unknown", func() error {
			_, err := a.UpdatePhone(ctx(), &inventoryv1.UpdatePhoneRequest{Phone: &inventoryv1.Phone{Name: mac1}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.nope"}}})
			return err
		}, "update_mask"},
		{"grace too long", func() error {
			_, err := a.RotateProvisioningToken(ctx(), &inventoryv1.RotateProvisioningTokenRequest{Name: mac1, GracePeriod: durationpb.New(1000 * time.Hour)})
			return err
		}, "grace_period"},
		{"extension name", func() error {
			_, err := a.GetExtension(ctx(), &inventoryv1.GetExtensionRequest{Name: "tenants/acme/extensions/"})
			return err
		}, "name"},
	}
	before := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.call(), codes.InvalidArgument, tc.field)
		})
	}
	// Nothing invalid was stored.
	after := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	if after.GetRevision() != before.GetRevision() {
		t.Fatal("an invalid request changed the phone")
	}
	phones := must[*inventoryv1.ListPhonesResponse](t)(a.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{})).GetPhones()
	exts := must[*inventoryv1.ListExtensionsResponse](t)(a.ListExtensions(ctx(), &inventoryv1.ListExtensionsRequest{Parent: "tenants/acme"})).GetExtensions()
	tenants := must[*inventoryv1.ListTenantsResponse](t)(a.ListTenants(ctx(), &inventoryv1.ListTenantsRequest{})).GetTenants()
	ifs := must[*inventoryv1.ListSipInterfacesResponse](t)(a.ListSipInterfaces(ctx(), &inventoryv1.ListSipInterfacesRequest{Parent: "tenants/acme"})).GetSipInterfaces()
	if len(phones) != 1 || len(exts) != 2 || len(tenants) != 2 || len(ifs) != 2 {
		t.Fatalf("stored after invalid requests: %d phones, %d extensions, %d tenants, %d interfaces", len(phones), len(exts), len(tenants), len(ifs))
	}
}

// TestMACSpellings: every usual spelling names the same phone.
func TestMACSpellings(t *testing.T) {
	e := newEnv(t)
	e.discover("001565AABBCC", time.Now())
	for _, s := range []string{"00:15:65:AA:BB:CC", "00-15-65-aa-bb-cc", "001565aabbcc", "0015.65aa.bbcc", "phones/00:15:65:aa:bb:cc"} {
		p, err := e.admin().GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: s})
		if err != nil || p.GetPhone().GetMac() != mac1 {
			t.Errorf("%s: %v %v", s, p.GetPhone().GetMac(), err)
		}
	}
}

// TestPagingAndFilters lists phones page by page with filters and checks
// the page token is bound to its query.
func TestPagingAndFilters(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	a := e.admin()
	for i := range 25 {
		mac := "001565" + strings.Repeat("0", 4) + string("0123456789abcdefghijklmnop"[i/16]) + string("0123456789abcdef"[i%16])
		if strings.ContainsAny(mac, "ghijklmnop") {
			continue
		}
		e.discover(mac, time.Now())
	}
	e.discover("000413000001", time.Now())
	must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: "001565000003", Extension: "tenants/acme/extensions/100"}))
	var all []string
	tok := ""
	for {
		r := must[*inventoryv1.ListPhonesResponse](t)(a.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{PageSize: 4, PageToken: tok, Vendor: "yealink"}))
		for _, p := range r.GetPhones() {
			all = append(all, p.GetMac())
		}
		if tok = r.GetNextPageToken(); tok == "" {
			break
		}
		// The token belongs to this query only.
		_, err := a.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{PageSize: 4, PageToken: tok, Vendor: "snom"})
		wantCode(t, err, codes.InvalidArgument, "page_token")
	}
	if len(all) != 25 {
		t.Fatalf("listed %d yealink phones, want 25", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i] <= all[i-1] {
			t.Fatalf("not ordered: %v", all)
		}
	}
	r := must[*inventoryv1.ListPhonesResponse](t)(a.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{State: inventoryv1.PhoneState_PHONE_STATE_ASSIGNED}))
	if len(r.GetPhones()) != 1 || r.GetPhones()[0].GetMac() != "001565000003" {
		t.Fatalf("assigned filter: %v", r.GetPhones())
	}
	r = must[*inventoryv1.ListPhonesResponse](t)(a.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{Tenant: "tenants/acme", Vendor: "yealink", State: inventoryv1.PhoneState_PHONE_STATE_ASSIGNED}))
	if len(r.GetPhones()) != 1 {
		t.Fatalf("combined filter: %v", r.GetPhones())
	}
	r = must[*inventoryv1.ListPhonesResponse](t)(a.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{Vendor: "snom", State: inventoryv1.PhoneState_PHONE_STATE_ASSIGNED}))
	if len(r.GetPhones()) != 0 {
		t.Fatalf("empty filter: %v", r.GetPhones())
	}
}
