package vendorsim

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/cmd/internal/sipmsg"
	renderer "github.com/dialtone-voip/dialtone/services/config-renderer"
)

func mustPhone(t *testing.T, vendor, model, mac, fw string) Phone {
	t.Helper()
	p, err := NewPhone(vendor, model, mac, fw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSubscribeMatchesCaptures builds each vendor's SUBSCRIBE with the
// identifiers of a real capture and compares the bytes.
func TestSubscribeMatchesCaptures(t *testing.T) {
	tests := []struct {
		capture string
		phone   Phone
		local   Local
		ids     IDs
	}{
		{
			capture: "yealink-W52P-1.sip",
			phone:   mustPhone(t, "yealink", "W52P", "00:15:65:f4:f9:e1", "25.81.0.10"),
			local:   Local{IP: "10.1.3.239", Port: 5059},
			ids:     IDs{Branch: "z9hG4bK1536537630", Tag: "1536537630", CallID: "1536537630@10.1.3.239"},
		},
		{
			capture: "grandstream-GRP2612W-1.sip",
			phone:   mustPhone(t, "grandstream", "GRP2612W", "C074AD112233", "1.0.5.67"),
			local:   Local{IP: "192.168.1.2", Port: 5080},
			ids:     IDs{Branch: "z9hG4bK1611133778", Tag: "395400190", CallID: "490431573-5080-1@BJC.BGI.IG.DA"},
		},
		{
			capture: "snom-D120-mikopbx.sip",
			phone:   mustPhone(t, "snom", "D120", "000413aabbcc", "10.1.39.11"),
			local:   Local{IP: "172.16.32.148", Port: 5060, Host: "miko.ru"},
			ids:     IDs{Tag: "1145111611", CallID: "1913994428@172.16.32.148"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "captures", tt.capture))
			if err != nil {
				t.Fatal(err)
			}
			got := tt.phone.Vendor.Subscribe(tt.phone, tt.local, tt.ids)
			if !bytes.Equal(got, want) {
				t.Errorf("SUBSCRIBE differs from capture\n--- got\n%s\n--- want\n%s", got, want)
			}
		})
	}
}

// TestSnomLegacyCapture compares the snompnpd example as a header set: its
// header order was edited by hand, and it puts no host in From/To.
func TestSnomLegacyCapture(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "captures", "snom-snom720-snompnpd.sip"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := sipmsg.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := mustPhone(t, "snom", "720", "00135E874B49", "7.1.19")
	got, err := sipmsg.Parse(p.Vendor.Subscribe(p, Local{IP: "172.16.18.90", Port: 5060, Host: "fake"},
		IDs{Tag: "658512961", CallID: "1930770594@ciccio"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.RequestURI != want.RequestURI {
		t.Errorf("Request-URI %q, want %q", got.RequestURI, want.RequestURI)
	}
	for _, h := range []string{"Via", "Expires", "Accept", "Contact", "CSeq", "Call-ID", "Event", "Content-Length", "User-Agent", "Max-Forwards"} {
		if got.Get(h) != want.Get(h) {
			t.Errorf("%s = %q, want %q", h, got.Get(h), want.Get(h))
		}
	}
	if tag, _ := sipmsg.Param(got.Get("From"), "tag"); tag != "658512961" {
		t.Errorf("From tag %q", tag)
	}
}

// TestSubscribeShapes checks the documented quirks of the vendors without
// a byte-exact capture, and that every SUBSCRIBE parses and carries the
// fields pnp-listener relies on.
func TestSubscribeShapes(t *testing.T) {
	local := Local{IP: "198.18.0.10", Port: 5060}
	r := fixedRand{}
	for _, v := range table {
		if !v.PnP {
			if v.subscribe != nil {
				t.Errorf("%s: not PnP but has a SUBSCRIBE", v.Key)
			}
			continue
		}
		p := mustPhone(t, v.Key, "", MACFromOUI(v.OUIs[0], 0xabcdef), "")
		raw := v.Subscribe(p, local, v.NewIDs(r, local))
		m, err := sipmsg.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v\n%s", v.Key, err, raw)
		}
		if m.Method != "SUBSCRIBE" || m.Get("Expires") != "0" || m.Get("Accept") != "application/url" {
			t.Errorf("%s: not a PnP SUBSCRIBE:\n%s", v.Key, raw)
		}
		if !strings.HasPrefix(m.Get("Event"), "ua-profile;") {
			t.Errorf("%s: Event %q", v.Key, m.Get("Event"))
		}
		if n, method, ok := sipmsg.CSeq(m.Get("CSeq")); !ok || method != "SUBSCRIBE" || n < 1 {
			t.Errorf("%s: CSeq %q", v.Key, m.Get("CSeq"))
		}
		if m.Get("Call-ID") == "" || m.Get("Contact") == "" {
			t.Errorf("%s: missing Call-ID or Contact", v.Key)
		}
		if _, ok := sipmsg.Param(m.Get("From"), "tag"); !ok {
			t.Errorf("%s: From without tag", v.Key)
		}
		upper := strings.ToUpper(p.MAC)
		switch v.Key {
		case "fanvil":
			if !bytes.Contains(raw, []byte("<sip:MAC="+p.MAC+"@224.0.1.75>")) || !bytes.Contains(raw, []byte("\r\nEvent:ua-profile;")) {
				t.Errorf("fanvil: want PLANET's MAC= form and Event without space:\n%s", raw)
			}
		case "gigaset", "snom":
			if !strings.HasPrefix(m.RequestURI, "sip:MAC%3a"+upper+"@") {
				t.Errorf("%s: Request-URI %q", v.Key, m.RequestURI)
			}
		case "panasonic":
			if !strings.Contains(m.Get("Event"), `vender="Panasonic"`) || strings.Contains(m.Get("Event"), "vendor=") {
				t.Errorf("panasonic: Event %q, want the vender spelling", m.Get("Event"))
			}
		case "audiocodes":
			if bytes.Contains(bytes.ToLower(raw), []byte(p.MAC)) || strings.Contains(m.Get("Event"), "vendor") ||
				!strings.Contains(m.Get("Event"), `profile-type="application"`) || m.RequestURI != "sip:224.0.1.75:5060" {
				t.Errorf("audiocodes: want no MAC, no vendor, profile-type application:\n%s", raw)
			}
		}
		if v.Key == "snom" {
			if _, ok := sipmsg.Param(m.Get("Via"), "branch"); ok {
				t.Errorf("snom: Via has a branch: %q", m.Get("Via"))
			}
		} else if _, ok := sipmsg.Param(m.Get("Via"), "branch"); !ok {
			t.Errorf("%s: Via without branch: %q", v.Key, m.Get("Via"))
		}
	}
}

type fixedRand struct{}

func (fixedRand) Uint32() uint32 { return 123456789 }

func TestNewPhone(t *testing.T) {
	p, err := NewPhone("Yealink", "", "00-15-65-AA-BB-CC", "")
	if err != nil {
		t.Fatal(err)
	}
	if p.MAC != "001565aabbcc" || p.Model != "T54W" || p.Firmware != "96.86.0.45" {
		t.Errorf("got %+v", p)
	}
	if _, err := NewPhone("nokia", "", "", ""); err == nil {
		t.Error("unknown vendor accepted")
	}
	if _, err := NewPhone("snom", "", "zz", ""); err == nil {
		t.Error("bad MAC accepted")
	}
	if got := MACFromOUI("000413", 0xabcdef); got != "000413abcdef" {
		t.Errorf("MACFromOUI = %s", got)
	}
}

func TestUserAgents(t *testing.T) {
	tests := []struct{ vendor, model, fw, want string }{
		{"yealink", "T46G", "28.72.0.1", "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37"},
		{"yealink", "W70B", "146.87.0.15", "Yealink W70B 146.87.0.15 00:15:65:4a:a9:37"},
		{"grandstream", "GRP2614", "1.0.5.15", "Grandstream Model HW GRP2614 SW 1.0.5.15 DevId 0015654aa937"},
		{"snom", "D785", "10.1.33.33", "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 0015654AA937 SXM:0 UXM:0)"},
		{"fanvil", "X4", "2.10.2.6887", "Fanvil X4 2.10.2.6887 0015654aa937"},
		{"gigaset", "N870", "83.V2.11.0+build.a546b91", "Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;0015654AA937"},
		{"htek", "UC903", "2.0.4.2", "Htek UC903 2.0.4.2 00:15:65:4a:a9:37"},
		{"poly", "VVX450", "6.4.6.2208", "FileTransport PolycomVVX-VVX_450-UA/6.4.6.2208 Type/Application"},
		{"cisco", "CP-7832-3PCC", "11.0.1", "Cisco-CP-7832-3PCC/11.0.1 (0015654aa937)"},
		// Shapes of the wazo-provd-plugins examples in config-renderer's
		// catalog_test.go (uaCases): "Cisco/SPA501G-7.4.4 (8843E157DDCC)(CBT141100HR)",
		// "Mozilla/4.0 (compatible; Snom M900 05.20.0001 000413b60680)".
		{"cisco", "SPA501G", "7.4.4", "Cisco/SPA501G-7.4.4 (0015654AA937)(CCQ16130A8W)"},
		{"cisco", "SPA942", "6.1.5(a)", "Cisco/SPA-942-6.1.5(a) (0015654AA937)(CCQ16130A8W)"},
		{"snom", "M900", "05.20.0001", "Mozilla/4.0 (compatible; Snom M900 05.20.0001 0015654aa937)"},
		{"gigaset", "N670", "83.V2.11.0", "Gigaset N670 IP PRO/83.V2.11.0;0015654AA937"},
		{"poly", "SPIP335", "4.0.15.1009", "FileTransport PolycomSoundPointIP-SPIP_335-UA/4.0.15.1009 Type/Application"},
		{"poly", "E450", "8.0.0.15602", "FileTransport PolyEdge-Edge_E450-UA/8.0.0.15602 Type/Application"},
		{"yealink", "W75DM", "175.86.0.45", "Yealink W75DM 175.86.0.45 00:15:65:4a:a9:37"},
	}
	for _, tt := range tests {
		p := mustPhone(t, tt.vendor, tt.model, "0015654aa937", tt.fw)
		if got := p.Vendor.UserAgent(p); got != tt.want {
			t.Errorf("%s %s: UA %q, want %q", tt.vendor, tt.model, got, tt.want)
		}
	}
}

func TestResolveURL(t *testing.T) {
	tests := []struct{ vendor, model, in, want string }{
		{"snom", "D785", "http://h/p/t/{mac}.xml", "http://h/p/t/0015654AA937.xml"},
		{"snom", "D785", "http://h/p/t/{phone_type}.htm", "http://h/p/t/snomD785.htm"},
		{"fanvil", "X4U", "http://h/p/t/$mac.cfg", "http://h/p/t/0015654aa937.cfg"},
		{"cisco", "CP-8851-3PCC", "https://h/p/t/$MA.xml", "https://h/p/t/0015654aa937.xml"},
		{"cisco", "CP-8851-3PCC", "https://h/p/t/$MAU/$PSN.xml", "https://h/p/t/0015654AA937/8851-3PCC.xml"},
		{"yealink", "T54W", "http://h/p/t/", "http://h/p/t/"},
	}
	for _, tt := range tests {
		p := mustPhone(t, tt.vendor, tt.model, "0015654aa937", "")
		if got := p.Vendor.ResolveURL(p, tt.in); got != tt.want {
			t.Errorf("%s %q → %q, want %q", tt.vendor, tt.in, got, tt.want)
		}
	}
}

// TestUserAgentsMatchCatalog: the User-Agent of every catalog model matches
// the catalog's user_agent_pattern for that model (what config-renderer and
// provision-http identify phones by), with the phone's MAC where the
// pattern carries one, and the default firmware names the model's common
// file where the vendor derives one from the other (Yealink).
func TestUserAgentsMatchCatalog(t *testing.T) {
	models := renderer.BuiltinModels()
	if len(models) < 300 {
		t.Fatalf("catalog has %d models", len(models))
	}
	for _, m := range models {
		p := mustPhone(t, m.Vendor, m.Model, m.OUIs[0]+"4aa937", "")
		if p.CatalogModel() == nil || p.CatalogAccounts() != m.SIPAccounts {
			t.Errorf("%s %s: catalog entry not found", m.Vendor, m.Model)
			continue
		}
		ua := p.Vendor.UserAgent(p)
		re := regexp.MustCompile(m.UserAgentPattern)
		sub := re.FindStringSubmatch(ua)
		if sub == nil {
			t.Errorf("%s %s: UA %q does not match %s", m.Vendor, m.Model, ua, m.UserAgentPattern)
			continue
		}
		if i := re.SubexpIndex("mac"); i >= 0 {
			mac := strings.ToLower(strings.ReplaceAll(sub[i], ":", ""))
			if mac != p.MAC {
				t.Errorf("%s %s: UA %q carries MAC %s, want %s", m.Vendor, m.Model, ua, mac, p.MAC)
			}
		}
		if code := m.Vars["code"]; m.Vendor == "yealink" && code != "" {
			major, _, _ := strings.Cut(p.Firmware, ".")
			if fmt.Sprintf("%03s", major) != code {
				t.Errorf("%s %s: firmware %s for code %s", m.Vendor, m.Model, p.Firmware, code)
			}
		}
	}
}
