package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/server"
)

// The boot storm of cmd/e2e TestChaosClusterStorm, one phone, step by step
// (issue 17: phone 805ec0001196 stayed "fetching" after its repair fetch).
// All phones sit behind one host (the phone namespace), the pnp-listener runs
// with the link check off, so every discovery carries the same unverified
// link address.
const stormLink = "02aabbccddee"

// stormPhone is a phone imported by MAC onto extension 100 of acme, as the
// chaos test's CSV import makes it; it returns the phone's token and profile
// revision.
func stormPhone(t *testing.T, e *env, mac string) (tok string, rev int64) {
	t.Helper()
	a := e.admin()
	must[*inventoryv1.CreatePhoneResponse](t)(a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{
		Mac: mac, Vendor: "yealink", Model: "T54W", Tenant: "tenants/acme",
		Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: "tenants/acme/extensions/100"}},
	}}))
	url := must[*inventoryv1.GetProvisioningUrlResponse](t)(a.GetProvisioningUrl(ctx(), &inventoryv1.GetProvisioningUrlRequest{Name: mac})).GetUrl()
	tok = tokenFromURL(t, url)
	rev = must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(),
		&inventoryv1.GetProvisioningProfileRequest{Token: tok})).GetProfile().GetRevision()
	return tok, rev
}

// TestRepairFetchAfterLateDiscovery: the phone's first fetch of its account
// file beat its own PhoneDiscovered (events lag while a NATS node or the
// Redis primary is lost), so the release was bound to the token; the
// discovery then arrived, observed before the binding; the account file's
// ConfigFetched was lost (a SIGKILLed edge's queue, a write lost in the
// failover), so the phone stayed FETCHING. Its next boot — a new SUBSCRIBE
// from a new port, then the same files — must be served its account and end
// PROVISIONED; before the fix the new link proof was "announced after the
// binding", the account file was refused (a 404 the boot did not notice) and
// the phone stayed FETCHING for good.
func TestRepairFetchAfterLateDiscovery(t *testing.T) {
	t.Cleanup(server.SetDiscoveryLink(func(*eventsv1.PhoneDiscovered) (string, bool) { return stormLink, false }))
	backends(t, func(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
		e := newEnv(t)
		e.seed("acme")
		const mac = "805ec0001196"
		tok, rev := stormPhone(t, e, mac)
		a, edge := e.admin(), e.c("edge")
		release := func(source string) *inventoryv1.AuthorizeSecretReleaseResponse {
			t.Helper()
			return must[*inventoryv1.AuthorizeSecretReleaseResponse](t)(edge.AuthorizeSecretRelease(ctx(), &inventoryv1.AuthorizeSecretReleaseRequest{
				Token: tok, Proof: inventoryv1.FetchProof_FETCH_PROOF_TOKEN_UA, SourceAddress: source, FileName: mac + ".cfg",
			}))
		}
		fetched := func(file string, account bool, at time.Time) {
			t.Helper()
			if err := e.srv.HandleConfigFetched(context.Background(), &eventsv1.ConfigFetched{
				Mac: mac, FileName: file, SourceAddress: "198.18.77.2:41000", UserAgent: "Yealink SIP-T54W 96.86.0.45 80:5e:c0:00:11:96",
				Revision: rev, FetchTime: timestamppb.New(at), AccountFile: proto.Bool(account)}); err != nil {
				t.Fatal(err)
			}
		}
		discovered := func(at time.Time, port string) {
			t.Helper()
			ev := discovery(mac, at)
			ev.SourceAddress, ev.Contact = "198.18.77.2:"+port, "<sip:"+mac+"@198.18.77.2:"+port+">"
			if err := e.srv.HandleDiscovered(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		phone := func() *inventoryv1.Phone {
			t.Helper()
			return must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac})).GetPhone()
		}

		// The storm's boot: SUBSCRIBE at boot (its event still queued), the
		// common file, the account file (bound: token).
		boot := time.Now().Add(-2 * time.Second)
		fetched("y000000000096.cfg", false, boot.Add(100*time.Millisecond))
		if r := release("198.18.77.2:41001"); !r.GetAllowed() || r.GetIdentity() != "token" {
			t.Fatalf("storm fetch before its discovery: %v", r)
		}
		// Its ConfigFetched is lost; the discovery arrives late.
		discovered(boot, "40001")
		if p := phone(); p.GetState() != inventoryv1.PhoneState_PHONE_STATE_FETCHING {
			t.Fatalf("after the storm: state %v", p.GetState())
		}

		// The repair: the phone boots again, from a new port.
		again := time.Now().Add(time.Second)
		discovered(again, "40777")
		fetched("y000000000096.cfg", false, again.Add(100*time.Millisecond))
		r := release("198.18.77.2:41777")
		if !r.GetAllowed() {
			p := phone()
			t.Fatalf("the phone's own next boot was refused its account: %v (bound %v, link proof %v)", r, p.GetSecretRelease(), p.GetLastLinkProof())
		}
		fetched(mac+".cfg", true, again.Add(200*time.Millisecond))
		p := phone()
		if p.GetState() != inventoryv1.PhoneState_PHONE_STATE_PROVISIONED {
			t.Fatalf("after the repair fetch: state %v", p.GetState())
		}
		if id := p.GetSecretRelease().GetId(); id != "unverified-link:"+stormLink || p.GetPendingRelease() != nil {
			t.Fatalf("bound %q, pending %v; want the boot's link proof bound, nothing pending", id, p.GetPendingRelease())
		}
		// Still: another host announcing the MAC later is a second identity.
		t.Cleanup(server.SetDiscoveryLink(func(*eventsv1.PhoneDiscovered) (string, bool) { return "02ffeeddccbb", false }))
		discovered(again.Add(time.Minute), "40999")
		if r := release("198.18.77.9:41999"); r.GetAllowed() || !strings.Contains(r.GetIdentity(), "02ffeeddccbb") {
			t.Fatalf("another host after the binding: %v", r)
		}
	})
}

// TestFetchStateNeverMovesBack: the suspects of issue 17 that turned out
// sound, kept as a regression test. The common and the account file's
// events reach two inventory replicas in either order: a late "fetching"
// (the common file fetched before the account file, applied after it)
// never moves a provisioned phone back. And a phone whose "provisioned"
// write was lost (still FETCHING, its common file recorded moments ago)
// is repaired by its next fetch of the account file, though the common
// file's repeat within seenCoalesce is coalesced (the coalescing state is
// the record itself, lost with the write).
func TestFetchStateNeverMovesBack(t *testing.T) {
	backends(t, func(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
		e := newEnv(t)
		e.seed("acme")
		revs := map[string]int64{}
		fetched := func(mac, file string, account bool, at time.Time) inventoryv1.PhoneState {
			t.Helper()
			if _, ok := revs[mac]; !ok {
				_, revs[mac] = stormPhone(t, e, mac)
			}
			if err := e.srv.HandleConfigFetched(context.Background(), &eventsv1.ConfigFetched{
				Mac: mac, FileName: file, SourceAddress: "198.18.77.2:41000", UserAgent: "Yealink SIP-T54W 96.86.0.45",
				Revision: revs[mac], FetchTime: timestamppb.New(at), AccountFile: proto.Bool(account)}); err != nil {
				t.Fatal(err)
			}
			return must[*inventoryv1.GetPhoneResponse](t)(e.admin().GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac})).GetPhone().GetState()
		}
		const mac, mac2 = "805ec0000042", "805ec0000043"
		const fetching, provisioned = inventoryv1.PhoneState_PHONE_STATE_FETCHING, inventoryv1.PhoneState_PHONE_STATE_PROVISIONED
		t0 := time.Now().Add(-time.Minute).UTC()
		// Out of order: the account file's event first.
		if st := fetched(mac, mac+".cfg", true, t0.Add(time.Second)); st != provisioned {
			t.Fatalf("account file: %v", st)
		}
		if st := fetched(mac, "y000000000096.cfg", false, t0); st != provisioned {
			t.Fatalf("late common-file event moved the phone to %v", st)
		}

		// A phone left FETCHING by a lost write: the repair fetch comes
		// within seenCoalesce of the recorded common file.
		if st := fetched(mac2, "y000000000096.cfg", false, t0); st != fetching {
			t.Fatalf("common file: %v", st)
		}
		// (the account file's event is lost)
		if st := fetched(mac2, "y000000000096.cfg", false, t0.Add(5*time.Second)); st != fetching {
			t.Fatalf("repeated common file: %v", st)
		}
		if st := fetched(mac2, mac2+".cfg", true, t0.Add(6*time.Second)); st != provisioned {
			t.Fatalf("repair fetch of the account file: %v", st)
		}
	})
}
