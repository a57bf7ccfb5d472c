package render

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	"github.com/dialtone-voip/dialtone/proto/vocab"
	"github.com/dialtone-voip/dialtone/services/config-renderer/internal/catalog"
	"google.golang.org/protobuf/types/known/durationpb"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

// goldenNow fixes the year whose DST rules the files carry.
var goldenNow = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

var representative = map[string][]string{
	"yealink":     {"T31G", "T54W", "W70B"},
	"fanvil":      {"X6", "X4U"},
	"grandstream": {"DP750", "GXP1610", "GXP2170", "GRP2614"},
	"snom":        {"M100KLE", "m3", "D120", "D785"},
	"gigaset":     {"N510", "N720", "N670", "N870"},
	"htek":        {"UC912", "UC926"},
	"poly":        {"VVX150", "E450"},
	"cisco":       {"7960", "7961G", "CP-7811-3PCC", "CP-8851-3PCC", "SPA504G"},
}

func loadDefault(t testing.TB) *Set {
	t.Helper()
	s, err := Load("", goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func firstLang(m *catalog.Model, prefer ...string) string {
	for _, p := range prefer {
		if contains(m.Languages, p) {
			return p
		}
	}
	return ""
}

func codecList(m *catalog.Model, reverse bool, n int) []provisioningv1.Codec {
	var out []provisioningv1.Codec
	names := append([]string(nil), m.Codecs...)
	if reverse {
		for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
			names[i], names[j] = names[j], names[i]
		}
	}
	for _, c := range names {
		if len(out) == n {
			break
		}
		cc, _ := vocab.ParseCodec(c)
		out = append(out, cc)
	}
	return out
}

// scenario builds the profile of one golden scenario for model m.
func scenario(name string, m *catalog.Model) *provisioningv1.ProvisioningProfile {
	p := &provisioningv1.ProvisioningProfile{Mac: strings.Repeat("0", 6) + "a1b2c3", Vendor: m.Vendor, Model: m.Model,
		ProvisioningUrl: "http://prov.example.net:8080/p/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde/",
		PollInterval:    durationpb.New(6 * time.Hour), NtpServer: "ntp.example.net", Revision: 7}
	if len(m.OUIs) > 0 {
		p.Mac = m.OUIs[0] + "a1b2c3"
	}
	switch name {
	case "single":
		p.TimeZone, p.Language = "Europe/Berlin", firstLang(m, "de", "en")
		p.Codecs = codecList(m, true, 3)
		p.WebPassword = "Adm1n-pw"
		p.SipServer = &provisioningv1.SipServer{Host: "pbx.example.net", Port: 5060, Transport: provisioningv1.Transport_TRANSPORT_UDP,
			RegistrationExpiry: durationpb.New(30 * time.Minute)}
		p.Lines = []*provisioningv1.Line{{Index: 1, Extension: "201", DisplayName: "Ada Lovelace", Password: "s3cret-201"}}
	case "multi":
		p.TimeZone, p.Language = "America/New_York", firstLang(m, "fr-CA", "fr", "en")
		p.Codecs = codecList(m, false, 3)
		p.WebPassword = "pw&<\"'>"
		p.SipServer = &provisioningv1.SipServer{Host: "pbx.example.net", Port: 5070, Transport: provisioningv1.Transport_TRANSPORT_TCP,
			OutboundProxyHost: "sbc.example.net", OutboundProxyPort: 5080, RegistrationExpiry: durationpb.New(2 * time.Hour)}
		for i := 1; i <= min(m.SIPAccounts, 4); i++ {
			p.Lines = append(p.Lines, &provisioningv1.Line{Index: int32(i), Extension: fmt.Sprintf("30%d", i), AuthUser: fmt.Sprintf("auth30%d", i),
				DisplayName: fmt.Sprintf("Smith & Sons <%d> \"desk\"", i), Password: fmt.Sprintf("pw-30%d", i), Label: fmt.Sprintf("L%d", i)})
		}
	case "tls":
		p.ProvisioningUrl = "https://prov.example.net/p/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde/"
		p.TimeZone, p.Language = "Australia/Sydney", firstLang(m, "en-GB", "en")
		p.Codecs = codecList(m, false, 1)
		p.SipServer = &provisioningv1.SipServer{Host: "pbx.example.net", Transport: provisioningv1.Transport_TRANSPORT_TLS}
		p.Lines = []*provisioningv1.Line{{Index: 1, Extension: "401", DisplayName: "Grace Hopper", Password: "tls-pw"}}
	case "bootstrap":
		p.Bootstrap = true // a discovered phone: no tenant, so no time zone or language
		return p
	}
	// A tenant's defaults reach models that cannot take them (Gigaset): they
	// render without them, with a comment.
	if len(m.Codecs) == 0 {
		p.Codecs = []provisioningv1.Codec{provisioningv1.Codec_CODEC_G722, provisioningv1.Codec_CODEC_PCMA}
	}
	if len(m.Languages) == 0 {
		p.Language = map[string]string{"single": "de", "multi": "fr-CA", "tls": "en-GB"}[name]
	}
	fitModel(p, m)
	return p
}

// fitModel adapts a scenario to a model's limits, as an operator must: the
// best transport it has (Gigaset <ProviderFrame> bases: UDP only), and no '"'
// in the web password of a format that cannot carry one.
func fitModel(p *provisioningv1.ProvisioningProfile, m *catalog.Model) {
	if s := p.GetSipServer(); s != nil {
		for _, t := range []provisioningv1.Transport{provisioningv1.Transport_TRANSPORT_TLS, provisioningv1.Transport_TRANSPORT_TCP} {
			if s.Transport == t && !m.SupportsTransport(vocab.TransportName(t)) {
				s.Transport--
				if s.Port == 5061 {
					s.Port = 5060
				}
			}
		}
	}
	if specFor(m).quotedStrings {
		p.WebPassword = strings.ReplaceAll(p.WebPassword, `"`, "")
	}
}

var scenarios = []string{"single", "multi", "tls", "bootstrap"}

func TestGolden(t *testing.T) {
	s := loadDefault(t)
	for vendor, models := range representative {
		for _, model := range models {
			m, ok := s.Catalog.Model(vendor, model)
			if !ok {
				t.Fatalf("%s/%s not in catalog", vendor, model)
			}
			for _, sc := range scenarios {
				p := scenario(sc, m)
				for _, f := range m.Files {
					name := f.Name(p.Mac)
					r, err := s.Render(p, name, goldenNow)
					if err != nil {
						t.Errorf("%s/%s %s %s: %v", vendor, model, sc, name, err)
						continue
					}
					kv, err := parseFile(vendor, name, r.Content)
					if err != nil {
						t.Errorf("%s/%s %s %s: format: %v\n%s", vendor, model, sc, name, err, r.Content)
					}
					if sc == "bootstrap" || !f.Secrets {
						for _, secret := range []string{"s3cret", "pw-30", "tls-pw", "Adm1n", "pw&amp;"} {
							if bytes.Contains(r.Content, []byte(secret)) {
								t.Errorf("%s/%s %s %s holds a secret", vendor, model, sc, name)
							}
						}
						if r.Secrets {
							t.Errorf("%s/%s %s %s: contains_secrets set", vendor, model, sc, name)
						}
					}
					if sc != "bootstrap" && f.Secrets && !r.Secrets {
						t.Errorf("%s/%s %s %s: contains_secrets not set", vendor, model, sc, name)
					}
					if sc == "bootstrap" && len(kv) == 0 {
						t.Errorf("%s/%s bootstrap %s is empty", vendor, model, name)
					}
					golden(t, filepath.Join("testdata", "golden", vendor, model, sc, name), r.Content)
				}
			}
		}
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v (run go test -update)", path, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden (run go test -update after checking):\n%s", path, got)
	}
}

// Every catalog model renders every file it requests in every scenario, and each
// output passes its format check.
func TestEveryModelEveryFile(t *testing.T) {
	s := loadDefault(t)
	for _, m := range s.Catalog.Models {
		for _, sc := range scenarios {
			p := scenario(sc, m)
			for _, f := range m.Files {
				r, err := s.Render(p, f.Name(p.Mac), goldenNow)
				if err != nil {
					t.Errorf("%s %s %s: %v", m.Name(), sc, f.Pattern, err)
					continue
				}
				if _, err := parseFile(m.Vendor, f.Pattern, r.Content); err != nil {
					t.Errorf("%s %s %s: %v", m.Name(), sc, f.Pattern, err)
				}
			}
		}
	}
}

func TestNotFound(t *testing.T) {
	s := loadDefault(t)
	m, _ := s.Catalog.Model("yealink", "T54W")
	p := scenario("single", m)
	for _, name := range []string{"", "y000000000108.cfg", "aabbccddeeff.cfg", strings.ToUpper(p.Mac) + ".cfg", "cfg" + p.Mac + ".xml",
		"../" + p.Mac + ".cfg", p.Mac + ".boot", "y000000000000.boot", p.Mac + "-local.cfg"} {
		if _, err := s.Render(p, name, goldenNow); !isNotFound(err) {
			t.Errorf("%q: %v, want not found", name, err)
		}
	}
	p.Model = "T99X"
	if _, err := s.Render(p, p.Mac+".cfg", goldenNow); !isNotFound(err) {
		t.Errorf("unknown model: %v", err)
	}
	p.Model, p.Vendor = "T54W", "snom"
	if _, err := s.Render(p, p.Mac+".cfg", goldenNow); !isNotFound(err) {
		t.Errorf("wrong vendor: %v", err)
	}
}

func TestInvalid(t *testing.T) {
	s := loadDefault(t)
	m, _ := s.Catalog.Model("yealink", "T31G")
	for name, mut := range map[string]func(p *provisioningv1.ProvisioningProfile){
		"too many lines": func(p *provisioningv1.ProvisioningProfile) { p.Lines = append(p.Lines, p.Lines[0], p.Lines[0]) },
		"language":       func(p *provisioningv1.ProvisioningProfile) { p.Language = "ja" },
		"not a language": func(p *provisioningv1.ProvisioningProfile) { p.Language = "klingon" },
		"codec": func(p *provisioningv1.ProvisioningProfile) {
			p.Codecs = []provisioningv1.Codec{provisioningv1.Codec_CODEC_GSM}
		},
		"codec twice":      func(p *provisioningv1.ProvisioningProfile) { p.Codecs = []provisioningv1.Codec{1, 1} },
		"zone":             func(p *provisioningv1.ProvisioningProfile) { p.TimeZone = "Mars/Olympus" },
		"mac":              func(p *provisioningv1.ProvisioningProfile) { p.Mac = "nope" },
		"host":             func(p *provisioningv1.ProvisioningProfile) { p.SipServer.Host = "pbx;transport=udp" },
		"password newline": func(p *provisioningv1.ProvisioningProfile) { p.Lines[0].Password = "a\nb" },
		"extension":        func(p *provisioningv1.ProvisioningProfile) { p.Lines[0].Extension = "a b" },
		"url":              func(p *provisioningv1.ProvisioningProfile) { p.ProvisioningUrl = "ftp://x/" },
		"url query":        func(p *provisioningv1.ProvisioningProfile) { p.ProvisioningUrl = "http://x/p/?a=b" },
		"no server":        func(p *provisioningv1.ProvisioningProfile) { p.SipServer = nil },
		"bootstrap no url": func(p *provisioningv1.ProvisioningProfile) { p.Bootstrap, p.ProvisioningUrl = true, "" },
	} {
		p := scenario("single", m)
		mut(p)
		if _, err := s.Render(p, m.Files[1].Name(p.Mac), goldenNow); !isInvalid(err) {
			t.Errorf("%s: %v, want invalid argument", name, err)
		}
	}
	// Vendor limits.
	cm, _ := s.Catalog.Model("cisco", "CP-8851-3PCC")
	p := scenario("single", cm)
	p.Codecs = codecList(cm, false, 4)
	if _, err := s.Render(p, p.Mac+".xml", goldenNow); !isInvalid(err) {
		t.Errorf("cisco 4 codecs: %v", err)
	}
	hm, _ := s.Catalog.Model("htek", "UC926")
	p = scenario("single", hm)
	p.Language = "de" // htek has a language key, but no German value
	if _, err := s.Render(p, "cfg"+p.Mac+".xml", goldenNow); !isInvalid(err) {
		t.Errorf("htek German: %v", err)
	}
}

// A vendor without any key for codecs or language (Gigaset) renders without
// them and says so in a comment; values that make no sense are still refused.
func TestNoProvisioningKey(t *testing.T) {
	s := loadDefault(t)
	gm, _ := s.Catalog.Model("gigaset", "N670")
	plain := scenario("single", gm)
	plain.Codecs, plain.Language = nil, ""
	base, err := s.Render(plain, plain.Mac+".xml", goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(base.Content, []byte("not provisionable")) {
		t.Errorf("comment without a value:\n%s", base.Content)
	}
	baseKV, _ := parseFile("gigaset", plain.Mac+".xml", base.Content)
	for _, tc := range []struct {
		codecs   []provisioningv1.Codec
		lang     string
		comments []string
	}{
		{[]provisioningv1.Codec{provisioningv1.Codec_CODEC_PCMA}, "", []string{"<!-- codecs: not provisionable on this model; phone keeps its own -->"}},
		{nil, "ja", []string{"<!-- language: not provisionable on this model; phone keeps its own -->"}},
		{codecList(&catalog.Model{Codecs: []string{"opus", "g722", "pcmu", "pcma", "g729", "ilbc", "g726-32", "g723"}}, false, 8), "fr-CA",
			[]string{"<!-- language: not provisionable", "<!-- codecs: not provisionable"}},
	} {
		p := scenario("single", gm)
		p.Codecs, p.Language = tc.codecs, tc.lang
		r, err := s.Render(p, p.Mac+".xml", goldenNow)
		if err != nil {
			t.Errorf("%v %q: %v", tc.codecs, tc.lang, err)
			continue
		}
		for _, c := range tc.comments {
			if !bytes.Contains(r.Content, []byte(c)) {
				t.Errorf("%v %q: no %q in\n%s", tc.codecs, tc.lang, c, r.Content)
			}
		}
		kv, err := parseFile("gigaset", p.Mac+".xml", r.Content)
		if err != nil || !maps.Equal(kv, baseKV) {
			t.Errorf("%v %q: keys differ from a render without them (%v)", tc.codecs, tc.lang, err)
		}
	}
	for name, mut := range map[string]func(p *provisioningv1.ProvisioningProfile){
		"unknown codec":  func(p *provisioningv1.ProvisioningProfile) { p.Codecs = []provisioningv1.Codec{999} },
		"codec twice":    func(p *provisioningv1.ProvisioningProfile) { p.Codecs = []provisioningv1.Codec{1, 1} },
		"not a language": func(p *provisioningv1.ProvisioningProfile) { p.Language = "klingon" },
	} {
		p := scenario("single", gm)
		mut(p)
		if _, err := s.Render(p, p.Mac+".xml", goldenNow); !isInvalid(err) {
			t.Errorf("gigaset %s: %v, want invalid argument", name, err)
		}
	}
}

func isNotFound(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), ErrNotFound.Error())
}
func isInvalid(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), ErrInvalid.Error())
}
