package renderer

import (
	"context"
	"testing"

	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestResolveModelRPC(t *testing.T) {
	s := newService(t, "")
	ctx := context.Background()
	for _, tc := range []struct {
		vendor, model string
		want          *rendererv1.ResolveModelResponse
	}{
		{"", "cp-8851-3pcc", &rendererv1.ResolveModelResponse{Vendor: "cisco", Model: "CP-8851-3PCC", Status: rendererv1.ModelStatus_MODEL_STATUS_CATALOG, Family: "88xx"}},
		{"yealink", "T59Z", &rendererv1.ResolveModelResponse{Vendor: "yealink", Model: "T59Z", Status: rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK, Family: "T5x"}},
		{"yealink", "Q1", &rendererv1.ResolveModelResponse{Vendor: "yealink", Model: "Q1", Status: rendererv1.ModelStatus_MODEL_STATUS_UNKNOWN}},
	} {
		got, err := s.ResolveModel(ctx, &rendererv1.ResolveModelRequest{Vendor: tc.vendor, Model: tc.model})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetVendor() != tc.want.GetVendor() || got.GetModel() != tc.want.GetModel() || got.GetStatus() != tc.want.GetStatus() || got.GetFamily() != tc.want.GetFamily() {
			t.Errorf("%s/%s: %v", tc.vendor, tc.model, got)
		}
		if got.GetVendor() != "" && len(got.GetFamilyPatterns()) == 0 {
			t.Errorf("%s/%s: no family patterns", tc.vendor, tc.model)
		}
	}
	for _, req := range []*rendererv1.ResolveModelRequest{{Vendor: "acme", Model: "X1"}, {Vendor: "yealink"}} {
		if _, err := s.ResolveModel(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: %v, want InvalidArgument", req, err)
		}
	}
}

func TestGetModelFamilyFallback(t *testing.T) {
	s := newService(t, "")
	ctx := context.Background()
	if _, err := s.GetModel(ctx, &rendererv1.GetModelRequest{Name: "vendors/snom/models/D999"}); status.Code(err) != codes.NotFound {
		t.Fatalf("without allow_family_fallback: %v", err)
	}
	r, err := s.GetModel(ctx, &rendererv1.GetModelRequest{Name: "vendors/snom/models/D999", AllowFamilyFallback: true})
	if err != nil || !r.GetModel().GetFamilyFallback() || r.GetModel().GetFamily() != "D-series" || !r.GetModel().GetUserAgentHasMac() {
		t.Fatalf("with allow_family_fallback: %v %v", r, err)
	}
	r, err = s.GetModel(ctx, &rendererv1.GetModelRequest{Name: "vendors/snom/models/D785", AllowFamilyFallback: true})
	if err != nil || r.GetModel().GetFamilyFallback() {
		t.Fatalf("catalog model: %v %v", r, err)
	}
}

// TestFallbackRenderCounted: a family-fallback render is counted per vendor.
func TestFallbackRenderCounted(t *testing.T) {
	s := newService(t, "")
	mac := "001565a1b2c3"
	if _, err := s.Render(context.Background(), profile("yealink", "T59Z", mac), mac+".cfg"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Render(context.Background(), profile("yealink", "T54W", mac), mac+".cfg"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(s.fallbacks.WithLabelValues("yealink")); n != 1 {
		t.Errorf("dialtone_config_renderer_family_fallback_renders_total{vendor=yealink} = %v, want 1", n)
	}
}
