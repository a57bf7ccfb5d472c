package rpsclient

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// testInventory is a minimal InventoryService over loopback gRPC: it
// answers GetProvisioningUrl from a table the test fills.
type testInventory struct {
	inventoryv1.UnimplementedInventoryServiceServer
	mu     sync.Mutex
	phones map[string]*inventoryv1.Phone
	urls   map[string]string
	fail   codes.Code // when set, every call fails with it
	calls  int
}

func startInventory(t testing.TB) (*testInventory, inventoryv1.InventoryServiceClient) {
	inv := &testInventory{phones: map[string]*inventoryv1.Phone{}, urls: map[string]string{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	inventoryv1.RegisterInventoryServiceServer(srv, inv)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return inv, inventoryv1.NewInventoryServiceClient(conn)
}

func (i *testInventory) GetProvisioningUrl(_ context.Context, req *inventoryv1.GetProvisioningUrlRequest) (*inventoryv1.GetProvisioningUrlResponse, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.calls++
	if i.fail != codes.OK {
		return nil, status.Error(i.fail, "injected failure")
	}
	mac := strings.TrimPrefix(req.GetName(), "phones/")
	p, ok := i.phones[mac]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such phone")
	}
	return &inventoryv1.GetProvisioningUrlResponse{Url: i.urls[mac], Phone: proto.Clone(p).(*inventoryv1.Phone)}, nil
}

// set stores a phone at a new revision and returns the PhoneChanged event
// inventory would publish for it.
func (i *testInventory) set(mac, vendor, tenant string, save bool, url string, ct inventoryv1.PhoneChangeType) *eventsv1.PhoneChanged {
	i.mu.Lock()
	defer i.mu.Unlock()
	rev := int64(1)
	if old, ok := i.phones[mac]; ok {
		rev = old.GetRevision() + 1
	}
	p := &inventoryv1.Phone{Name: "phones/" + mac, Mac: mac, Vendor: vendor, Tenant: tenant, Revision: rev,
		Settings: &inventoryv1.ProvisioningSettings{SaveToRps: save}}
	if tenant != "" {
		p.State = inventoryv1.PhoneState_PHONE_STATE_ASSIGNED
	} else {
		p.State = inventoryv1.PhoneState_PHONE_STATE_DISCOVERED
	}
	i.phones[mac] = p
	i.urls[mac] = url
	if ct == inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DELETED {
		delete(i.phones, mac)
	}
	// Events carry no URL (events.proto).
	return &eventsv1.PhoneChanged{ChangeType: ct, Phone: proto.Clone(p).(*inventoryv1.Phone), Revision: rev}
}

func (i *testInventory) setFail(c codes.Code) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.fail = c
}

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
