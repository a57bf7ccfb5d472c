package catalog

import (
	"strings"
	"testing"
)

func TestEmbeddedCatalog(t *testing.T) {
	c := Default()
	if len(c.Models) < 60 {
		t.Fatalf("%d models, want >= 60", len(c.Models))
	}
	fams := map[string]int{}
	for _, m := range c.Models {
		fams[m.Vendor]++
		if len(m.Files) == 0 || m.SIPAccounts < 1 {
			t.Errorf("%s: incomplete", m.Name())
		}
	}
	if len(fams) != 8 {
		t.Errorf("vendors with models: %v", fams)
	}
}

// User-Agents quoted in the research (vendor-configs.md §1.4, 2.4, 3.4, 4.4, 5.4,
// 6.4, 7.4, 8.1) with the model and MAC they must yield.
var uaCases = []struct{ ua, vendor, model, mac string }{
	{"Yealink SIP-T54W 96.86.0.45 80:5e:c0:d5:7d:72", "yealink", "T54W", "805ec0d57d72"},
	{"Yealink SIP-T31G 124.85.257.55 80:5e:c0:d5:7d:72", "yealink", "T31G", "805ec0d57d72"},
	{"Yealink W70B 146.87.0.15 80:5e:0c:1d:65:4e", "yealink", "W70B", "805e0c1d654e"},
	{"Yealink SIP-T46S 66.86.0.15 001565f429a4", "yealink", "T46S", "001565f429a4"},
	{"Fanvil X4U 2.12.16.17 0c383e07e16c", "fanvil", "X4U", "0c383e07e16c"},
	{"Fanvil X6 2.10.2.6887 0c383e07e16c", "fanvil", "X6", "0c383e07e16c"},
	{"Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b828aa872", "grandstream", "GXP2135", "000b828aa872"},
	{"Grandstream Model HW GRP2614 SW 1.0.5.15 DevId c074ad0b63ee", "grandstream", "GRP2614", "c074ad0b63ee"},
	{"Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)", "snom", "D785", "000413922d24"},
	{"Mozilla/4.0 (compatible; snomD785-SIP 10.1.169.16 2010.12-00001-gd311851f1 (Feb 25 2019 - 14:19:43) 00041396D9B4 SXM:0 UXM:0 UXMC:0)", "snom", "D785", "00041396d9b4"},
	{"Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605", "gigaset", "N870", "7c2f80e0d605"},
	{"Gigaset N670 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605;Handset=2", "gigaset", "N670", "7c2f80e0d605"},
	{"Htek UC903 2.0.4.2 00:1f:c1:1c:22:a9", "htek", "UC903", "001fc11c22a9"},
	{"FileTransport PolycomVVX-VVX_450-UA/5.9.5.0614 Type/Application", "poly", "VVX450", ""},
	{"FileTransport PolyEdge-Edge_E450-UA/8.0.0.15602 Type/Application", "poly", "E450", ""},
	{"Cisco-CP-7832-3PCC/11.0.1 (00562b043615)", "cisco", "CP-7832-3PCC", "00562b043615"},
	{"Cisco-CP-8851-3PCC/11.3.1 (00562b043615)", "cisco", "CP-8851-3PCC", "00562b043615"},
	// User-Agent examples quoted in wazo-provd-plugins (plugins/wazo_cisco_spa/common/common.py,
	// plugins/wazo_snom/common_dect/common.py); the SPA MAC is optional, so not extracted.
	{"Cisco/SPA501G-7.4.4 (8843E157DDCC)(CBT141100HR)", "cisco", "SPA501G", ""},
	{"Linksys/SPA-942-6.1.5(a) (4MM00F903042)", "cisco", "SPA942", ""},
	{"Mozilla/4.0 (compatible; Snom M900 05.20.0001 000413b60680)", "snom", "M900", "000413b60680"},
}

func TestUserAgents(t *testing.T) {
	c := Default()
	for _, tc := range uaCases {
		v, m, ok := c.Identify("", tc.ua, "", "")
		if !ok || v != tc.vendor || m != tc.model {
			t.Errorf("%q: got %s/%s %v, want %s/%s", tc.ua, v, m, ok, tc.vendor, tc.model)
			continue
		}
		model, _ := c.Model(v, m)
		mac, ok := model.MACFromUserAgent(tc.ua)
		if tc.mac == "" {
			if ok || model.HasMACInUA() {
				t.Errorf("%q: this UA has no MAC", tc.ua)
			}
			continue
		}
		if !ok || mac != tc.mac {
			t.Errorf("%q: mac %q %v, want %q", tc.ua, mac, ok, tc.mac)
		}
	}
}

func TestIdentifyFallbacks(t *testing.T) {
	c := Default()
	for _, tc := range []struct{ mac, pv, pm, vendor, model string }{
		{"00:15:65:aa:bb:cc", "", "", "yealink", ""},
		{"", "yealink", "W60B", "yealink", "W60B"},
		{"", "snom", "snomD385", "snom", "D385"},
		{"", "Grandstream", "GRP2614", "grandstream", "GRP2614"},
		{"0004132d0000", "OEM", "OEM", "snom", ""},
	} {
		v, m, ok := c.Identify(tc.mac, "", tc.pv, tc.pm)
		if !ok || v != tc.vendor || m != tc.model {
			t.Errorf("%+v: got %s/%s", tc, v, m)
		}
	}
	if _, _, ok := c.Identify("aabbccddeeff", "curl/8", "acme", ""); ok {
		t.Error("unknown device identified")
	}
}

func TestFileMatching(t *testing.T) {
	c := Default()
	mac := "001565aabbcc"
	for _, tc := range []struct {
		vendor, model, name string
		ok                  bool
	}{
		{"yealink", "T54W", "y000000000096.cfg", true},
		{"yealink", "T54W", "001565aabbcc.cfg", true},
		{"yealink", "T54W", "001565AABBCC.cfg", false},
		{"yealink", "T54W", "001565aabbcd.cfg", false},
		{"yealink", "T54W", "y000000000108.cfg", false},
		{"yealink", "T54W", "cfg001565aabbcc.xml", false},
		{"snom", "D785", "snomD785.htm", true},
		{"snom", "D785", "snomD785-001565AABBCC.htm", true},
		{"snom", "D785", "001565AABBCC.xml", true},
		{"snom", "D785", "001565aabbcc.xml", false},
		{"snom", "D785", "snomD735.htm", false},
		{"poly", "VVX450", "000000000000.cfg", true},
		{"poly", "VVX450", "phone001565aabbcc.cfg", true},
		{"cisco", "CP-8851-3PCC", "8851-3PCC.xml", true},
		{"cisco", "CP-8851-3PCC", "8841-3PCC.xml", false},
		{"fanvil", "X6", "F0V00X600000.cfg", true},
		{"htek", "UC926", "cfg0010.xml", true},
		{"grandstream", "GXP2170", "cfg001565aabbcc", false},
	} {
		m, ok := c.Model(tc.vendor, tc.model)
		if !ok {
			t.Fatalf("%s/%s missing", tc.vendor, tc.model)
		}
		if _, got := m.FindFile(tc.name, mac); got != tc.ok {
			t.Errorf("%s/%s %q: %v, want %v", tc.vendor, tc.model, tc.name, got, tc.ok)
		}
	}
}

func TestOverrideCatalog(t *testing.T) {
	over := `{"version":1,"models":[{"vendor":"yealink","model":"T54W","family":"T5x","sip_accounts":3,"line_keys":1,"vars":{"code":"096","ua_model":"T54W"}},
	{"vendor":"yealink","model":"T99X","family":"T5x","sip_accounts":1,"line_keys":1,"vars":{"code":"199","ua_model":"T99X"}}]}`
	c, err := Parse([]byte(over), EmbeddedDocument())
	if err != nil {
		t.Fatal(err)
	}
	m, _ := c.Model("yealink", "T54W")
	if m.SIPAccounts != 3 {
		t.Error("override not applied")
	}
	if _, ok := c.Model("yealink", "T99X"); !ok {
		t.Error("added model missing")
	}
	for _, bad := range []string{
		`{"models":[{"vendor":"acme","model":"X","family":"T5x","sip_accounts":1}]}`,
		`{"models":[{"vendor":"yealink","model":"X","family":"nope","sip_accounts":1}]}`,
		`{"models":[{"vendor":"yealink","model":"X","family":"T5x","sip_accounts":1,"files":[{"pattern":"../x{mac}","template":"mac"}]}]}`,
		`{"models":[{"vendor":"yealink","model":"X","family":"T5x","sip_accounts":1,"user_agent_pattern":"(("}]}`,
		`{"bogus":1}`,
	} {
		if _, err := Parse([]byte(bad), EmbeddedDocument()); err == nil {
			t.Errorf("accepted %s", bad)
		} else if strings.Contains(err.Error(), "panic") {
			t.Error(err)
		}
	}
}
