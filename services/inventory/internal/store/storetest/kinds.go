package storetest

import (
	"context"
	"testing"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// testEveryKind: every kind in store.Kinds is stored, listed by term and
// deleted alike (bbolt keeps a bucket per kind, so a kind added without its
// bucket fails here), and a console user's tenant reference blocks the
// tenant's deletion like a phone's does.
func testEveryKind(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, k := range store.Kinds {
		op := put(k, "x1", store.ExpectAbsent, "v-"+k.String())
		op.Terms = []string{"t=acme"}
		rev := mustApply(t, s, op)
		r, err := s.Get(ctx, k, "x1")
		if err != nil || r.Rev != rev || string(r.Value) != "v-"+k.String() {
			t.Fatalf("%s: Get = %+v, %v", k, r, err)
		}
		if got := list(t, s, k, "t=acme"); len(got) != 1 || got[0] != "x1" {
			t.Fatalf("%s: List = %v", k, got)
		}
		mustApply(t, s, store.Op{Kind: k, ID: "x1", Delete: true, Expect: rev})
		_, err = s.Get(ctx, k, "x1")
		wantErr(t, err, store.ErrNotFound)
	}

	mustApply(t, s, put(store.KindTenant, "acme", store.ExpectAbsent, "tenant"))
	user := put(store.KindUser, "alice", store.ExpectAbsent, "user")
	user.Terms = []string{"t=acme"}
	user.Refs = []string{store.Ref(store.KindTenant, "acme")}
	rev := mustApply(t, s, user)
	_, err := s.Apply(ctx, one(store.Op{Kind: store.KindTenant, ID: "acme", Delete: true, Expect: store.ExpectAny}))
	wantErr(t, err, store.ErrReferenced)
	mustApply(t, s, store.Op{Kind: store.KindUser, ID: "alice", Delete: true, Expect: rev})
	mustApply(t, s, store.Op{Kind: store.KindTenant, ID: "acme", Delete: true, Expect: store.ExpectAny})
}
