package renderer

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/testenv"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

var fixedNow = func() time.Time { return time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC) }

func profile(vendor, model, mac string) *provisioningv1.ProvisioningProfile {
	return &provisioningv1.ProvisioningProfile{
		Mac: mac, Vendor: vendor, Model: model, ProvisioningUrl: "https://prov.example.net/p/tok/",
		PollInterval: durationpb.New(time.Hour), TimeZone: "Europe/Berlin", NtpServer: "pool.ntp.org", Language: "en",
		WebPassword: "admin-pw", Codecs: []provisioningv1.Codec{provisioningv1.Codec_CODEC_G722, provisioningv1.Codec_CODEC_PCMA},
		SipServer: &provisioningv1.SipServer{Host: "pbx.example.net", Transport: provisioningv1.Transport_TRANSPORT_UDP},
		Lines:     []*provisioningv1.Line{{Index: 1, Extension: "100", DisplayName: "Desk 100", Password: "sip-pw"}},
	}
}

func newService(t testing.TB, dir string) *Service {
	t.Helper()
	s, err := New(Config{TemplatesDir: dir, Reload: 100 * time.Millisecond}, Deps{Registerer: prometheus.NewRegistry(), Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dial(t *testing.T, s *Service) rendererv1.ConfigRendererServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	s.RegisterGRPC(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return rendererv1.NewConfigRendererServiceClient(conn)
}

func code(err error) codes.Code { return status.Code(err) }

func TestGRPC(t *testing.T) {
	s := newService(t, "")
	c := dial(t, s)
	ctx := context.Background()

	// RenderFile: ok, etag stable, secrets flagged.
	p := profile("yealink", "T54W", "805ec0112233")
	r, err := c.RenderFile(ctx, &rendererv1.RenderFileRequest{Profile: p, FileName: "805ec0112233.cfg"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(r.Content), "#!version:1.0.0.1\n") || r.ContentType != "text/plain; charset=utf-8" ||
		!r.ContainsSecrets || r.TemplateVersion != s.TemplateVersion() || len(r.Etag) != 34 || r.Etag[0] != '"' {
		t.Errorf("render: %+v", r)
	}
	r2, _ := c.RenderFile(ctx, &rendererv1.RenderFileRequest{Profile: p, FileName: "805ec0112233.cfg"})
	if r2.Etag != r.Etag {
		t.Error("etag not stable")
	}
	common, err := c.RenderFile(ctx, &rendererv1.RenderFileRequest{Profile: p, FileName: "y000000000096.cfg"})
	if err != nil || common.ContainsSecrets || strings.Contains(string(common.Content), "sip-pw") {
		t.Errorf("common file: %v %v", err, common)
	}
	for _, tc := range []struct {
		p    *provisioningv1.ProvisioningProfile
		file string
		want codes.Code
	}{
		{p, "aabbccddeeff.cfg", codes.NotFound},
		{p, "805EC0112233.cfg", codes.NotFound},
		{p, "cfg805ec0112233.xml", codes.NotFound},
		{p, "../805ec0112233.cfg", codes.NotFound},
		{p, "", codes.NotFound},
		{profile("yealink", "T99X", "805ec0112233"), "805ec0112233.cfg", codes.NotFound},
		{nil, "805ec0112233.cfg", codes.InvalidArgument},
		{func() *provisioningv1.ProvisioningProfile {
			q := profile("yealink", "T54W", "805ec0112233")
			q.Language = "ja"
			return q
		}(), "805ec0112233.cfg", codes.InvalidArgument},
		{func() *provisioningv1.ProvisioningProfile {
			q := profile("cisco", "CP-7811-3PCC", "00562b112233")
			q.Lines = append(q.Lines, q.Lines[0])
			return q
		}(), "00562b112233.xml", codes.InvalidArgument},
	} {
		_, err := c.RenderFile(ctx, &rendererv1.RenderFileRequest{Profile: tc.p, FileName: tc.file})
		if code(err) != tc.want {
			t.Errorf("%q: %v, want %v", tc.file, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "sip-pw") {
			t.Error("secret in error")
		}
	}

	// ListModels with paging and a vendor filter.
	var all []*rendererv1.Model
	tok := ""
	for {
		resp, err := c.ListModels(ctx, &rendererv1.ListModelsRequest{PageSize: 7, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, resp.Models...)
		if tok = resp.NextPageToken; tok == "" {
			break
		}
	}
	if len(all) < 60 || len(all) != len(s.Models("")) {
		t.Errorf("ListModels returned %d", len(all))
	}
	snom, _ := c.ListModels(ctx, &rendererv1.ListModelsRequest{Vendor: "snom"})
	for _, m := range snom.Models {
		// snom-classic (3xx/7xx/8xx, PA1, MP) firmware 8.x User-Agents carry no MAC
		// ("snomPA1-SIP 8.4.35 1.1.3-s", WZ:plugins/wazo_snom/common/common.py).
		if m.Family == "snom-kle" || m.Family == "snom-m3" { // one file, named by the URL we hand out; UA not known to carry the MAC
			if m.UserAgentHasMac || len(m.FilePatterns) != 1 || m.FilePatterns[0] != map[string]string{"snom-kle": "{mac}.xml", "snom-m3": "{mac}.cfg"}[m.Family] {
				t.Errorf("snom model %+v", m)
			}
			continue
		}
		if m.Vendor != "snom" || m.UserAgentHasMac == (m.Family == "snom-classic") || m.FilePatterns[1] != "snom"+m.Model+"-{MAC}.htm" {
			t.Errorf("snom model %+v", m)
		}
	}
	if _, err := c.ListModels(ctx, &rendererv1.ListModelsRequest{Vendor: "acme"}); code(err) != codes.InvalidArgument {
		t.Errorf("bad vendor: %v", err)
	}
	if _, err := c.ListModels(ctx, &rendererv1.ListModelsRequest{PageToken: "garbage"}); code(err) != codes.InvalidArgument {
		t.Errorf("bad token: %v", err)
	}

	// GetModel.
	gm, err := c.GetModel(ctx, &rendererv1.GetModelRequest{Name: "vendors/poly/models/VVX450"})
	if err != nil || gm.Model.SipAccounts != 12 || gm.Model.UserAgentHasMac || gm.Model.FilePatterns[0] != "{mac}.cfg" {
		t.Errorf("GetModel: %v %v", gm, err)
	}
	if _, err := c.GetModel(ctx, &rendererv1.GetModelRequest{Name: "vendors/poly/models/VVX999"}); code(err) != codes.NotFound {
		t.Errorf("GetModel missing: %v", err)
	}
	if _, err := c.GetModel(ctx, &rendererv1.GetModelRequest{Name: "poly/VVX450"}); code(err) != codes.InvalidArgument {
		t.Errorf("GetModel bad name: %v", err)
	}

	// ListVendors.
	vs, err := c.ListVendors(ctx, &rendererv1.ListVendorsRequest{})
	if err != nil || len(vs.Vendors) != 8 {
		t.Fatalf("ListVendors: %v %v", vs, err)
	}
	for _, v := range vs.Vendors {
		if v.Vendor == "cisco" && (v.CheckSyncDialect != rendererv1.CheckSyncDialect_CHECK_SYNC_DIALECT_RESYNC || v.Pnp) {
			t.Errorf("cisco: %+v", v)
		}
		if v.Vendor == "grandstream" && (!v.Pnp || v.PnpUrlTemplate != "{url}") {
			t.Errorf("grandstream: %+v", v)
		}
	}

	// IdentifyDevice.
	id, err := c.IdentifyDevice(ctx, &rendererv1.IdentifyDeviceRequest{UserAgent: "Yealink SIP-T54W 96.86.0.45 80:5e:c0:d5:7d:72"})
	if err != nil || id.Vendor != "yealink" || id.Model != "T54W" {
		t.Errorf("identify UA: %v %v", id, err)
	}
	id, err = c.IdentifyDevice(ctx, &rendererv1.IdentifyDeviceRequest{Mac: "000b82aabbcc", PnpVendor: "Grandstream", PnpModel: "GXP2170"})
	if err != nil || id.Vendor != "grandstream" || id.Model != "GXP2170" {
		t.Errorf("identify PnP: %v %v", id, err)
	}
	if _, err := c.IdentifyDevice(ctx, &rendererv1.IdentifyDeviceRequest{Mac: "aabbccddeeff", UserAgent: "curl/8"}); code(err) != codes.NotFound {
		t.Errorf("identify unknown: %v", err)
	}
	if _, err := c.IdentifyDevice(ctx, &rendererv1.IdentifyDeviceRequest{UserAgent: strings.Repeat("x", 2000)}); code(err) != codes.InvalidArgument {
		t.Errorf("identify long: %v", err)
	}
}

// The service keeps serving the last good set when the directory breaks, and
// picks up fixes without a restart; the version moves the etag.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "yealink", "extra.tmpl")
	_ = os.MkdirAll(filepath.Dir(file), 0o755)
	writeAt := func(content string, mod time.Time) {
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_ = os.Chtimes(file, mod, mod)
	}
	writeAt(`{{define "yealink/mac.extra"}}features.v = 1
{{end}}`, time.Unix(1000, 0))
	s := newService(t, dir)
	p := profile("yealink", "T54W", "805ec0112233")
	render := func() string {
		r, err := s.Render(context.Background(), p, "805ec0112233.cfg")
		if err != nil {
			t.Fatal(err)
		}
		return string(r.Content) + r.Etag
	}
	if !strings.Contains(render(), "features.v = 1") {
		t.Fatal("override not applied at start")
	}
	v1 := s.TemplateVersion()
	writeAt(`{{define "yealink/mac.extra"}}features.v = {{.Broken}`, time.Unix(2000, 0))
	if s.Reload() || s.LoadError() == "" || !strings.Contains(s.LoadError(), "yealink/extra.tmpl:1") {
		t.Errorf("broken set: reload=%v err=%q", false, s.LoadError())
	}
	if !strings.Contains(render(), "features.v = 1") || s.TemplateVersion() != v1 {
		t.Error("previous good set not serving")
	}
	writeAt(`{{define "yealink/mac.extra"}}features.v = 2
{{end}}`, time.Unix(3000, 0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	pollErr := testenv.Poll(5*time.Second, func() bool { return s.TemplateVersion() != v1 })
	cancel()
	<-done
	if pollErr != nil || !strings.Contains(render(), "features.v = 2") || s.LoadError() != "" {
		t.Error("fixed set not picked up by Run")
	}
	if err := s.Ready(); err != nil {
		t.Error(err)
	}
}

func TestBrokenDirAtStart(t *testing.T) {
	dir := t.TempDir()
	_ = os.MkdirAll(filepath.Join(dir, "yealink"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "yealink", "x.tmpl"), []byte(`{{define "yealink/mac.extra"}}{{.Model}}{{end}}`), 0o644)
	s := newService(t, dir)
	if s.LoadError() == "" || s.Ready() != nil {
		t.Errorf("broken start: %q %v", s.LoadError(), s.Ready())
	}
	if _, err := s.Render(context.Background(), profile("yealink", "T54W", "805ec0112233"), "805ec0112233.cfg"); err != nil {
		t.Error(err)
	}
}

func benchRender(b *testing.B, vendor, model, mac, file string) {
	s := newService(b, "")
	p := profile(vendor, model, mac)
	ctx := context.Background()
	if _, err := s.Render(ctx, p, file); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	// The machine is shared: report CPU time per render (renders per CPU-second
	// = per core), not only wall time.
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Render(ctx, p, file); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "renders/s")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "renders/cpu-s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkRenderYealinkMAC(b *testing.B) {
	benchRender(b, "yealink", "T54W", "805ec0112233", "805ec0112233.cfg")
}

func BenchmarkRenderPolyPhone(b *testing.B) {
	benchRender(b, "poly", "VVX450", "0004f2112233", "phone0004f2112233.cfg")
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Reload: time.Second}, Deps{Registerer: reg, Now: fixedNow}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		found[mf.GetName()] = true
	}
	for _, n := range []string{"dialtone_config_renderer_template_reloads_total"} {
		if !found[n] {
			t.Errorf("metric %s not registered (have %v)", n, found)
		}
	}
}

// TestGetTemplateSet: the singleton over gRPC tells the version a render
// carries, the override files, the load time and the last rejected load.
func TestGetTemplateSet(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "yealink", "extra.tmpl")
	_ = os.MkdirAll(filepath.Dir(file), 0o755)
	if err := os.WriteFile(file, []byte(`{{define "yealink/mac.extra"}}features.v = 1
{{end}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newService(t, dir)
	c := dial(t, s)
	ctx := context.Background()
	for _, name := range []string{"", "templateSets/x", "templateset"} {
		if _, err := c.GetTemplateSet(ctx, &rendererv1.GetTemplateSetRequest{Name: name}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "name") {
			t.Errorf("name %q: %v", name, err)
		}
	}
	get := func() *rendererv1.TemplateSet {
		t.Helper()
		r, err := c.GetTemplateSet(ctx, &rendererv1.GetTemplateSetRequest{Name: "templateSet"})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetTemplateSet()
	}
	ts := get()
	r, err := c.RenderFile(ctx, &rendererv1.RenderFileRequest{Profile: profile("yealink", "T54W", "805ec0112233"), FileName: "805ec0112233.cfg"})
	if err != nil {
		t.Fatal(err)
	}
	if ts.GetName() != "templateSet" || ts.GetVersion() == "" || ts.GetVersion() != r.GetTemplateVersion() ||
		len(ts.GetOverrideFiles()) != 1 || ts.GetOverrideFiles()[0] != "yealink/extra.tmpl" ||
		!ts.GetLoadTime().AsTime().Equal(fixedNow()) || ts.GetLoadError() != "" {
		t.Fatalf("template set %v (render version %q)", ts, r.GetTemplateVersion())
	}
	// A broken change keeps the set and reports why; a good one moves the version.
	_ = os.WriteFile(file, []byte(`{{define "yealink/mac.extra"}}{{.Broken}`), 0o644)
	_ = os.Chtimes(file, time.Unix(2000, 0), time.Unix(2000, 0))
	s.Reload()
	if b := get(); b.GetVersion() != ts.GetVersion() || !strings.Contains(b.GetLoadError(), "yealink/extra.tmpl") {
		t.Fatalf("after a broken change: %v", b)
	}
	_ = os.WriteFile(file, []byte(`{{define "yealink/mac.extra"}}features.v = 2
{{end}}`), 0o644)
	_ = os.Chtimes(file, time.Unix(3000, 0), time.Unix(3000, 0))
	s.Reload()
	if g := get(); g.GetVersion() == ts.GetVersion() || g.GetLoadError() != "" {
		t.Fatalf("after a good change: %v", g)
	}
}
