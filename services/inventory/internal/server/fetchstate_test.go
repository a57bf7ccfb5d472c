package server_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// TestFetchingUntilAccountFile: an assigned phone that fetched only its
// common file is FETCHING, not PROVISIONED; the file with its account makes
// it PROVISIONED; a later common-file fetch leaves it there; a change makes
// it ASSIGNED again, from either state. An event of a publisher older than
// account_file still provisions.
func TestFetchingUntilAccountFile(t *testing.T) { backends(t, testFetchingUntilAccountFile) }

func testFetchingUntilAccountFile(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
	e := newEnv(t)
	e.seed("acme")
	a := e.admin()
	e.discover(mac1, time.Now().Add(-time.Hour))
	as := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: mac1, Extension: "tenants/acme/extensions/100"}))
	rev := func() int64 {
		tok := tokenFromURL(t, as.GetProvisioningUrl())
		return must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(),
			&inventoryv1.GetProvisioningProfileRequest{Token: tok})).GetProfile().GetRevision()
	}
	at := time.Now().UTC()
	fetch := func(file string, account *bool) *inventoryv1.Phone {
		t.Helper()
		at = at.Add(time.Second)
		if err := e.srv.HandleConfigFetched(context.Background(), &eventsv1.ConfigFetched{
			Mac: mac1, FileName: file, SourceAddress: "198.18.0.10:40000", UserAgent: "Yealink SIP-T54W 96.86.0.100 " + mac1,
			Revision: rev(), FetchTime: timestamppb.New(at), AccountFile: account}); err != nil {
			t.Fatal(err)
		}
		return must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	}
	state := func(p *inventoryv1.Phone, want inventoryv1.PhoneState, what string) {
		t.Helper()
		if p.GetState() != want {
			t.Fatalf("%s: state %v, want %v", what, p.GetState(), want)
		}
	}

	p := fetch("y000000000123.cfg", proto.Bool(false))
	state(p, inventoryv1.PhoneState_PHONE_STATE_FETCHING, "after the common file")
	if p.GetProvisionedTime() != nil || p.GetLastFetch().GetFileName() != "y000000000123.cfg" {
		t.Fatalf("fetching phone: %v", p)
	}
	p = fetch(mac1+".cfg", proto.Bool(true))
	state(p, inventoryv1.PhoneState_PHONE_STATE_PROVISIONED, "after the account file")
	if !p.GetProvisionedTime().AsTime().Equal(at) {
		t.Fatalf("provisioned time %v, want %v", p.GetProvisionedTime().AsTime(), at)
	}
	state(fetch("y000000000123.cfg", proto.Bool(false)), inventoryv1.PhoneState_PHONE_STATE_PROVISIONED, "common file after the account file")

	// A change from FETCHING returns the phone to ASSIGNED, as from PROVISIONED.
	update := func(lang string) *inventoryv1.Phone {
		t.Helper()
		return must[*inventoryv1.UpdatePhoneResponse](t)(a.UpdatePhone(ctx(), &inventoryv1.UpdatePhoneRequest{
			Phone:      &inventoryv1.Phone{Name: "phones/" + mac1, Settings: &inventoryv1.ProvisioningSettings{Language: lang}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.language"}},
		})).GetPhone()
	}
	state(update("fr"), inventoryv1.PhoneState_PHONE_STATE_ASSIGNED, "changed while provisioned")
	state(fetch("y000000000123.cfg", proto.Bool(false)), inventoryv1.PhoneState_PHONE_STATE_FETCHING, "common file after the change")
	state(update("de"), inventoryv1.PhoneState_PHONE_STATE_ASSIGNED, "changed while fetching")

	// account_file unset: a publisher from before the field.
	state(fetch(mac1+".cfg", nil), inventoryv1.PhoneState_PHONE_STATE_PROVISIONED, "event without account_file")

	// The list filter knows the new state.
	state(update("fr"), inventoryv1.PhoneState_PHONE_STATE_ASSIGNED, "changed again")
	fetch("y000000000123.cfg", proto.Bool(false))
	l := must[*inventoryv1.ListPhonesResponse](t)(a.ListPhones(ctx(), &inventoryv1.ListPhonesRequest{State: inventoryv1.PhoneState_PHONE_STATE_FETCHING}))
	if len(l.GetPhones()) != 1 || l.GetPhones()[0].GetMac() != mac1 {
		t.Fatalf("list --state fetching: %v", l.GetPhones())
	}
}

// TestFetchRecordsSeenAndFirmware: a phone added by MAC (no SIP PnP, as
// Poly) is seen only when it fetches; the fetch records the time as last
// seen and the firmware its User-Agent named.
func TestFetchRecordsSeenAndFirmware(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	a := e.admin()
	const polyMAC = "64167f000002"
	must[*inventoryv1.CreatePhoneResponse](t)(a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{
		Phone: &inventoryv1.Phone{Mac: polyMAC, Vendor: "poly", Model: "VVX450"}}))
	as := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: polyMAC, Extension: "tenants/acme/extensions/100"}))
	tok := tokenFromURL(t, as.GetProvisioningUrl())
	rev := must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(),
		&inventoryv1.GetProvisioningProfileRequest{Token: tok})).GetProfile().GetRevision()
	at := time.Now().UTC().Truncate(time.Millisecond)
	if err := e.srv.HandleConfigFetched(context.Background(), &eventsv1.ConfigFetched{
		Mac: polyMAC, FileName: "phone" + polyMAC + ".cfg", SourceAddress: "198.18.0.11:40000",
		UserAgent: "FileTransport PolycomVVX-VVX_450-UA/6.4.6.2568 Type/Application", Firmware: "6.4.6.2568",
		Revision: rev, FetchTime: timestamppb.New(at), AccountFile: proto.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	p := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: polyMAC})).GetPhone()
	if p.GetFirmware() != "6.4.6.2568" || !p.GetLastSeenTime().AsTime().Equal(at) ||
		p.GetState() != inventoryv1.PhoneState_PHONE_STATE_PROVISIONED {
		t.Fatalf("after the Poly fetch: firmware %q last seen %v state %v", p.GetFirmware(), p.GetLastSeenTime(), p.GetState())
	}
}

// TestDiscoveryAfterLaterFetch: a fetch's event processed before the event
// of an earlier SUBSCRIBE (two consumers) does not make that SUBSCRIBE look
// stale: its new address is recorded, and last seen stays the fetch's time.
// A redelivered discovery still changes nothing.
func TestDiscoveryAfterLaterFetch(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	a := e.admin()
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	e.discover(mac1, t0)
	as := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: mac1, Extension: "tenants/acme/extensions/100"}))
	rev := must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(),
		&inventoryv1.GetProvisioningProfileRequest{Token: tokenFromURL(t, as.GetProvisioningUrl())})).GetProfile().GetRevision()
	t1, t2 := t0.Add(10*time.Minute), t0.Add(11*time.Minute)
	if err := e.srv.HandleConfigFetched(context.Background(), &eventsv1.ConfigFetched{
		Mac: mac1, FileName: mac1 + ".cfg", SourceAddress: "198.18.0.99:40000", Revision: rev,
		FetchTime: timestamppb.New(t2), AccountFile: proto.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	ev := discovery(mac1, t1)
	ev.SourceAddress, ev.Contact = "198.18.0.99:5060", "<sip:"+mac1+"@198.18.0.99:5060>"
	for range 2 { // the second time: redelivered
		if err := e.srv.HandleDiscovered(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	p := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	if p.GetLastSeenAddress() != "198.18.0.99:5060" || !p.GetLastSeenTime().AsTime().Equal(t2) ||
		p.GetState() != inventoryv1.PhoneState_PHONE_STATE_PROVISIONED {
		t.Fatalf("after the late discovery: address %q last seen %v (want %v) state %v",
			p.GetLastSeenAddress(), p.GetLastSeenTime().AsTime(), t2, p.GetState())
	}
	// An older discovery than the last applied one is dropped.
	old := discovery(mac1, t0.Add(time.Minute))
	old.SourceAddress = "198.18.0.50:5060"
	if err := e.srv.HandleDiscovered(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	if p := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone(); p.GetLastSeenAddress() != "198.18.0.99:5060" {
		t.Fatalf("an older discovery was applied: %q", p.GetLastSeenAddress())
	}
}
