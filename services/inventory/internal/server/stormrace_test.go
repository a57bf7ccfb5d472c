package server_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// A phone added by MAC boots for the first time: it fetches its files, and
// its own discovery (which reports its firmware) is applied before the edge's
// ConfigFetched arrives. The fetch still provisions the phone, since the
// firmware is no part of what was rendered.
func TestFetchRacingFirstDiscovery(t *testing.T) { backends(t, testFetchRacingFirstDiscovery) }

func testFetchRacingFirstDiscovery(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
	e := newEnv(t)
	e.seed("acme")
	const mac = "001565cc0001"
	a := e.admin()
	must[*inventoryv1.CreatePhoneResponse](t)(a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{
		Mac: mac, Vendor: "yealink", Model: "T54W", Tenant: "tenants/acme",
		Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: "tenants/acme/extensions/100"}},
	}}))
	url := must[*inventoryv1.GetProvisioningUrlResponse](t)(a.GetProvisioningUrl(ctx(), &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + mac})).GetUrl()
	prof := must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(),
		&inventoryv1.GetProvisioningProfileRequest{Token: tokenFromURL(t, url)}))

	e.discover(mac, time.Now())
	if err := e.srv.HandleConfigFetched(context.Background(), &eventsv1.ConfigFetched{
		Mac: mac, FileName: mac + ".cfg", Revision: prof.GetProfile().GetRevision(), FetchTime: timestamppb.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	got := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: "phones/" + mac})).GetPhone()
	if got.GetState() != inventoryv1.PhoneState_PHONE_STATE_PROVISIONED || got.GetFirmware() != "96.86.0.100" {
		t.Fatalf("state %v firmware %q: the fetch that raced the first discovery was dropped", got.GetState(), got.GetFirmware())
	}
}
