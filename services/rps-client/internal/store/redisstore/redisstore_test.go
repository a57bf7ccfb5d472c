package redisstore_test

import (
	"testing"

	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store/redisstore"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store/storetest"
)

// TestConformance runs the suite on a real redis-server; a restart is a
// redis-server restart with appendfsync always.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, func() store.Store) {
		srv := redistest.Start(t, redistest.AOF("always"))
		s := redisstore.New(srv.Client(), "t:")
		return s, func() store.Store {
			srv.Restart()
			return s
		}
	})
}
