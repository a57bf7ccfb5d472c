package store_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
)

func TestAddObjects(t *testing.T) {
	var r store.Record
	r.AddObjects("server a")
	r.AddObjects("server b")
	r.AddObjects("server a") // back in use: moves to the end, not doubled
	if want := []string{"server b", "server a"}; !slices.Equal(r.Objects, want) {
		t.Fatalf("objects %q, want %q", r.Objects, want)
	}
	for i := range store.MaxObjects + 5 {
		r.AddObjects(fmt.Sprintf("server %d", i))
	}
	if len(r.Objects) != store.MaxObjects || r.Objects[len(r.Objects)-1] != fmt.Sprintf("server %d", store.MaxObjects+4) {
		t.Fatalf("%d objects, last %q", len(r.Objects), r.Objects[len(r.Objects)-1])
	}
}
