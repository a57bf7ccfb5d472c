package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store/boltstore"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store/storetest"
)

// TestConformance runs the suite on a temporary file; a restart closes
// the file and opens it again.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, func() store.Store) {
		path := filepath.Join(t.TempDir(), "rps.db")
		s := open(t, path)
		return s, func() store.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, path)
			return s
		}
	})
}

func open(t *testing.T, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
