package rpsclient

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
)

// serveGRPC serves the service behind the platform's auth interceptors and
// returns a client per role.
func serveGRPC(t *testing.T, s *Service) map[string]rpsv1.RedirectServiceClient {
	tokens, err := auth.ParseTokens([]byte(`{"tokens":[
		{"name":"a","role":"admin","token":"tok-admin"},
		{"name":"r","role":"readonly","token":"tok-readonly"},
		{"name":"s","role":"service","token":"tok-service"},
		{"name":"e","role":"edge","token":"tok-edge"},
		{"name":"g","role":"readonly","tenant":"globex","token":"tok-globex"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcserver.New(grpcserver.Options{Auth: tokens})
	s.RegisterGRPC(srv.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, lis); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	out := map[string]rpsv1.RedirectServiceClient{}
	for _, role := range []string{"admin", "readonly", "service", "edge", "globex"} {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(auth.BearerToken("tok-"+role, false)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		out[role] = rpsv1.NewRedirectServiceClient(conn)
	}
	return out
}

func TestGRPC(t *testing.T) { onBothBackends(t, testGRPC) }

func testGRPC(t *testing.T, b backend) {
	e := newEnvOn(t, b)
	c := serveGRPC(t, e.svc)
	ctx := context.Background()
	url := edge + tokenA + "/"

	// Manual register, by an admin, with a MAC spelled with colons.
	resp, err := c["admin"].RegisterDevice(ctx, &rpsv1.RegisterDeviceRequest{Mac: "00:04:13:AA:00:01", Vendor: "snom", Tenant: "tenants/acme", Url: url})
	if err != nil {
		t.Fatal(err)
	}
	if st := resp.GetStatus(); st.GetState() != rpsv1.RegistrationState_REGISTRATION_STATE_REGISTERED || st.GetRegisteredUrl() != url || st.GetName() != "devices/"+snomMAC {
		t.Fatalf("status %v", st)
	}
	if got, _ := e.snom.Registry.Get(snomMAC); got.URL != url {
		t.Fatal("not registered at the vendor")
	}
	// Roles: readonly and edge may not register; edge may not read.
	if _, err := c["readonly"].RegisterDevice(ctx, &rpsv1.RegisterDeviceRequest{Mac: snomMAC, Vendor: "snom", Url: url}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("readonly register: %v", err)
	}
	if _, err := c["edge"].GetDeviceStatus(ctx, &rpsv1.GetDeviceStatusRequest{Name: "devices/" + snomMAC}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("edge get: %v", err)
	}
	// The URL (it holds the token) only for admin and service.
	for role, want := range map[string]string{"admin": url, "service": url, "readonly": ""} {
		got, err := c[role].GetDeviceStatus(ctx, &rpsv1.GetDeviceStatusRequest{Name: "devices/" + snomMAC})
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		if got.GetStatus().GetRegisteredUrl() != want {
			t.Errorf("%s sees URL %q", role, got.GetStatus().GetRegisteredUrl())
		}
	}
	// A tenant-bound principal sees only its tenant.
	if _, err := c["globex"].GetDeviceStatus(ctx, &rpsv1.GetDeviceStatusRequest{Name: "devices/" + snomMAC}); status.Code(err) != codes.NotFound {
		t.Fatalf("globex sees acme's device: %v", err)
	}
	if _, err := c["admin"].GetDeviceStatus(ctx, &rpsv1.GetDeviceStatusRequest{Name: "devices/ffffffffffff"}); status.Code(err) != codes.NotFound {
		t.Fatalf("missing: %v", err)
	}
	if _, err := c["admin"].GetDeviceStatus(ctx, &rpsv1.GetDeviceStatusRequest{Name: "devices/nope"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad mac: %v", err)
	}

	// Live check.
	chk, err := c["service"].CheckDevice(ctx, &rpsv1.CheckDeviceRequest{Mac: snomMAC})
	if err != nil {
		t.Fatal(err)
	}
	if !chk.GetRegistered() || !chk.GetOwnedByUs() || chk.GetUrl() != url {
		t.Fatalf("check %v", chk)
	}
	chk, err = c["readonly"].CheckDevice(ctx, &rpsv1.CheckDeviceRequest{Mac: snomMAC})
	if err != nil || chk.GetUrl() != "" {
		t.Fatalf("readonly check %v %v", chk, err)
	}
	e.snom.Registry.SetForeign("000413aa0077", "https://x/")
	chk, err = c["admin"].CheckDevice(ctx, &rpsv1.CheckDeviceRequest{Mac: "000413aa0077", Vendor: "snom", Tenant: "tenants/acme"})
	if err != nil || !chk.GetRegistered() || chk.GetOwnedByUs() {
		t.Fatalf("foreign check %v %v", chk, err)
	}
	e.snom.Inject(fakeserver.Fault{Status: 502})
	if _, err := c["admin"].CheckDevice(ctx, &rpsv1.CheckDeviceRequest{Mac: snomMAC}); status.Code(err) != codes.Unavailable {
		t.Fatalf("check during 502: %v", err)
	}
	if _, err := c["admin"].CheckDevice(ctx, &rpsv1.CheckDeviceRequest{Mac: snomMAC, Vendor: "cisco"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("cisco check: %v", err)
	}

	// Listing with paging and filters.
	for i, mac := range []string{"001565aa0101", "001565aa0102", "001565aa0103"} {
		e.handle(marshal(t, e.inv.set(mac, "yealink", "tenants/acme", true, edge+tokenB+"/"+string(rune('a'+i)), changeAssigned)))
	}
	var all []*rpsv1.DeviceStatus
	token := ""
	for {
		page, err := c["readonly"].ListDeviceStatuses(ctx, &rpsv1.ListDeviceStatusesRequest{PageSize: 2, PageToken: token, Vendor: "yealink"})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.GetStatuses()...)
		for _, st := range page.GetStatuses() {
			if st.GetRegisteredUrl() != "" {
				t.Fatal("readonly list holds URLs")
			}
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(all) != 3 {
		t.Fatalf("%d yealink statuses", len(all))
	}
	page, err := c["admin"].ListDeviceStatuses(ctx, &rpsv1.ListDeviceStatusesRequest{State: rpsv1.RegistrationState_REGISTRATION_STATE_REGISTERED})
	if err != nil || len(page.GetStatuses()) != 4 {
		t.Fatalf("registered: %d %v", len(page.GetStatuses()), err)
	}
	if page, _ := c["globex"].ListDeviceStatuses(ctx, &rpsv1.ListDeviceStatusesRequest{}); len(page.GetStatuses()) != 0 {
		t.Fatal("globex lists acme's devices")
	}

	// Manual deregister.
	dr, err := c["admin"].DeregisterDevice(ctx, &rpsv1.DeregisterDeviceRequest{Mac: snomMAC})
	if err != nil || dr.GetStatus().GetState() != rpsv1.RegistrationState_REGISTRATION_STATE_DEREGISTERED {
		t.Fatalf("deregister %v %v", dr, err)
	}
	if _, ok := e.snom.Registry.Get(snomMAC); ok {
		t.Fatal("still at the vendor")
	}

	// Accounts, without secrets.
	accts, err := c["readonly"].ListVendorAccounts(ctx, &rpsv1.ListVendorAccountsRequest{})
	if err != nil || len(accts.GetAccounts()) != 2 {
		t.Fatalf("accounts %v %v", accts, err)
	}
	text := accts.String()
	for _, secret := range []string{ykSecret, snomPW} {
		if strings.Contains(text, secret) {
			t.Fatalf("accounts expose a secret: %s", text)
		}
	}
	for _, a := range accts.GetAccounts() {
		switch a.GetVendor() {
		case "yealink":
			if a.GetTenant() != "tenants/acme" || a.GetApi() != "yealink-rps" || a.GetPrincipal() != ykKey {
				t.Errorf("yealink %v", a)
			}
		case "snom":
			if a.GetTenant() != "" || a.GetApi() != "snom-xmlrpc" || a.GetPrincipal() != snomUser {
				t.Errorf("snom %v", a)
			}
		}
	}
	// globex sees only the default account.
	if accts, _ := c["globex"].ListVendorAccounts(ctx, &rpsv1.ListVendorAccountsRequest{}); len(accts.GetAccounts()) != 1 {
		t.Fatalf("globex accounts %v", accts)
	}
	if _, err := c["globex"].ListVendorAccounts(ctx, &rpsv1.ListVendorAccountsRequest{Tenant: "tenants/acme"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("globex asks for acme: %v", err)
	}
}
