package inventory_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/services/inventory"
)

// familyCatalog stands in for config-renderer: every Yealink "T5…" model
// it does not list is of the T5x family.
type familyCatalog struct{}

func (familyCatalog) ResolveModel(_ context.Context, in *rendererv1.ResolveModelRequest, _ ...grpc.CallOption) (*rendererv1.ResolveModelResponse, error) {
	return &rendererv1.ResolveModelResponse{Vendor: "yealink", Model: strings.ToUpper(in.GetModel()), Family: "T5x",
		Status: rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK}, nil
}

// TestFamilyFallbackEvent: a discovered phone of a model the catalog does
// not list is recorded with its family, and its PhoneChanged says so.
func TestFamilyFallbackEvent(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	start(t, boltStore(t), js, func(_ *inventory.Config, d *inventory.Deps) { d.Models = familyCatalog{} })
	const mac = "001565000077"
	ev := &eventsv1.PhoneDiscovered{Mac: mac, Vendor: "yealink", Model: "t59z", SourceAddress: "198.18.0.7:5060",
		Listener: "site-a", CallId: "call-77", ObservedTime: timestamppb.Now()}
	if err := natsjs.Publish(context.Background(), js, streams.Subject(streams.PhoneDiscoveredPrefix, mac), ev, "disc-77"); err != nil {
		t.Fatal(err)
	}
	var got *eventsv1.PhoneChanged
	waitFor(t, 10*time.Second, "PhoneChanged", func() bool {
		_, evs := phoneEvents(t, js)
		for _, e := range evs {
			if e.GetPhone().GetMac() == mac {
				got = e
			}
		}
		return got != nil
	})
	if got.GetPhone().GetModelStatus() != rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK || got.GetPhone().GetModel() != "T59Z" ||
		got.GetPhone().GetModelFamily() != "T5x" || !strings.Contains(got.GetModelWarning(), "T5x family") {
		t.Fatalf("PhoneChanged: %v", got)
	}
}

// rendererStub is config-renderer's ResolveModel over real gRPC.
type rendererStub struct {
	rendererv1.UnimplementedConfigRendererServiceServer
}

func (rendererStub) ResolveModel(ctx context.Context, in *rendererv1.ResolveModelRequest) (*rendererv1.ResolveModelResponse, error) {
	return familyCatalog{}.ResolveModel(ctx, in)
}

// TestRendererAddrDialled: with --renderer-addr (and its token file)
// inventory asks that config-renderer over gRPC.
func TestRendererAddrDialled(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	rendererv1.RegisterConfigRendererServiceServer(gs, rendererStub{})
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("renderer-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := start(t, boltStore(t), nil, func(c *inventory.Config, _ *inventory.Deps) {
		c.RendererAddr, c.RendererTokenFile = lis.Addr().String(), tokenFile
	})
	r, err := h.admin.CreatePhone(cctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "001565000088", Model: "t59z"}})
	if err != nil || r.GetPhone().GetModelStatus() != rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK || r.GetPhone().GetModel() != "T59Z" {
		t.Fatalf("%v %v", r, err)
	}
}
