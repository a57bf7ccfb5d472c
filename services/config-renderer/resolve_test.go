package renderer

import (
	"context"
	"strings"
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

// TestNotProvisionableModels: Gigaset's web-UI-configured bases (Wazo
// plugins/wazo_gigaset/C470, C590) are UNKNOWN with the reason, whatever the
// spelling, and never adopted by a family pattern (N300 IP would match ^N\d{3}).
func TestNotProvisionableModels(t *testing.T) {
	s := newService(t, "")
	ctx := context.Background()
	models := []string{"C470 IP", "C475 IP", "C590 IP", "C595 IP", "C610 IP", "C610A IP", "S675 IP", "S685 IP", "N300 IP", "N300A IP", "c610", "C610IP", "n300_ip"}
	for _, m := range models {
		for _, v := range []string{"", "gigaset"} {
			got, err := s.ResolveModel(ctx, &rendererv1.ResolveModelRequest{Vendor: v, Model: m})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetVendor() != "gigaset" || got.GetStatus() != rendererv1.ModelStatus_MODEL_STATUS_UNKNOWN || got.GetFamily() != "" ||
				!strings.Contains(got.GetNotProvisionableReason(), "web UI") || !strings.Contains(got.GetNotProvisionableReason(), "wazo_gigaset/common_c/common.py") {
				t.Errorf("%q/%q: %v", v, m, got)
			}
		}
		if _, err := s.GetModel(ctx, &rendererv1.GetModelRequest{Name: "vendors/gigaset/models/" + strings.ReplaceAll(m, " ", "-"), AllowFamilyFallback: true}); status.Code(err) != codes.NotFound {
			t.Errorf("GetModel %s with fallback: %v, want NotFound", m, err)
		}
	}
	// Other Gigaset N models still fall back, and the catalog's own are untouched.
	for m, fam := range map[string]string{"N870": "N-series DECT", "N999": "N-series DECT", "N510 IP PRO": "N510 DECT"} {
		got, _ := s.ResolveModel(ctx, &rendererv1.ResolveModelRequest{Vendor: "gigaset", Model: m})
		if got.GetFamily() != fam || got.GetNotProvisionableReason() != "" {
			t.Errorf("%s: %v", m, got)
		}
	}
	// A Snom hint keeps Snom's own C-series pattern.
	if got, _ := s.ResolveModel(ctx, &rendererv1.ResolveModelRequest{Vendor: "snom", Model: "C610"}); got.GetFamily() != "C-series" || got.GetNotProvisionableReason() != "" {
		t.Errorf("snom C610: %v", got)
	}
}

// Cisco 7905G/7912G (binary cfgfmt profile for their SIP firmware) and 7920
// (SCCP only; Wazo plugins/wazo_cisco_sccp/legacy) are UNKNOWN with the reason,
// never adopted by the 79x1 pattern; made-up 79x1/797x/894x names fall back to
// cisco-79x1, 7940/7960 spellings to cisco-7940.
func TestCiscoSEPFamilyAndNotProvisionable(t *testing.T) {
	s := newService(t, "")
	ctx := context.Background()
	for _, m := range []string{"7905G", "7912G", "CP-7905G", "7912", "7920", "cp-7920"} {
		for _, v := range []string{"", "cisco"} {
			got, err := s.ResolveModel(ctx, &rendererv1.ResolveModelRequest{Vendor: v, Model: m})
			if err != nil {
				t.Fatal(err)
			}
			r := got.GetNotProvisionableReason()
			if got.GetVendor() != "cisco" || got.GetStatus() != rendererv1.ModelStatus_MODEL_STATUS_UNKNOWN || got.GetFamily() != "" ||
				!strings.Contains(r, "wazo_cisco_sccp/legacy/entry.py") || !strings.Contains(r, "SCCP") {
				t.Errorf("%q/%q: %v", v, m, got)
			}
			if strings.Contains(m, "79") && !strings.Contains(m, "7920") && !strings.Contains(r, "cfgfmt") {
				t.Errorf("%s: reason does not name the binary cfgfmt profile: %q", m, r)
			}
		}
	}
	for m, fam := range map[string]string{"7961": "cisco-79x1", "7977G": "cisco-79x1", "CP-7961G-GE": "cisco-79x1", "7948G": "cisco-79x1",
		"8949": "cisco-79x1", "7906": "cisco-79x1", "7931": "cisco-79x1", "7940G": "cisco-7940", "CP-7960G": "cisco-7940"} {
		for _, v := range []string{"", "cisco"} {
			got, err := s.ResolveModel(ctx, &rendererv1.ResolveModelRequest{Vendor: v, Model: m})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetVendor() != "cisco" || got.GetStatus() != rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK || got.GetFamily() != fam {
				t.Errorf("%q/%q: %v, want family %s", v, m, got, fam)
			}
		}
	}
	r, err := s.GetModel(ctx, &rendererv1.GetModelRequest{Name: "vendors/cisco/models/7977G", AllowFamilyFallback: true})
	if err != nil || r.GetModel().GetSipAccounts() != 24 || r.GetModel().GetFilePatterns()[0] != "SEP{MAC}.cnf.xml" || r.GetModel().GetUserAgentHasMac() {
		t.Errorf("7977G fallback: %v %v", r, err)
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
