package suite

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/rps-client"
)

// rpsRunner is rps-client on the embedded store.
type rpsRunner struct {
	svc   *rpsclient.Service
	store rpsclient.Store
}

func (r *rpsRunner) close() { r.store.Close() }

// newRPS builds rps-client over a bbolt file in the data directory. Vendor
// accounts are read from <data-dir>/rps (see the rps-client README for the
// file layout); with none, phones with save-to-RPS get NO_ACCOUNT.
func newRPS(cfg Config, logger *slog.Logger, reg prometheus.Registerer, js jetstream.JetStream, inv inventoryv1.InventoryServiceClient) (*rpsRunner, error) {
	store, err := rpsclient.OpenBoltStore(filepath.Join(cfg.DataDir, "rps.db"))
	if err != nil {
		return nil, fmt.Errorf("rps-client store: %w", err)
	}
	rcfg := rpsclient.Defaults()
	rcfg.CredentialsDir = filepath.Join(cfg.DataDir, "rps")
	rcfg.RedisURL, rcfg.NATSURL, rcfg.InventoryAddr = "", "", ""
	svc, err := rpsclient.New(rcfg, rpsclient.Deps{Logger: logger, Registerer: reg, JetStream: js, Store: store, Inventory: inv})
	if err != nil {
		store.Close()
		return nil, err
	}
	return &rpsRunner{svc: svc, store: store}, nil
}
