package phonesim

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/sipmsg"
	"github.com/dialtone-voip/dialtone/cmd/internal/vendorsim"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
)

// BenchmarkStorm measures phonesim itself: 500 Yealink T54W phones against a
// loopback responder and an HTTP server that renders each phone's files
// with the real config-renderer (no inventory, no pnp-listener). It reports
// phones/s and per-phone percentiles from SUBSCRIBE to the last file.
func BenchmarkStorm(b *testing.B) {
	ren := newRenderer(b)
	fs := newFileServer(b)
	fs.render = func(name string) ([]byte, int) {
		mac, _, _ := strings.Cut(name, ".")
		if len(mac) != 12 {
			mac = "001565000000"
		}
		prof := &provisioningv1.ProvisioningProfile{Mac: mac, Vendor: "yealink", Model: "T54W", ProvisioningUrl: goldenHTTPBase,
			SipServer: &provisioningv1.SipServer{Host: "pbx.example.net"},
			Lines:     []*provisioningv1.Line{{Index: 1, Extension: "1" + mac[6:], Password: "pw"}}}
		resp, err := ren.Render(context.Background(), prof, name)
		if err != nil {
			return nil, http.StatusNotFound
		}
		return resp.GetContent(), http.StatusOK
	}
	mr := newMultiResponder(b, func(*sipmsg.Message) string { return goldenHTTPBase })
	p, _ := vendorsim.NewPhone("yealink", "T54W", "", "")
	tmpl := Options{Phone: p, Local: netip.MustParseAddr("127.0.0.1"), Group: mr.addr(), HTTP: fs.client(),
		Timeout: 10 * time.Second, WaitNotify: 10 * time.Second}
	const n = 500
	b.ResetTimer()
	for b.Loop() {
		rep, err := Storm(context.Background(), StormOptions{Template: tmpl, Count: n, Concurrency: 50})
		if err != nil || rep.Failed > 0 {
			b.Fatalf("storm: %v %+v %v", err, rep.Failures, rep.Examples)
		}
		b.ReportMetric(rep.PhonesPerS, "phones/s")
		b.ReportMetric(rep.Provisioned.P50, "p50-ms")
		b.ReportMetric(rep.Provisioned.P99, "p99-ms")
	}
}
