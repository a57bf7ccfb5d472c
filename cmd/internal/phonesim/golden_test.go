package phonesim

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/vendorsim"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/dialtone-voip/dialtone/proto/vocab"
	renderer "github.com/dialtone-voip/dialtone/services/config-renderer"
)

// goldenDir is config-renderer's golden files, read in place: the files
// Dialtone serves for its golden scenarios (refreshed there with -update), so
// phonesim checks what the renderer writes today, not a copy that drifts.
// The scenarios (single, multi, tls, bootstrap) are defined in
// config-renderer's golden_test.go; goldenWant restates what each must
// configure.
var goldenDir = filepath.Join("..", "..", "..", "services", "config-renderer", "internal", "render", "testdata", "golden")

const (
	goldenHTTPBase  = "http://prov.example.net:8080/p/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde/"
	goldenHTTPSBase = "https://prov.example.net/p/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde/"
)

// fileServer serves one directory for any host and records requests. Two
// listeners: plain HTTP and TLS; every dial goes to one of them, so the
// absolute URLs in the files (prov.example.net) stay on loopback.
type fileServer struct {
	dir         string
	plain, tlss *httptest.Server
	mu          sync.Mutex
	fetched     []string
	render      func(name string) ([]byte, int) // instead of dir, when set
}

func newFileServer(t testing.TB) *fileServer {
	t.Helper()
	fs := &fileServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := filepath.Base(r.URL.Path)
		fs.mu.Lock()
		dir, render := fs.dir, fs.render
		fs.mu.Unlock()
		var body []byte
		status := http.StatusNotFound
		if render != nil {
			body, status = render(name)
		} else if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil && name != "." && !strings.Contains(name, "..") {
			body, status = b, http.StatusOK
		}
		fs.mu.Lock()
		fs.fetched = append(fs.fetched, fmt.Sprintf("%s %d", name, status))
		fs.mu.Unlock()
		if status != http.StatusOK {
			http.Error(w, "not found", status)
			return
		}
		_, _ = w.Write(body)
	})
	fs.plain = httptest.NewServer(h)
	fs.tlss = httptest.NewTLSServer(h)
	t.Cleanup(func() { fs.plain.Close(); fs.tlss.Close() })
	return fs
}

func (fs *fileServer) reset(dir string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.dir, fs.fetched = dir, nil
}

func (fs *fileServer) requests() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return slices.Clone(fs.fetched)
}

// client dials fs for every host: port 443 to the TLS listener, anything
// else to the plain one.
func (fs *fileServer) client() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			target := fs.plain.Listener.Addr().String()
			if strings.HasSuffix(addr, ":443") {
				target = fs.tlss.Listener.Addr().String()
			}
			return d.DialContext(ctx, network, target)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback test server
	}}
}

// goldenWant is what a scenario must configure (config-renderer's
// golden_test.go, scenario()).
type goldenWant struct {
	lines       int
	user        func(i int) string
	auth        func(i int) string
	password    func(i int) string
	display     func(i int) string
	port        int
	transport   string
	outbound    string
	expiry      int
	web         string
	lang        []string // preference order, as the scenario picks
	offset      int
	codecs      func(m *rendererv1.Model) []string
	base        string
	bootstrap   bool
	pollSeconds int
}

func catalogCodecs(m *rendererv1.Model, reverse bool, n int) []string {
	var names []string
	for _, c := range m.GetCodecs() {
		names = append(names, vocab.CodecName(c))
	}
	if reverse {
		slices.Reverse(names)
	}
	return names[:min(n, len(names))]
}

var goldenScenarios = map[string]goldenWant{
	"single": {lines: 1, user: func(int) string { return "201" }, auth: func(int) string { return "201" },
		password: func(int) string { return "s3cret-201" }, display: func(int) string { return "Ada Lovelace" },
		port: 5060, transport: "udp", expiry: 1800, web: "Adm1n-pw", lang: []string{"de", "en"}, offset: 3600,
		codecs: func(m *rendererv1.Model) []string { return catalogCodecs(m, true, 3) }, base: goldenHTTPBase, pollSeconds: 6 * 3600},
	"multi": {lines: 4, user: func(i int) string { return fmt.Sprintf("30%d", i) }, auth: func(i int) string { return fmt.Sprintf("auth30%d", i) },
		password: func(i int) string { return fmt.Sprintf("pw-30%d", i) }, display: func(i int) string { return fmt.Sprintf("Smith & Sons <%d> \"desk\"", i) },
		port: 5070, transport: "tcp", outbound: "sbc.example.net:5080", expiry: 7200, web: "pw&<\"'>", lang: []string{"fr-CA", "fr", "en"},
		offset: -5 * 3600, codecs: func(m *rendererv1.Model) []string { return catalogCodecs(m, false, 3) }, base: goldenHTTPBase, pollSeconds: 6 * 3600},
	"tls": {lines: 1, user: func(int) string { return "401" }, auth: func(int) string { return "401" },
		password: func(int) string { return "tls-pw" }, display: func(int) string { return "Grace Hopper" },
		port: 5061, transport: "tls", expiry: 3600, lang: []string{"en-GB", "en"}, offset: 10 * 3600,
		codecs: func(m *rendererv1.Model) []string { return catalogCodecs(m, false, 1) }, base: goldenHTTPSBase, pollSeconds: 6 * 3600},
	"bootstrap": {bootstrap: true, base: goldenHTTPBase, pollSeconds: 6 * 3600},
}

var (
	sharedRendererOnce sync.Once
	sharedRendererSvc  *renderer.Service
)

// sharedRenderer is one renderer for the package's tests (building one parses
// every template).
func sharedRenderer(t testing.TB) *renderer.Service {
	t.Helper()
	sharedRendererOnce.Do(func() { sharedRendererSvc = newRenderer(t) })
	if sharedRendererSvc == nil {
		t.Fatal("renderer did not start")
	}
	return sharedRendererSvc
}

func newRenderer(t testing.TB) *renderer.Service {
	t.Helper()
	svc, err := renderer.New(renderer.Config{}, renderer.Deps{Now: func() time.Time { return time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestGoldenFiles boots a phone of every golden model and scenario from
// config-renderer's golden files and checks what the phone applied.
func TestGoldenFiles(t *testing.T) {
	ren := newRenderer(t)
	fs := newFileServer(t)
	vendors, _ := os.ReadDir(goldenDir)
	if len(vendors) == 0 {
		t.Fatal("no golden files")
	}
	for _, v := range vendors {
		models, _ := os.ReadDir(filepath.Join(goldenDir, v.Name()))
		for _, m := range models {
			model, ok := ren.Model(v.Name(), m.Name())
			if !ok {
				t.Errorf("%s %s: not in the catalog", v.Name(), m.Name())
				continue
			}
			for sc, want := range goldenScenarios {
				dir := filepath.Join(goldenDir, v.Name(), m.Name(), sc)
				if _, err := os.Stat(dir); err != nil {
					t.Errorf("missing %s", dir)
					continue
				}
				t.Run(v.Name()+"/"+m.Name()+"/"+sc, func(t *testing.T) {
					fs.reset(dir)
					p, err := vendorsim.NewPhone(v.Name(), m.Name(), model.GetOuis()[0]+"a1b2c3", "")
					if err != nil {
						t.Fatal(err)
					}
					rep, err := Boot(context.Background(), Options{Phone: p, URL: want.base, HTTP: fs.client()})
					if err != nil {
						t.Fatalf("boot: %v\nrequests %q", err, fs.requests())
					}
					checkGolden(t, dir, fs.requests(), rep, model, want)
				})
			}
		}
	}
}

func checkGolden(t *testing.T, dir string, reqs []string, rep *Report, model *rendererv1.Model, want goldenWant) {
	t.Helper()
	// Every file Dialtone renders for the scenario was fetched once, with 200.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() == "000000000000.cfg" {
			continue // Poly's fallback master, only used without a <mac>.cfg
		}
		if model.GetVendor() == "cisco" && e.Name() != model.GetFilePatterns()[0] && !slices.ContainsFunc(model.GetFilePatterns(), func(p string) bool {
			return strings.Contains(p, "{mac}") && strings.Replace(p, "{mac}", rep.Phone.MAC, 1) == e.Name()
		}) {
			continue // the common file under another $PSN form: a phone asks for one of them
		}
		if n := countOf(reqs, e.Name()+" 200"); n != 1 {
			t.Errorf("%s fetched %d times with 200; requests %q", e.Name(), n, reqs)
		}
	}
	c := rep.Config
	if c == nil {
		t.Fatal("no configuration")
	}
	// Gigaset's <ProviderFrame> bases (N510, N720): the scenario as the
	// renderer's golden test fits it to them (UDP only, '"' in no string, a
	// display name's '"' as "'"); the N510 gets its server without a scheme
	// (so HTTP), the N720 none, and the N510 no web password.
	frame := model.GetVendor() == "gigaset" && !slices.Contains(model.GetTransports(), "tcp")
	if frame {
		if want.transport != "" && want.transport != "udp" {
			want.transport = "udp"
			if want.port == 5061 {
				want.port = 5060
			}
		}
		web, display := want.web, want.display
		want.web = strings.ReplaceAll(web, `"`, "")
		want.display = func(n int) string { return strings.ReplaceAll(display(n), `"`, "'") }
		want.base = strings.Replace(want.base, "https://", "http://", 1)
		if model.GetFamily() == "N510 DECT" {
			want.web = ""
		} else {
			want.base = ""
		}
	}
	// Snom M100/M500 KLE write this file's own URL as their server address; the
	// m3 (snom-m3) takes it without a scheme in %NETWORK_TFTP_SERVER% and, as the
	// renderer's golden test fits the scenario to it, gets UDP only, '"' in no
	// string, no proxy port, no web password, poll or time-zone key.
	m3 := model.GetFamily() == "snom-m3"
	// The Cisco 7940/7960 (cisco-7940) likewise: UDP only, '"' in no string, no
	// poll or time-zone key, one preferred_codec; they fetch by TFTP from the
	// DHCP option 150 server, so the file names no provisioning URL.
	c79 := model.GetFamily() == "cisco-7940"
	if c79 {
		if want.transport != "" && want.transport != "udp" {
			want.transport = "udp"
			if want.port == 5061 {
				want.port = 5060
			}
		}
		display, codecs := want.display, want.codecs
		want.web = strings.ReplaceAll(want.web, `"`, "")
		want.display = func(n int) string { return strings.ReplaceAll(display(n), `"`, "'") }
		want.codecs = func(m *rendererv1.Model) []string {
			if cs := codecs(m); len(cs) > 0 {
				return cs[:1]
			}
			return nil
		}
		want.base = ""
	}
	// The 79x1/797x/894x (cisco-79x1, SEP<MAC>.cnf.xml) fetch by TFTP too, so
	// no provisioning URL or poll; UDP or TCP (the scenario's TLS becomes TCP on
	// 5060), one preferredCodec.
	sep := model.GetFamily() == "cisco-79x1"
	if sep {
		if want.transport == "tls" {
			want.transport, want.port = "tcp", 5060
		}
		codecs := want.codecs
		want.codecs = func(m *rendererv1.Model) []string {
			if cs := codecs(m); len(cs) > 0 {
				return cs[:1]
			}
			return nil
		}
		want.base = ""
	}
	if m3 {
		if want.transport != "" && want.transport != "udp" {
			want.transport = "udp"
			if want.port == 5061 {
				want.port = 5060
			}
		}
		display := want.display
		want.web = ""
		want.display = func(n int) string { return strings.ReplaceAll(display(n), `"`, "'") }
		want.outbound, _, _ = strings.Cut(want.outbound, ":")
		if want.base != "" {
			_, rest, _ := strings.Cut(want.base, "://")
			want.base = rest + rep.Phone.MAC + ".cfg"
		}
	}
	wantProv := want.base
	if model.GetFamily() == "snom-kle" {
		wantProv += rep.Phone.MAC + ".xml"
	}
	switch model.GetVendor() {
	case "fanvil":
		wantProv += "$mac.cfg"
	case "cisco":
		if !c79 && !sep {
			wantProv += "$MA.xml"
		}
	}
	if c.ProvisioningURL != wantProv {
		t.Errorf("provisioning URL %q, want %q", c.ProvisioningURL, wantProv)
	}
	if model.GetVendor() != "gigaset" && !m3 && !c79 && !sep && c.PollSeconds != want.pollSeconds {
		t.Errorf("poll %d s, want %d", c.PollSeconds, want.pollSeconds)
	}
	if want.bootstrap {
		if len(c.Accounts) != 0 || c.WebPassword != "" {
			t.Errorf("bootstrap file configured accounts %+v / a web password", c.Accounts)
		}
		return
	}
	wantLines := min(want.lines, int(model.GetSipAccounts()))
	if len(c.Accounts) != wantLines {
		t.Fatalf("%d accounts, want %d: %+v", len(c.Accounts), wantLines, c.Accounts)
	}
	codecs := want.codecs(model)
	expiry := want.expiry
	if model.GetVendor() == "htek" {
		expiry = (expiry + 3599) / 3600 * 3600 // P32 is in hours: the phone registers for whole hours
	}
	for i, a := range c.Accounts {
		n := i + 1
		w := vendorsim.Account{Line: n, Enabled: true, Server: "pbx.example.net", Port: want.port, Transport: want.transport,
			User: want.user(n), AuthUser: want.auth(n), Password: want.password(n), DisplayName: want.display(n),
			OutboundProxy: want.outbound, ExpiresSecs: expiry, Codecs: codecs}
		if len(codecs) == 0 {
			w.Codecs = nil
		}
		a.Label = ""
		if fmt.Sprint(a) != fmt.Sprint(w) {
			t.Errorf("account %d:\n got %+v\nwant %+v", n, a, w)
		}
	}
	if c.WebPassword != want.web {
		t.Errorf("web password %q, want %q", c.WebPassword, want.web)
	}
	lang := ""
	for _, l := range want.lang {
		if slices.Contains(model.GetLanguages(), l) {
			lang = l
			break
		}
	}
	base := func(tag string) string { b, _, _ := strings.Cut(tag, "-"); return b }
	if base(c.LanguageTag) != base(lang) {
		t.Errorf("language %q (tag %q), want %q", c.Language, c.LanguageTag, lang)
	}
	if !m3 && !c79 && (c.UTCOffset == nil || *c.UTCOffset != want.offset) {
		t.Errorf("UTC offset %v (time zone %q), want %d", c.UTCOffset, c.TimeZone, want.offset)
	}
	if c.DST != nil && !*c.DST {
		t.Errorf("DST off (time zone %q), want on", c.TimeZone)
	}
	if c.NTPServer != "ntp.example.net" {
		t.Errorf("NTP %q", c.NTPServer)
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// TestEveryCatalogModel renders files with the real config-renderer for every
// model of its catalog (as provision-http would) and boots a phone of each:
// up to six accounts (as many as the model has) must arrive, each with its
// user, credentials and registrar, in the model's own file names.
func TestEveryCatalogModel(t *testing.T) {
	ren := newRenderer(t)
	fs := newFileServer(t)
	models := ren.Models("")
	if len(models) < 60 {
		t.Fatalf("catalog has %d models", len(models))
	}
	for _, m := range models {
		t.Run(m.GetVendor()+"/"+m.GetModel(), func(t *testing.T) {
			mac := m.GetOuis()[0] + "0a0b0c"
			// TCP where the model has it; Gigaset's <ProviderFrame> bases take UDP only.
			transport, trName := provisioningv1.Transport_TRANSPORT_TCP, "tcp"
			if !slices.Contains(m.GetTransports(), "tcp") {
				transport, trName = provisioningv1.Transport_TRANSPORT_UDP, "udp"
			}
			prof := &provisioningv1.ProvisioningProfile{
				Mac: mac, Vendor: m.GetVendor(), Model: m.GetModel(), ProvisioningUrl: goldenHTTPBase,
				NtpServer: "ntp.example.net", TimeZone: "Europe/Berlin", WebPassword: "web=pw;1",
				SipServer: &provisioningv1.SipServer{Host: "pbx.example.net", Port: 5080, Transport: transport},
				Lines:     []*provisioningv1.Line{{Index: 1, Extension: "1001", AuthUser: "u1001", DisplayName: "Line = One; <x>", Password: "p=1#2"}},
			}
			// Up to six accounts: enough to reach Grandstream's P1700/P1800
			// blocks (accounts 5, 6), Htek's high blocks and every DP750 handset.
			for n := 2; n <= min(6, int(m.GetSipAccounts())); n++ {
				prof.Lines = append(prof.Lines, &provisioningv1.Line{Index: int32(n), Extension: fmt.Sprintf("100%d", n),
					AuthUser: fmt.Sprintf("u100%d", n), DisplayName: fmt.Sprintf("Line %d", n), Password: fmt.Sprintf("pw&%d", n)})
			}
			if len(m.GetCodecs()) > 0 {
				prof.Codecs = m.GetCodecs()[:1]
			}
			fs.mu.Lock()
			fs.fetched = nil
			fs.render = func(name string) ([]byte, int) {
				resp, err := ren.Render(context.Background(), prof, name)
				if err != nil {
					return nil, http.StatusNotFound
				}
				return resp.GetContent(), http.StatusOK
			}
			fs.mu.Unlock()
			p, err := vendorsim.NewPhone(m.GetVendor(), m.GetModel(), mac, "")
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Boot(context.Background(), Options{Phone: p, URL: goldenHTTPBase, HTTP: fs.client()})
			if err != nil {
				t.Fatalf("boot: %v\nrequests %q", err, fs.requests())
			}
			if p.CatalogAccounts() != int(m.GetSipAccounts()) {
				t.Fatalf("phonesim reads %d accounts for the model, the catalog %d", p.CatalogAccounts(), m.GetSipAccounts())
			}
			if rep.Config == nil || len(rep.Config.Accounts) != len(prof.Lines) {
				t.Fatalf("accounts %+v; requests %q", rep.Config, fs.requests())
			}
			for i, l := range prof.Lines {
				a := rep.Config.Accounts[i]
				if a.Line != int(l.GetIndex()) || a.User != l.GetExtension() || a.AuthUser != l.GetAuthUser() || a.Password != l.GetPassword() ||
					a.DisplayName != l.GetDisplayName() || a.Server != "pbx.example.net" || a.Port != 5080 || a.Transport != trName || !a.Enabled {
					t.Errorf("account %d: %+v", i+1, a)
				}
			}
			a := rep.Config.Accounts[0]
			if len(m.GetCodecs()) > 0 && (len(a.Codecs) != 1 || a.Codecs[0] != vocab.CodecName(m.GetCodecs()[0])) {
				t.Errorf("codecs %v, want [%s]", a.Codecs, vocab.CodecName(m.GetCodecs()[0]))
			}
			// The N510's format has no web password key (only the system PIN), nor
			// has the Snom m3's (FusionPBX's m3 template sets none).
			if noWebPassword := m.GetFamily() == "N510 DECT" || m.GetFamily() == "snom-m3"; rep.Config.WebPassword != "web=pw;1" && !noWebPassword {
				t.Errorf("web password %q", rep.Config.WebPassword)
			}
			names := map[string]bool{}
			for _, pat := range m.GetFilePatterns() {
				names[strings.NewReplacer("{mac}", mac, "{MAC}", strings.ToUpper(mac)).Replace(pat)] = true
			}
			for _, r := range fs.requests() {
				name, status, _ := strings.Cut(r, " ")
				if status == "200" && !names[name] {
					t.Errorf("%s is not among the catalog's files %v", name, m.GetFilePatterns())
				}
				if status != "200" && !expected404(m.GetVendor(), r) {
					t.Errorf("unexpected request %s", r)
				}
			}
		})
	}
	fs.mu.Lock()
	fs.render = nil
	fs.mu.Unlock()
}

// expected404 lists the files phones ask for that Dialtone does not serve.
func expected404(vendor, req string) bool {
	name, _, _ := strings.Cut(req, " ")
	switch vendor {
	case "yealink":
		return strings.HasSuffix(name, ".boot")
	case "grandstream", "htek":
		return !strings.HasSuffix(name, ".xml") // the binary cfg<mac>
	case "cisco":
		return strings.HasSuffix(name, ".tlv") // the 79x1 trust lists CTLSEP/ITLSEP<MAC>.tlv
	}
	return false
}
