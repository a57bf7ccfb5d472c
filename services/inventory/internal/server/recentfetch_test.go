package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// TestRecentFetches: every recorded fetch goes in front of recent_fetches
// with its file, source, proof, ETag and revision; the list stays at 20
// however often the phone fetches; a redelivered (not newer) fetch adds
// nothing; the first entry is last_fetch.
func TestRecentFetches(t *testing.T) { backends(t, testRecentFetches) }

func testRecentFetches(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
	e := newEnv(t)
	e.seed("acme")
	a := e.admin()
	e.discover(mac1, time.Now().Add(-time.Hour))
	as := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: mac1, Extension: "tenants/acme/extensions/100"}))
	tok := tokenFromURL(t, as.GetProvisioningUrl())
	rev := must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(),
		&inventoryv1.GetProvisioningProfileRequest{Token: tok})).GetProfile().GetRevision()
	start := time.Now().UTC().Truncate(time.Second)
	fetch := func(i int) *inventoryv1.Phone {
		t.Helper()
		if err := e.srv.HandleConfigFetched(context.Background(), &eventsv1.ConfigFetched{
			Mac: mac1, FileName: fmt.Sprintf("f%02d.cfg", i), SourceAddress: "198.18.0.10:40000",
			Etag: fmt.Sprintf(`"e%02d"`, i), Revision: rev, Proof: inventoryv1.FetchProof_FETCH_PROOF_TOKEN,
			FetchTime: timestamppb.New(start.Add(time.Duration(i) * time.Second))}); err != nil {
			t.Fatal(err)
		}
		return must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	}
	p := fetch(1)
	if got := p.GetRecentFetches(); len(got) != 1 || got[0].GetFileName() != "f01.cfg" || got[0].GetEtag() != `"e01"` ||
		got[0].GetRevision() != rev || got[0].GetProof() != inventoryv1.FetchProof_FETCH_PROOF_TOKEN ||
		got[0].GetSourceAddress() != "198.18.0.10:40000" {
		t.Fatalf("after one fetch: %v", got)
	}
	for i := 2; i <= 30; i++ {
		p = fetch(i)
	}
	got := p.GetRecentFetches()
	if len(got) != 20 {
		t.Fatalf("after 30 fetches: %d entries, want 20", len(got))
	}
	for j, f := range got {
		if want := fmt.Sprintf("f%02d.cfg", 30-j); f.GetFileName() != want {
			t.Fatalf("entry %d: %s, want %s (newest first)", j, f.GetFileName(), want)
		}
	}
	if p.GetLastFetch().GetFileName() != got[0].GetFileName() || p.GetLastFetch().GetEtag() != `"e30"` {
		t.Fatalf("last_fetch %v is not the first recent fetch %v", p.GetLastFetch(), got[0])
	}
	// Redelivery of an old fetch: nothing recorded.
	p = fetch(5)
	if n := len(p.GetRecentFetches()); n != 20 || p.GetRecentFetches()[0].GetFileName() != "f30.cfg" {
		t.Fatalf("after a redelivery: %d entries, first %s", n, p.GetRecentFetches()[0].GetFileName())
	}
}
