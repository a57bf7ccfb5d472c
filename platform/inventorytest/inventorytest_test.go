package inventorytest

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

func TestLookups(t *testing.T) {
	s, err := Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	c, closeConn, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeConn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	get := func(mac string) (*inventoryv1.GetProvisioningUrlResponse, codes.Code) {
		r, err := c.GetProvisioningUrl(ctx, &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + mac})
		return r, status.Code(err)
	}
	s.Set("00:15:65:00:00:01", Entry{URL: "https://edge.test/p/x/", Phone: &inventoryv1.Phone{Vendor: "yealink", Revision: 3}})
	if r, code := get("001565000001"); code != codes.OK || r.GetUrl() != "https://edge.test/p/x/" || r.GetPhone().GetMac() != "001565000001" || r.GetPhone().GetRevision() != 3 {
		t.Fatalf("set phone: %v %v", r, code)
	}
	if _, code := get("001565000002"); code != codes.NotFound {
		t.Fatalf("unknown phone: %v", code)
	}
	if _, code := get("not-a-mac"); code != codes.InvalidArgument {
		t.Fatalf("bad name: %v", code)
	}
	s.SetFallback(&Entry{URL: "u", Bootstrap: true, Vendor: "snom"})
	if r, code := get("000413000002"); code != codes.OK || !r.GetBootstrap() || r.GetPhone().GetVendor() != "snom" {
		t.Fatalf("fallback: %v %v", r, code)
	}
	s.SetFail(codes.Unavailable)
	if _, code := get("001565000001"); code != codes.Unavailable {
		t.Fatalf("injected failure: %v", code)
	}
	s.SetFail(codes.OK)
	s.Delete("001565000001")
	s.SetFallback(nil)
	if _, code := get("001565000001"); code != codes.NotFound {
		t.Fatalf("deleted phone: %v", code)
	}
	if s.Calls() != 5 { // a malformed name is refused before it counts
		t.Fatalf("%d calls counted, want 5", s.Calls())
	}
}

func TestToken(t *testing.T) {
	s, err := Start("secret-token")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	c, closeConn, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeConn)
	_, err = c.GetProvisioningUrl(context.Background(), &inventoryv1.GetProvisioningUrlRequest{Name: "phones/001565000001"})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("call without the token: %v", err)
	}
}
