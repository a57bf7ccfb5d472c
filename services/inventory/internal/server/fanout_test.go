package server_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// TestFanoutSurvivesACrash: an extension change commits with its fan-out
// job; if the process dies before touching the phones (simulated), the
// job is still there and FinishFanouts — on a fresh server over the same
// store, as after a restart — marks the phone changed and removes the job.
// A job younger than the grace period is left to its RPC.
func TestFanoutSurvivesACrash(t *testing.T) {
	backends(t, func(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
		e := newEnv(t)
		e.seed("acme")
		e.discover(mac1, time.Now())
		a := e.admin()
		must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
			Name: "phones/" + mac1, Extension: "tenants/acme/extensions/100"}))
		revOf := func() int64 {
			return must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone().GetRevision()
		}
		jobs := func() int {
			t.Helper()
			recs, err := e.st.List(context.Background(), store.ListQuery{Kind: store.KindJob, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			return len(recs)
		}
		update := func(name string) {
			t.Helper()
			must[*inventoryv1.UpdateExtensionResponse](t)(a.UpdateExtension(ctx(), &inventoryv1.UpdateExtensionRequest{
				Extension: &inventoryv1.Extension{Name: "tenants/acme/extensions/100", DisplayName: name}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}))
		}
		// Normally the RPC touches the phone and removes its job.
		before := revOf()
		update("First")
		if revOf() <= before || jobs() != 0 {
			t.Fatalf("normal fan-out: revision %d -> %d, %d jobs left", before, revOf(), jobs())
		}
		// A crash right after the commit: the phone is not touched, the job stays.
		e.srv.SkipFanouts(true)
		before = revOf()
		update("Second")
		if revOf() != before || jobs() != 1 {
			t.Fatalf("after the simulated crash: revision %d -> %d, %d jobs", before, revOf(), jobs())
		}
		e.srv.SkipFanouts(false)
		if n, err := e.srv.FinishFanouts(context.Background(), time.Hour); n != 0 || err != nil || jobs() != 1 {
			t.Fatalf("a young job was taken: %d %v", n, err)
		}
		restarted := newEnvStore(t, e.st)
		if n, err := restarted.srv.FinishFanouts(context.Background(), 0); n != 1 || err != nil {
			t.Fatalf("FinishFanouts: %d %v", n, err)
		}
		if revOf() <= before || jobs() != 0 {
			t.Fatalf("after FinishFanouts: revision %d -> %d, %d jobs left", before, revOf(), jobs())
		}
	})
}
