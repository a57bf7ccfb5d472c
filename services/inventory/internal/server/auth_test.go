package server_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

type rpc struct {
	name  string
	roles []string // unscoped roles allowed
	call  func(c inventoryv1.InventoryServiceClient) error
}

var (
	allRoles   = []string{"admin", "readonly", "edge", "listener", "service"}
	adminOnly  = []string{"admin"}
	readRoles  = []string{"admin", "readonly"}
	phoneGet   = []string{"admin", "readonly", "listener", "service"}
	phoneList  = []string{"admin", "readonly", "service"}
	urlRoles   = []string{"admin", "listener", "service"}
	edgeRoles  = []string{"edge"}
	watchRoles = phoneList
)

// rpcs lists every RPC with a call that passes authorisation for the roles
// allowed (it may still fail later for other reasons).
func rpcs() []rpc {
	return []rpc{
		{"CreateTenant", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.CreateTenant(ctx(), &inventoryv1.CreateTenantRequest{TenantId: "zeta"})
			return err
		}},
		{"GetTenant", readRoles, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.GetTenant(ctx(), &inventoryv1.GetTenantRequest{Name: "tenants/acme"})
			return err
		}},
		{"ListTenants", readRoles, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.ListTenants(ctx(), &inventoryv1.ListTenantsRequest{})
			return err
		}},
		{"UpdateTenant", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{Tenant: &inventoryv1.Tenant{Name: "tenants/acme", DisplayName: "x"}})
			return err
		}},
		{"DeleteTenant", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.DeleteTenant(ctx(), &inventoryv1.DeleteTenantRequest{Name: "tenants/nope"})
			return err
		}},
		{"CreateSipInterface", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.CreateSipInterface(ctx(), &inventoryv1.CreateSipInterfaceRequest{Parent: "tenants/acme", SipInterfaceId: "p2", SipInterface: &inventoryv1.SipInterface{Host: "h", UdpPort: 5060}})
			return err
		}},
		{"GetSipInterface", readRoles, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.GetSipInterface(ctx(), &inventoryv1.GetSipInterfaceRequest{Name: "tenants/acme/sipInterfaces/pbx"})
			return err
		}},
		{"ListSipInterfaces", readRoles, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.ListSipInterfaces(ctx(), &inventoryv1.ListSipInterfacesRequest{Parent: "tenants/acme"})
			return err
		}},
		{"UpdateSipInterface", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.UpdateSipInterface(ctx(), &inventoryv1.UpdateSipInterfaceRequest{SipInterface: &inventoryv1.SipInterface{Name: "tenants/acme/sipInterfaces/pbx", Host: "h2", UdpPort: 5060}})
			return err
		}},
		{"DeleteSipInterface", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.DeleteSipInterface(ctx(), &inventoryv1.DeleteSipInterfaceRequest{Name: "tenants/acme/sipInterfaces/nope"})
			return err
		}},
		{"CreateExtension", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.CreateExtension(ctx(), &inventoryv1.CreateExtensionRequest{Parent: "tenants/acme", Extension: &inventoryv1.Extension{Number: "555"}})
			return err
		}},
		{"GetExtension", readRoles, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.GetExtension(ctx(), &inventoryv1.GetExtensionRequest{Name: "tenants/acme/extensions/100"})
			return err
		}},
		{"ListExtensions", readRoles, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.ListExtensions(ctx(), &inventoryv1.ListExtensionsRequest{Parent: "tenants/acme"})
			return err
		}},
		{"UpdateExtension", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.UpdateExtension(ctx(), &inventoryv1.UpdateExtensionRequest{Extension: &inventoryv1.Extension{Name: "tenants/acme/extensions/101", DisplayName: "y"}})
			return err
		}},
		{"DeleteExtension", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.DeleteExtension(ctx(), &inventoryv1.DeleteExtensionRequest{Name: "tenants/acme/extensions/999"})
			return err
		}},
		{"CreatePhone", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: mac1, Model: "T54W"}})
			return err
		}},
		{"GetPhone", phoneGet, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})
			return err
		}},
		{"ListPhones", phoneList, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{})
			return err
		}},
		{"UpdatePhone", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.UpdatePhone(ctx(), &inventoryv1.UpdatePhoneRequest{Phone: &inventoryv1.Phone{Name: "phones/0015650000ff"}})
			return err
		}},
		{"DeletePhone", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.DeletePhone(ctx(), &inventoryv1.DeletePhoneRequest{Name: "phones/0015650000ff"})
			return err
		}},
		{"AssignPhone", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, Extension: "tenants/acme/extensions/100"})
			return err
		}},
		{"UnassignPhone", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.UnassignPhone(ctx(), &inventoryv1.UnassignPhoneRequest{Name: "0015650000ff"})
			return err
		}},
		{"RotateProvisioningToken", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.RotateProvisioningToken(ctx(), &inventoryv1.RotateProvisioningTokenRequest{Name: "0015650000ff"})
			return err
		}},
		{"GetProvisioningUrl", urlRoles, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.GetProvisioningUrl(ctx(), &inventoryv1.GetProvisioningUrlRequest{Name: mac1})
			return err
		}},
		{"GetProvisioningProfile", edgeRoles, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: "x"})
			return err
		}},
		{"AuthorizeSecretRelease", edgeRoles, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.AuthorizeSecretRelease(ctx(), &inventoryv1.AuthorizeSecretReleaseRequest{Token: "x"})
			return err
		}},
		{"ApprovePhone", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.ApprovePhone(ctx(), &inventoryv1.ApprovePhoneRequest{Name: mac1})
			return err
		}},
		{"ReprovisionPhone", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.ReprovisionPhone(ctx(), &inventoryv1.ReprovisionPhoneRequest{Name: "0015650000ff"})
			return err
		}},
		{"RotateKeys", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.RotateKeys(ctx(), &inventoryv1.RotateKeysRequest{})
			return err
		}},
		{"ExportBackup", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			s, err := c.ExportBackup(ctx(), &inventoryv1.ExportBackupRequest{})
			if err != nil {
				return err
			}
			for {
				if _, err := s.Recv(); err != nil {
					if err == io.EOF {
						return nil
					}
					return err
				}
			}
		}},
		{"ImportBackup", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			s, err := c.ImportBackup(ctx())
			if err != nil {
				return err
			}
			_, err = s.CloseAndRecv()
			return err
		}},
		{"CreateUser", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.CreateUser(ctx(), &inventoryv1.CreateUserRequest{UserId: "perm", User: &inventoryv1.User{}})
			return err
		}},
		{"GetUser", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.GetUser(ctx(), &inventoryv1.GetUserRequest{Name: "users/perm"})
			return err
		}},
		{"ListUsers", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.ListUsers(ctx(), &inventoryv1.ListUsersRequest{})
			return err
		}},
		{"UpdateUser", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.UpdateUser(ctx(), &inventoryv1.UpdateUserRequest{User: &inventoryv1.User{Name: "users/perm"}})
			return err
		}},
		{"DeleteUser", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.DeleteUser(ctx(), &inventoryv1.DeleteUserRequest{Name: "users/perm"})
			return err
		}},
		{"AuthenticateUser", []string{"admin", "service"}, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.AuthenticateUser(ctx(), &inventoryv1.AuthenticateUserRequest{User: "perm", Password: "x"})
			if status.Code(err) == codes.Unauthenticated && strings.Contains(err.Error(), "wrong password") {
				return nil // authorised; the login itself failed, as it should
			}
			return err
		}},
		{"PreviewProvisioningProfile", adminOnly, func(c inventoryv1.InventoryServiceClient) error {
			_, err := c.PreviewProvisioningProfile(ctx(), &inventoryv1.PreviewProvisioningProfileRequest{Name: "0015650000ff"})
			return err
		}},
		{"WatchPhones", watchRoles, func(c inventoryv1.InventoryServiceClient) error {
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s, err := c.WatchPhones(cctx, &inventoryv1.WatchPhonesRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			if err == io.EOF {
				return nil
			}
			return err
		}},
	}
}

// TestPermissions calls every RPC as every role: roles not allowed get
// PermissionDenied, callers without a token Unauthenticated.
func TestPermissions(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	e.discover(mac1, time.Now())
	list := rpcs()
	if got := len(list); got != len(inventoryv1.InventoryService_ServiceDesc.Methods)+len(inventoryv1.InventoryService_ServiceDesc.Streams) {
		t.Fatalf("permission table covers %d RPCs, the service has more", got)
	}
	for _, r := range list {
		t.Run(r.name, func(t *testing.T) {
			wantCode(t, r.call(e.anon), codes.Unauthenticated, "")
			wantCode(t, r.call(e.dial()), codes.Unauthenticated, "")
			for _, role := range allRoles {
				err := r.call(e.c(role))
				code := status.Code(err)
				if slices.Contains(r.roles, role) {
					if code == codes.PermissionDenied || code == codes.Unauthenticated {
						t.Errorf("%s as %s: %v, want allowed", r.name, role, err)
					}
				} else if code != codes.PermissionDenied {
					t.Errorf("%s as %s: %v, want PermissionDenied", r.name, role, err)
				}
			}
		})
	}
}

// TestTenantScope: a principal bound to a tenant sees and changes only its
// tenant's records.
func TestTenantScope(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	e.seed("beta")
	a := e.admin()
	e.discover(mac1, time.Now())
	e.discover("001565000002", time.Now())
	must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, Extension: "tenants/acme/extensions/100"}))
	must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: "001565000002", Extension: "tenants/beta/extensions/100"}))
	acme, ro := e.c("acme-admin"), e.c("acme-ro")

	// Own tenant: visible.
	must[*inventoryv1.GetPhoneResponse](t)(acme.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1}))
	must[*inventoryv1.GetExtensionResponse](t)(ro.GetExtension(ctx(), &inventoryv1.GetExtensionRequest{Name: "tenants/acme/extensions/100"}))
	// Other tenant: invisible or refused.
	for _, c := range []inventoryv1.InventoryServiceClient{acme, ro} {
		_, err := c.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: "001565000002"})
		wantCode(t, err, codes.NotFound, "")
		_, err = c.GetExtension(ctx(), &inventoryv1.GetExtensionRequest{Name: "tenants/beta/extensions/100"})
		wantCode(t, err, codes.PermissionDenied, "")
		_, err = c.GetTenant(ctx(), &inventoryv1.GetTenantRequest{Name: "tenants/beta"})
		wantCode(t, err, codes.PermissionDenied, "")
		_, err = c.ListExtensions(ctx(), &inventoryv1.ListExtensionsRequest{Parent: "tenants/beta"})
		wantCode(t, err, codes.PermissionDenied, "")
		_, err = c.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{Tenant: "tenants/beta"})
		wantCode(t, err, codes.PermissionDenied, "")
		phones := must[*inventoryv1.ListPhonesResponse](t)(c.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{})).GetPhones()
		if len(phones) != 1 || phones[0].GetMac() != mac1 {
			t.Fatalf("scoped ListPhones: %v", phones)
		}
		tenants := must[*inventoryv1.ListTenantsResponse](t)(c.ListTenants(ctx(), &inventoryv1.ListTenantsRequest{})).GetTenants()
		if len(tenants) != 1 || tenants[0].GetName() != "tenants/acme" {
			t.Fatalf("scoped ListTenants: %v", tenants)
		}
		exts := must[*inventoryv1.ListExtensionsResponse](t)(c.ListExtensions(ctx(), &inventoryv1.ListExtensionsRequest{Parent: "tenants/-"})).GetExtensions()
		if len(exts) != 2 {
			t.Fatalf("scoped ListExtensions tenants/-: %d", len(exts))
		}
	}
	_, err := acme.UnassignPhone(ctx(), &inventoryv1.UnassignPhoneRequest{Name: "001565000002"})
	wantCode(t, err, codes.NotFound, "")
	_, err = acme.CreateTenant(ctx(), &inventoryv1.CreateTenantRequest{TenantId: "mine"})
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = acme.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: "001565000002", Extension: "tenants/acme/extensions/101"})
	wantCode(t, err, codes.NotFound, "")
	_, err = acme.DeleteExtension(ctx(), &inventoryv1.DeleteExtensionRequest{Name: "tenants/beta/extensions/101"})
	wantCode(t, err, codes.PermissionDenied, "")
	// An unassigned phone may be taken into the caller's own tenant.
	e.discover("001565000003", time.Now())
	must[*inventoryv1.AssignPhoneResponse](t)(acme.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: "001565000003", Extension: "tenants/acme/extensions/101"}))
}

// TestNoSecretsInResponses: passwords are write-only for every role; the
// URL only for admin and service.
func TestNoSecretsInResponses(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	e.discover(mac1, time.Now())
	must[*inventoryv1.AssignPhoneResponse](t)(e.admin().AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, Extension: "tenants/acme/extensions/100",
		Settings: &inventoryv1.ProvisioningSettings{WebPassword: "web-pw"}}))
	for _, role := range phoneGet {
		p := must[*inventoryv1.GetPhoneResponse](t)(e.c(role).GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
		if p.GetSettings().GetWebPassword() != "" || !p.GetSettings().GetHasWebPassword() {
			t.Errorf("%s sees the web password", role)
		}
		wantURL := role == "admin" || role == "service"
		if (p.GetProvisioningUrl() != "") != wantURL {
			t.Errorf("%s: URL present = %v, want %v", role, p.GetProvisioningUrl() != "", wantURL)
		}
	}
	for _, role := range readRoles {
		x := must[*inventoryv1.GetExtensionResponse](t)(e.c(role).GetExtension(ctx(), &inventoryv1.GetExtensionRequest{Name: "tenants/acme/extensions/100"})).GetExtension()
		if x.GetSipPassword() != "" || !x.GetHasSipPassword() {
			t.Errorf("%s sees the SIP password", role)
		}
	}
}
