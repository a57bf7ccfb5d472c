package rpsclient

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/platform/inventorytest"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// testInventory keeps the phones rps-client looks up in the one
// InventoryService double (platform/inventorytest) and makes the
// PhoneChanged events inventory would publish for them.
type testInventory struct {
	*inventorytest.Server
	mu   sync.Mutex
	revs map[string]int64
}

func startInventory(t testing.TB) (*testInventory, inventoryv1.InventoryServiceClient) {
	srv, err := inventorytest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	client, closeConn, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeConn)
	return &testInventory{Server: srv, revs: map[string]int64{}}, client
}

// set stores a phone at a new revision and returns the PhoneChanged event
// inventory would publish for it.
func (i *testInventory) set(mac, vendor, tenant string, save bool, url string, ct inventoryv1.PhoneChangeType) *eventsv1.PhoneChanged {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.revs[mac]++
	rev := i.revs[mac]
	p := &inventoryv1.Phone{Name: "phones/" + mac, Mac: mac, Vendor: vendor, Tenant: tenant, Revision: rev,
		Settings: &inventoryv1.ProvisioningSettings{SaveToRps: save}}
	if tenant != "" {
		p.State = inventoryv1.PhoneState_PHONE_STATE_ASSIGNED
	} else {
		p.State = inventoryv1.PhoneState_PHONE_STATE_DISCOVERED
	}
	if ct == inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DELETED {
		i.Delete(mac)
		delete(i.revs, mac)
	} else {
		i.Set(mac, inventorytest.Entry{URL: url, Phone: p})
	}
	// Events carry no URL (events.proto).
	return &eventsv1.PhoneChanged{ChangeType: ct, Phone: proto.Clone(p).(*inventoryv1.Phone), Revision: rev}
}

func (i *testInventory) setFail(c codes.Code) { i.SetFail(c) }

// writeAccount writes <dir>/<tenant>.<vendor>.json.
func writeAccount(t testing.TB, dir, tenant, vendor string, acct map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(acct)
	tmp := filepath.Join(dir, "."+tenant+"."+vendor+".tmp")
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, tenant+"."+vendor+".json")); err != nil {
		t.Fatal(err)
	}
}

// testClock is a settable clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// published records RpsResult events by message id.
type published struct {
	mu   sync.Mutex
	ids  []string
	evs  []*eventsv1.RpsResult
	fail bool
}

func (p *published) publish(_ context.Context, subject, id string, m proto.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return fmt.Errorf("nats: no responders")
	}
	p.ids = append(p.ids, id)
	p.evs = append(p.evs, proto.Clone(m).(*eventsv1.RpsResult))
	return nil
}

func (p *published) last() *eventsv1.RpsResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.evs) == 0 {
		return nil
	}
	return p.evs[len(p.evs)-1]
}

func (p *published) setFail(f bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = f
}

func (p *published) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ids)
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newLogger(buf *logtest.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func startRedis(t testing.TB) *redistest.Server { return redistest.Start(t) }
