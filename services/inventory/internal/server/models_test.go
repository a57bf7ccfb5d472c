package server_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/server"
)

// fakeCatalog answers ResolveModel for a few models the way config-renderer's
// catalog does (its own rules are tested there; the e2e test runs both).
type fakeCatalog struct{ down bool }

func (f fakeCatalog) ResolveModel(_ context.Context, in *rendererv1.ResolveModelRequest, _ ...grpc.CallOption) (*rendererv1.ResolveModelResponse, error) {
	if f.down {
		return nil, context.DeadlineExceeded
	}
	known := map[string][3]string{"T54W": {"yealink", "T54W", "T5x"}, "CP-8851-3PCC": {"cisco", "CP-8851-3PCC", "88xx"}}
	up := strings.ToUpper(in.GetModel())
	if k, ok := known[up]; ok {
		r := &rendererv1.ResolveModelResponse{Vendor: k[0], Model: k[1], Family: k[2], Status: rendererv1.ModelStatus_MODEL_STATUS_CATALOG}
		if in.GetVendor() != "" && in.GetVendor() != k[0] {
			r.OtherVendor = in.GetVendor()
		}
		return r, nil
	}
	if strings.HasPrefix(up, "C610") && (in.GetVendor() == "gigaset" || in.GetVendor() == "") {
		return &rendererv1.ResolveModelResponse{Vendor: "gigaset", Model: in.GetModel(), Status: rendererv1.ModelStatus_MODEL_STATUS_UNKNOWN,
			NotProvisionableReason: "fetches no provisioning file: configured through its web UI"}, nil
	}
	if strings.HasPrefix(up, "T5") && (in.GetVendor() == "yealink" || in.GetVendor() == "") {
		return &rendererv1.ResolveModelResponse{Vendor: "yealink", Model: up, Family: "T5x", Status: rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK}, nil
	}
	return &rendererv1.ResolveModelResponse{Vendor: in.GetVendor(), Model: in.GetModel(), Status: rendererv1.ModelStatus_MODEL_STATUS_UNKNOWN,
		FamilyPatterns: []string{"T5x (^T5)"}}, nil
}

func withCatalog(f fakeCatalog) envOpt {
	return func(_ *server.Config, o *server.Options) { o.Models = f }
}

func TestModelResolution(t *testing.T) {
	e := newEnv(t, withCatalog(fakeCatalog{}))
	a := e.clients["admin"]
	create := func(mac, vendor, model string) (*inventoryv1.Phone, error) {
		r, err := a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: mac, Vendor: vendor, Model: model}})
		return r.GetPhone(), err
	}
	// A Cisco MAC and a catalog model in lower case: no vendor needed, the spelling is the catalog's.
	p, err := create("00562b000001", "", "cp-8851-3pcc")
	if err != nil || p.GetVendor() != "cisco" || p.GetModel() != "CP-8851-3PCC" || p.GetModelStatus() != rendererv1.ModelStatus_MODEL_STATUS_CATALOG ||
		p.GetModelFamily() != "88xx" || p.GetModelWarning() != "" {
		t.Fatalf("cisco: %v %v", p, err)
	}
	// The model names the vendor even where the MAC's block says nothing.
	if p, err = create("020000000002", "", "T54W"); err != nil || p.GetVendor() != "yealink" {
		t.Fatalf("T54W on an unregistered MAC: %v %v", p, err)
	}
	// A Yealink model on a Fanvil MAC: accepted (OEM), with a warning.
	p, err = create("0c383e000001", "", "t54w")
	if err != nil || p.GetVendor() != "yealink" || p.GetModel() != "T54W" || !strings.Contains(p.GetModelWarning(), "OEM") {
		t.Fatalf("T54W on a Fanvil MAC: %v %v", p, err)
	}
	// Not in the catalog, of a family's pattern: the family fallback, said so.
	p, err = create("001565000001", "", "t59z")
	if err != nil || p.GetModel() != "T59Z" || p.GetModelStatus() != rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK ||
		p.GetModelFamily() != "T5x" || !strings.Contains(p.GetModelWarning(), "T5x family") {
		t.Fatalf("T59Z: %v %v", p, err)
	}
	// Neither: refused, naming the field and the fix.
	_, err = create("001565000002", "", "Q1")
	wantCode(t, err, codes.InvalidArgument, "phone.model")
	if err != nil && !strings.Contains(err.Error(), "models list --vendor yealink") {
		t.Errorf("no fix named: %v", err)
	}
	// A real model no file configures: refused with the catalog's reason, not "check the spelling".
	_, err = create("7c2f80000001", "", "C610")
	wantCode(t, err, codes.InvalidArgument, "phone.model")
	if err != nil && (!strings.Contains(err.Error(), "not provisionable by Dialtone: it fetches no provisioning file") || strings.Contains(err.Error(), "spelling")) {
		t.Errorf("C610: reason not named: %v", err)
	}
	_, err = create("001565000002", "Acme", "T54W")
	wantCode(t, err, codes.InvalidArgument, "phone.vendor")

	// A discovered phone of an unknown model is recorded, status UNKNOWN, with a warning.
	if err := e.srv.HandleDiscovered(context.Background(), &eventsv1.PhoneDiscovered{Mac: "001565000003", Vendor: "yealink", Model: "Q2"}); err != nil {
		t.Fatal(err)
	}
	g, err := a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: "phones/001565000003"})
	if err != nil || g.GetPhone().GetModelStatus() != rendererv1.ModelStatus_MODEL_STATUS_UNKNOWN || g.GetPhone().GetModelWarning() == "" {
		t.Fatalf("discovered Q2: %v %v", g, err)
	}
	// And one of a family's pattern gets the fallback.
	if err := e.srv.HandleDiscovered(context.Background(), &eventsv1.PhoneDiscovered{Mac: "001565000004", Vendor: "yealink", Model: "T58Z"}); err != nil {
		t.Fatal(err)
	}
	g, _ = a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: "phones/001565000004"})
	if g.GetPhone().GetModelStatus() != rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK || g.GetPhone().GetModelFamily() != "T5x" {
		t.Fatalf("discovered T58Z: %v", g)
	}
}

// TestModelResolutionRendererDown: the catalog is advice; without it a
// phone is recorded as given, with a warning.
func TestModelResolutionRendererDown(t *testing.T) {
	e := newEnv(t, withCatalog(fakeCatalog{down: true}))
	r, err := e.clients["admin"].CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "001565000001", Model: "T54W"}})
	if err != nil || r.GetPhone().GetVendor() != "yealink" || !strings.Contains(r.GetPhone().GetModelWarning(), "not checked") {
		t.Fatalf("%v %v", r, err)
	}
}

// TestUncheckedModelCheckedOnRediscovery: a phone recorded while
// config-renderer was down is checked when it is next discovered.
func TestUncheckedModelCheckedOnRediscovery(t *testing.T) {
	cat := &switchCatalog{}
	cat.down.Store(true)
	e := newEnv(t, func(_ *server.Config, o *server.Options) { o.Models = cat })
	at := time.Now().Add(-time.Hour)
	ev := &eventsv1.PhoneDiscovered{Mac: "001565000005", Vendor: "yealink", Model: "t59z", ObservedTime: timestamppb.New(at)}
	if err := e.srv.HandleDiscovered(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	g, _ := e.admin().GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: "phones/001565000005"})
	if g.GetPhone().GetModelStatus() != rendererv1.ModelStatus_MODEL_STATUS_UNSPECIFIED || !strings.Contains(g.GetPhone().GetModelWarning(), "not checked") {
		t.Fatalf("while down: %v", g.GetPhone())
	}
	cat.down.Store(false)
	ev.ObservedTime = timestamppb.New(at.Add(time.Minute))
	if err := e.srv.HandleDiscovered(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	g, _ = e.admin().GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: "phones/001565000005"})
	if p := g.GetPhone(); p.GetModelStatus() != rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK || p.GetModel() != "T59Z" || p.GetModelFamily() != "T5x" {
		t.Fatalf("after: %v", p)
	}
}

type switchCatalog struct{ down atomic.Bool }

func (c *switchCatalog) ResolveModel(ctx context.Context, in *rendererv1.ResolveModelRequest, opts ...grpc.CallOption) (*rendererv1.ResolveModelResponse, error) {
	return fakeCatalog{down: c.down.Load()}.ResolveModel(ctx, in, opts...)
}
