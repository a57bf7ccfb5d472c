package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/server"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

func init() { server.BcryptCost = bcrypt.MinCost } // hashing speed is not under test

// TestUsers: console users on both backends — create, the hash stored and
// never returned, authenticate (one answer for unknown, wrong and
// disabled), masked updates, tenant scoping, roles, delete.
func TestUsers(t *testing.T) {
	backends(t, func(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
		e := newEnv(t)
		e.seed("acme")
		a := e.admin()
		u := must[*inventoryv1.CreateUserResponse](t)(a.CreateUser(ctx(), &inventoryv1.CreateUserRequest{UserId: "alice",
			User: &inventoryv1.User{DisplayName: "Alice", Role: inventoryv1.UserRole_USER_ROLE_ADMIN, Password: "correct horse"}})).GetUser()
		if u.GetName() != "users/alice" || u.GetPassword() != "" || !u.GetHasPassword() || u.GetEtag() == "" {
			t.Fatalf("created: %v", u)
		}
		rec, err := e.st.Get(ctx(), store.KindUser, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(rec.Value), "correct horse") || !strings.Contains(string(rec.Value), "$2a$") {
			t.Fatal("stored user does not hold a bcrypt hash only")
		}
		for _, tc := range []struct {
			id    string
			user  *inventoryv1.User
			field string
		}{
			{"Bad_ID", &inventoryv1.User{Role: inventoryv1.UserRole_USER_ROLE_ADMIN, Password: "12345678"}, "user_id"},
			{"bob", &inventoryv1.User{Password: "12345678"}, "user.role"},
			{"bob", &inventoryv1.User{Role: inventoryv1.UserRole_USER_ROLE_ADMIN, Password: "short"}, "user.password"},
			{"bob", &inventoryv1.User{Role: inventoryv1.UserRole_USER_ROLE_ADMIN}, "user.password"},
			{"bob", &inventoryv1.User{Role: inventoryv1.UserRole_USER_ROLE_ADMIN, Password: "12345678", Tenant: "acme"}, "user.tenant"},
		} {
			_, err := a.CreateUser(ctx(), &inventoryv1.CreateUserRequest{UserId: tc.id, User: tc.user})
			wantCode(t, err, codes.InvalidArgument, tc.field)
		}
		_, err = a.CreateUser(ctx(), &inventoryv1.CreateUserRequest{UserId: "alice", User: &inventoryv1.User{Role: inventoryv1.UserRole_USER_ROLE_ADMIN, Password: "12345678"}})
		wantCode(t, err, codes.AlreadyExists, "")

		// Authenticate: the service role may; readonly may not.
		svc := e.c("service")
		got := must[*inventoryv1.AuthenticateUserResponse](t)(svc.AuthenticateUser(ctx(), &inventoryv1.AuthenticateUserRequest{User: "alice", Password: "correct horse"})).GetUser()
		if got.GetName() != "users/alice" || got.GetRole() != inventoryv1.UserRole_USER_ROLE_ADMIN || got.GetPassword() != "" {
			t.Fatalf("authenticated: %v", got)
		}
		_, err = svc.AuthenticateUser(ctx(), &inventoryv1.AuthenticateUserRequest{User: "alice", Password: "wrong horse"})
		wantCode(t, err, codes.Unauthenticated, "")
		_, errUnknown := svc.AuthenticateUser(ctx(), &inventoryv1.AuthenticateUserRequest{User: "nobody", Password: "wrong horse"})
		wantCode(t, errUnknown, codes.Unauthenticated, "")
		if errUnknown.Error() != err.Error() {
			t.Fatalf("unknown user and wrong password differ: %v / %v", errUnknown, err)
		}
		_, err = e.c("readonly").AuthenticateUser(ctx(), &inventoryv1.AuthenticateUserRequest{User: "alice", Password: "correct horse"})
		wantCode(t, err, codes.PermissionDenied, "")
		_, err = e.c("readonly").ListUsers(ctx(), &inventoryv1.ListUsersRequest{})
		wantCode(t, err, codes.PermissionDenied, "")

		// A full update without a password keeps it; a masked one changes it.
		up := must[*inventoryv1.UpdateUserResponse](t)(a.UpdateUser(ctx(), &inventoryv1.UpdateUserRequest{User: &inventoryv1.User{
			Name: "users/alice", Etag: u.GetEtag(), DisplayName: "Alice A", Role: inventoryv1.UserRole_USER_ROLE_READONLY}})).GetUser()
		if up.GetDisplayName() != "Alice A" || up.GetRole() != inventoryv1.UserRole_USER_ROLE_READONLY || !up.GetHasPassword() {
			t.Fatalf("updated: %v", up)
		}
		must[*inventoryv1.AuthenticateUserResponse](t)(svc.AuthenticateUser(ctx(), &inventoryv1.AuthenticateUserRequest{User: "users/alice", Password: "correct horse"}))
		_, err = a.UpdateUser(ctx(), &inventoryv1.UpdateUserRequest{User: &inventoryv1.User{Name: "users/alice", Etag: u.GetEtag()}})
		wantCode(t, err, codes.Aborted, "")
		_, err = a.UpdateUser(ctx(), &inventoryv1.UpdateUserRequest{User: &inventoryv1.User{Name: "users/alice"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"password"}}})
		wantCode(t, err, codes.InvalidArgument, "user.password")
		must[*inventoryv1.UpdateUserResponse](t)(a.UpdateUser(ctx(), &inventoryv1.UpdateUserRequest{User: &inventoryv1.User{Name: "users/alice", Password: "battery staple", Disabled: true},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"password", "disabled"}}}))
		_, err = svc.AuthenticateUser(ctx(), &inventoryv1.AuthenticateUserRequest{User: "alice", Password: "battery staple"})
		wantCode(t, err, codes.Unauthenticated, "") // disabled
		must[*inventoryv1.UpdateUserResponse](t)(a.UpdateUser(ctx(), &inventoryv1.UpdateUserRequest{User: &inventoryv1.User{Name: "users/alice"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"disabled"}}}))
		must[*inventoryv1.AuthenticateUserResponse](t)(svc.AuthenticateUser(ctx(), &inventoryv1.AuthenticateUserRequest{User: "alice", Password: "battery staple"}))

		// Tenant scoping: acme's admin makes acme users only and sees only them.
		acme := e.c("acme-admin")
		must[*inventoryv1.CreateUserResponse](t)(acme.CreateUser(ctx(), &inventoryv1.CreateUserRequest{UserId: "carol",
			User: &inventoryv1.User{Role: inventoryv1.UserRole_USER_ROLE_READONLY, Tenant: "tenants/acme", Password: "12345678"}}))
		_, err = acme.CreateUser(ctx(), &inventoryv1.CreateUserRequest{UserId: "dave",
			User: &inventoryv1.User{Role: inventoryv1.UserRole_USER_ROLE_ADMIN, Password: "12345678"}})
		wantCode(t, err, codes.PermissionDenied, "")
		_, err = acme.GetUser(ctx(), &inventoryv1.GetUserRequest{Name: "users/alice"})
		wantCode(t, err, codes.NotFound, "")
		if us := must[*inventoryv1.ListUsersResponse](t)(acme.ListUsers(ctx(), &inventoryv1.ListUsersRequest{})).GetUsers(); len(us) != 1 || us[0].GetName() != "users/carol" {
			t.Fatalf("acme sees %v", us)
		}
		if us := must[*inventoryv1.ListUsersResponse](t)(a.ListUsers(ctx(), &inventoryv1.ListUsersRequest{})).GetUsers(); len(us) != 2 {
			t.Fatalf("admin sees %v", us)
		}
		// A tenant with users cannot be deleted.
		_, err = a.DeleteTenant(ctx(), &inventoryv1.DeleteTenantRequest{Name: "tenants/acme"})
		wantCode(t, err, codes.FailedPrecondition, "")
		_, err = acme.DeleteUser(ctx(), &inventoryv1.DeleteUserRequest{Name: "users/alice"})
		wantCode(t, err, codes.NotFound, "")
		must[*inventoryv1.DeleteUserResponse](t)(a.DeleteUser(ctx(), &inventoryv1.DeleteUserRequest{Name: "users/alice"}))
		_, err = a.GetUser(ctx(), &inventoryv1.GetUserRequest{Name: "users/alice"})
		wantCode(t, err, codes.NotFound, "")
		if strings.Contains(e.logs.String(), "correct horse") || strings.Contains(e.logs.String(), "battery staple") {
			t.Fatal("a password reached the log")
		}
	})
}

// TestPreviewProvisioningProfile: the preview is the phone's profile with
// the passwords and the token masked.
func TestPreviewProvisioningProfile(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	a := e.admin()
	e.discover(mac1, time.Now())
	resp := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1,
		Extension: "tenants/acme/extensions/100", Settings: &inventoryv1.ProvisioningSettings{WebPassword: "web-secret-9", Language: "de"}}))
	tok := resp.GetProvisioningUrl()[strings.Index(resp.GetProvisioningUrl(), "/p/")+3:]
	tok = strings.TrimSuffix(tok, "/")
	p := must[*inventoryv1.PreviewProvisioningProfileResponse](t)(a.PreviewProvisioningProfile(ctx(),
		&inventoryv1.PreviewProvisioningProfileRequest{Name: "phones/" + mac1})).GetProfile()
	if p.GetBootstrap() || p.GetLanguage() != "de" || len(p.GetLines()) != 1 || p.GetLines()[0].GetExtension() != "100" {
		t.Fatalf("preview: %v", p)
	}
	if p.GetWebPassword() != "********" || p.GetLines()[0].GetPassword() != "********" || !strings.Contains(p.GetProvisioningUrl(), "/p/********") {
		t.Fatalf("preview does not mask: web %q line %q url %q", p.GetWebPassword(), p.GetLines()[0].GetPassword(), p.GetProvisioningUrl())
	}
	all := p.String()
	for _, secret := range []string{"web-secret-9", "sip-secret-acme100", tok} {
		if strings.Contains(all, secret) {
			t.Errorf("preview holds a secret (%.4s…)", secret)
		}
	}
	_, err := e.c("readonly").PreviewProvisioningProfile(ctx(), &inventoryv1.PreviewProvisioningProfileRequest{Name: "phones/" + mac1})
	wantCode(t, err, codes.PermissionDenied, "")
}

// TestPasswordCost: Config.PasswordCost (--password-hash-cost) is the work
// factor of new hashes; a login still checks a hash made with another.
func TestPasswordCost(t *testing.T) {
	e := newEnv(t, func(c *server.Config, _ *server.Options) { c.PasswordCost = bcrypt.MinCost + 1 })
	a := e.admin()
	must[*inventoryv1.CreateUserResponse](t)(a.CreateUser(ctx(), &inventoryv1.CreateUserRequest{UserId: "carol",
		User: &inventoryv1.User{Role: inventoryv1.UserRole_USER_ROLE_ADMIN, Password: "correct horse"}}))
	rec, err := e.st.Get(ctx(), store.KindUser, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rec.Value), fmt.Sprintf("$2a$%02d$", bcrypt.MinCost+1)) {
		t.Fatal("the stored hash does not have the configured cost")
	}
	if _, err := e.c("service").AuthenticateUser(ctx(), &inventoryv1.AuthenticateUserRequest{User: "carol", Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
}
