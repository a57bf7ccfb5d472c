package catalog

import (
	"strings"
	"testing"
)

// FuzzFileMatch: the file-name parser accepts a name only if it is exactly the
// pattern with one MAC in the pattern's case, and Name inverts Match.
func FuzzFileMatch(f *testing.F) {
	c := Default()
	var files []*File
	for _, m := range c.Models {
		for i := range m.Files {
			files = append(files, &m.Files[i])
		}
	}
	f.Add("001565aabbcc.cfg")
	f.Add("snomD785-000413AABBCC.htm")
	f.Add("cfg000b82aabbcc.xml")
	f.Add("y000000000096.cfg")
	f.Add("000000000000.cfg")
	f.Add("../001565aabbcc.cfg")
	f.Fuzz(func(t *testing.T, name string) {
		for _, fl := range files {
			mac, ok := fl.Match(name)
			if !ok {
				continue
			}
			if fl.HasMAC() {
				if len(mac) != 12 || strings.Trim(mac, "0123456789abcdef") != "" {
					t.Fatalf("%s matched %q with MAC %q", fl.Pattern, name, mac)
				}
				if fl.Name(mac) != name {
					t.Fatalf("%s: Name(%q) = %q, matched %q", fl.Pattern, mac, fl.Name(mac), name)
				}
			} else if name != fl.Pattern {
				t.Fatalf("%s matched %q", fl.Pattern, name)
			}
			if strings.ContainsAny(name, "/\\") {
				t.Fatalf("%s matched a path %q", fl.Pattern, name)
			}
		}
	})
}

// FuzzUserAgent: identification and MAC extraction never panic, and an extracted
// MAC is canonical.
func FuzzUserAgent(f *testing.F) {
	c := Default()
	for _, tc := range uaCases {
		f.Add(tc.ua, "", "")
	}
	f.Add("", "yealink", "SIP-T54W")
	f.Fuzz(func(t *testing.T, ua, pv, pm string) {
		v, m, ok := c.Identify("001565aabbcc", ua, pv, pm)
		if !ok || v == "" {
			t.Fatal("OUI fallback lost")
		}
		if m == "" {
			return
		}
		model, found := c.Model(v, m)
		if !found {
			t.Fatalf("identified unknown model %s/%s", v, m)
		}
		if mac, ok := model.MACFromUserAgent(ua); ok && (len(mac) != 12 || strings.Trim(mac, "0123456789abcdef") != "") {
			t.Fatalf("MAC %q from %q", mac, ua)
		}
	})
}

// FuzzCatalogDocument: the operator's catalog.json loader rejects or accepts,
// never panics, and what it accepts is consistent.
func FuzzCatalogDocument(f *testing.F) {
	f.Add(`{"version":1,"models":[{"vendor":"yealink","model":"T99X","family":"T5x","sip_accounts":2,"line_keys":2,"vars":{"code":"199","ua_model":"T99X"}}]}`)
	f.Add(`{"models":[{"vendor":"snom","model":"D9","family":"D-series","sip_accounts":1,"files":[{"pattern":"{MAC}{mac}.xml","template":"mac"}]}]}`)
	f.Add(`{"vendors":[{"vendor":"htek","pnp_url_template":"x","check_sync":"resync","user_agent_pattern":"("}]}`)
	f.Add(`[]`)
	base := EmbeddedDocument()
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := Parse([]byte(doc), base)
		if err != nil {
			return
		}
		for _, m := range c.Models {
			if len(m.Files) == 0 || m.SIPAccounts < 1 {
				t.Fatalf("accepted incomplete model %s", m.Name())
			}
		}
	})
}
