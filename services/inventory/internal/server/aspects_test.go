package server_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
)

// phoneEvents returns the PhoneChanged events of mac waiting in the outbox
// (no relay runs in these tests), oldest first.
func (e *env) phoneEvents(mac string) []*eventsv1.PhoneChanged {
	e.t.Helper()
	out, err := e.st.Outbox(ctx(), 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	var evs []*eventsv1.PhoneChanged
	for _, m := range out {
		ev := &eventsv1.PhoneChanged{}
		if proto.Unmarshal(m.Data, ev) == nil && ev.GetPhone().GetMac() == mac {
			evs = append(evs, ev)
		}
	}
	return evs
}

// TestEventsSayWhatChanged: every PhoneChanged of a phone's life names the
// aspects it touched and whether its files changed. A fetch records itself
// without a files-changed event: the common file makes the phone FETCHING
// and the account file PROVISIONED, one event each (STATE and FETCH); a
// repeated fetch within the coalescing window writes nothing; a later one is
// a FETCH event. A change of the phone's extension is a files-changed
// UPDATED; an RPS result is RPS_STATUS only.
func TestEventsSayWhatChanged(t *testing.T) { backends(t, testEventsSayWhatChanged) }

func testEventsSayWhatChanged(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
	e := newEnv(t)
	e.seed("acme")
	a := e.admin()
	seen := 0
	// next checks that the step wrote exactly the events want lists.
	type want struct {
		typ     inventoryv1.PhoneChangeType
		aspects []inventoryv1.PhoneAspect
		files   bool
	}
	next := func(step string, wants ...want) {
		t.Helper()
		evs := e.phoneEvents(mac1)[seen:]
		seen += len(evs)
		if len(evs) != len(wants) {
			t.Fatalf("%s: %d events, want %d: %v", step, len(evs), len(wants), evs)
		}
		for i, w := range wants {
			ev := evs[i]
			if ev.GetChangeType() != w.typ || !slices.Equal(ev.GetAspects(), w.aspects) || ev.GetFilesChanged() != w.files {
				t.Fatalf("%s: event %v aspects %v files_changed %v; want %v %v %v", step,
					ev.GetChangeType(), ev.GetAspects(), ev.GetFilesChanged(), w.typ, w.aspects, w.files)
			}
		}
	}
	const (
		identity   = inventoryv1.PhoneAspect_PHONE_ASPECT_IDENTITY
		assignment = inventoryv1.PhoneAspect_PHONE_ASPECT_ASSIGNMENT
		settings   = inventoryv1.PhoneAspect_PHONE_ASPECT_SETTINGS
		secrets    = inventoryv1.PhoneAspect_PHONE_ASPECT_SECRETS
		url        = inventoryv1.PhoneAspect_PHONE_ASPECT_URL
		state      = inventoryv1.PhoneAspect_PHONE_ASPECT_STATE
		fetchA     = inventoryv1.PhoneAspect_PHONE_ASPECT_FETCH
		discovery  = inventoryv1.PhoneAspect_PHONE_ASPECT_DISCOVERY
		rps        = inventoryv1.PhoneAspect_PHONE_ASPECT_RPS_STATUS
		existence  = inventoryv1.PhoneAspect_PHONE_ASPECT_EXISTENCE
	)
	asp := func(a ...inventoryv1.PhoneAspect) []inventoryv1.PhoneAspect { return a }

	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	e.discover(mac1, start)
	next("discovered", want{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED, asp(identity, url, state, discovery, existence), true})
	e.discover(mac1, start.Add(time.Second))
	next("discovered again") // coalesced (seenCoalesce), as before

	as := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: mac1, Extension: "tenants/acme/extensions/100"}))
	next("assigned", want{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_ASSIGNED, asp(assignment, url, state), true})

	rev := must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(),
		&inventoryv1.GetProvisioningProfileRequest{Token: tokenFromURL(t, as.GetProvisioningUrl())})).GetProfile().GetRevision()
	fetch := func(file string, account bool, at time.Time, port string) *inventoryv1.Phone {
		t.Helper()
		if err := e.srv.HandleConfigFetched(context.Background(), &eventsv1.ConfigFetched{
			Mac: mac1, FileName: file, SourceAddress: "198.18.0.10:" + port, UserAgent: "Yealink SIP-T54W 96.86.0.100 " + mac1,
			Revision: rev, FetchTime: timestamppb.New(at), AccountFile: proto.Bool(account)}); err != nil {
			t.Fatal(err)
		}
		return must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	}
	provisioned := inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_PROVISIONED
	at := start.Add(time.Minute)
	if p := fetch("y000000000123.cfg", false, at, "40000"); p.GetState() != inventoryv1.PhoneState_PHONE_STATE_FETCHING {
		t.Fatalf("after the common file: %v", p.GetState())
	}
	next("common file", want{provisioned, asp(state, fetchA), false})
	fetch("y000000000123.cfg", false, at.Add(time.Second), "40001")
	next("common file again, from another port")

	p := fetch(mac1+".cfg", true, at.Add(2*time.Second), "40002")
	if p.GetState() != inventoryv1.PhoneState_PHONE_STATE_PROVISIONED || !p.GetProvisionedTime().AsTime().Equal(at.Add(2*time.Second)) {
		t.Fatalf("after the account file: %v %v", p.GetState(), p.GetProvisionedTime())
	}
	next("account file", want{provisioned, asp(state, fetchA), false})
	fetch(mac1+".cfg", true, at.Add(3*time.Second), "40003")
	fetch("y000000000123.cfg", false, at.Add(4*time.Second), "40004")
	p = fetch(mac1+".cfg", true, at.Add(5*time.Second), "40005")
	next("a reboot's fetches within the window")
	if p.GetLastFetch().GetTime().AsTime() != at.Add(2*time.Second) || len(p.GetRecentFetches()) != 2 {
		t.Fatalf("coalesced fetches were recorded: last %v, %d recent", p.GetLastFetch().GetTime().AsTime(), len(p.GetRecentFetches()))
	}
	p = fetch(mac1+".cfg", true, at.Add(time.Minute), "40006")
	next("account file a minute later", want{provisioned, asp(fetchA), false})
	if p.GetLastFetch().GetTime().AsTime() != at.Add(time.Minute) || p.GetState() != inventoryv1.PhoneState_PHONE_STATE_PROVISIONED {
		t.Fatalf("the later fetch was not recorded: %v", p.GetLastFetch())
	}
	// Another file is news, even within the window.
	fetch("favicon.png", false, at.Add(time.Minute+time.Second), "40007")
	next("another file", want{provisioned, asp(fetchA), false})

	must[*inventoryv1.UpdateExtensionResponse](t)(a.UpdateExtension(ctx(), &inventoryv1.UpdateExtensionRequest{
		Extension:  &inventoryv1.Extension{Name: "tenants/acme/extensions/100", SipPassword: "sip-secret-new"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"sip_password"}}}))
	next("extension changed", want{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UPDATED, asp(assignment, secrets, state), true})

	must[*inventoryv1.UpdatePhoneResponse](t)(a.UpdatePhone(ctx(), &inventoryv1.UpdatePhoneRequest{
		Phone:      &inventoryv1.Phone{Name: "phones/" + mac1, Settings: &inventoryv1.ProvisioningSettings{Language: "fr"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.language"}}}))
	next("language changed", want{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UPDATED, asp(settings), true})

	if err := e.srv.HandleRpsResult(context.Background(), &eventsv1.RpsResult{Mac: mac1,
		State: rpsv1.RegistrationState_REGISTRATION_STATE_REGISTERED, Time: timestamppb.Now()}); err != nil {
		t.Fatal(err)
	}
	next("RPS result", want{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_RPS_STATUS, asp(rps), false})

	must[*inventoryv1.RotateProvisioningTokenResponse](t)(a.RotateProvisioningToken(ctx(), &inventoryv1.RotateProvisioningTokenRequest{Name: mac1}))
	next("token rotated", want{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_TOKEN_ROTATED, asp(url), true})

	must[*inventoryv1.DeletePhoneResponse](t)(a.DeletePhone(ctx(), &inventoryv1.DeletePhoneRequest{Name: mac1}))
	evs := e.phoneEvents(mac1)[seen:]
	if len(evs) != 1 || !slices.Contains(evs[0].GetAspects(), existence) || !evs[0].GetFilesChanged() {
		t.Fatalf("deleted: %v", evs)
	}
}

// TestDiscoveryAfterFetchOfAddedPhone: a phone added by MAC whose first
// fetch is recorded before its discovery (a boot storm of pre-assigned
// phones: the two events race) still gets the discovery — its contact and
// address — and one DISCOVERED event.
func TestDiscoveryAfterFetchOfAddedPhone(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	a := e.admin()
	cp := must[*inventoryv1.CreatePhoneResponse](t)(a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{
		Mac: mac1, Model: "T54W", Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: "tenants/acme/extensions/100"}}}}))
	booted := time.Now().UTC().Truncate(time.Second)
	if err := e.srv.HandleConfigFetched(context.Background(), &eventsv1.ConfigFetched{Mac: mac1, FileName: mac1 + ".cfg",
		Revision: cp.GetPhone().GetRevision(), FetchTime: timestamppb.New(booted.Add(time.Second)), AccountFile: proto.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	seen := len(e.phoneEvents(mac1))
	e.discover(mac1, booted) // the SUBSCRIBE came first, its event second
	p := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	if p.GetLastContact() == "" || p.GetListener() != "site-a" || p.GetState() != inventoryv1.PhoneState_PHONE_STATE_PROVISIONED {
		t.Fatalf("discovery after the fetch lost: contact %q listener %q state %v", p.GetLastContact(), p.GetListener(), p.GetState())
	}
	if !p.GetLastSeenTime().AsTime().Equal(booted.Add(time.Second)) {
		t.Errorf("last seen %v, want the later fetch's time", p.GetLastSeenTime().AsTime())
	}
	evs := e.phoneEvents(mac1)[seen:]
	if len(evs) != 1 || evs[0].GetChangeType() != inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED || evs[0].GetFilesChanged() {
		t.Fatalf("events of the discovery: %v", evs)
	}
	e.discover(mac1, booted) // redelivered: nothing
	if n := len(e.phoneEvents(mac1)) - seen; n != 1 {
		t.Fatalf("a redelivered discovery wrote %d more events", n-1)
	}
}
