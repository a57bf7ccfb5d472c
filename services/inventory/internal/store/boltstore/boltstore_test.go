package boltstore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/boltstore"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "inventory.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestSealing: the conformance suite over sealstore, and the bbolt file of
// a seeded store holds none of the seeded secrets.
func TestSealing(t *testing.T) {
	storetest.RunSealing(t, func(t *testing.T) (store.Store, storetest.Dumper) {
		path := filepath.Join(t.TempDir(), "inventory.db")
		s, err := boltstore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return s, func(t *testing.T) []byte {
			// Every commit is fsynced: the file is what a copied disk holds.
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	})
}
