package tftpfront

import (
	"slices"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	for _, c := range []struct {
		in   string
		file string
		macs []string
		bad  bool
	}{
		{in: "SIPDefault.cnf", file: "SIPDefault.cnf"},
		{in: "/SIPDefault.cnf", file: "SIPDefault.cnf"},
		{in: "XMLDefault.cnf.xml", file: "XMLDefault.cnf.xml"},
		{in: "OS79XX.TXT", file: "OS79XX.TXT"},
		{in: "P0S3-08-12-00.loads", file: "P0S3-08-12-00.loads"},
		{in: "SIP0011AABBCCDD.cnf", file: "SIP0011AABBCCDD.cnf", macs: []string{"0011aabbccdd"}},
		{in: "SEP0011aabbccdd.cnf.xml", file: "SEP0011aabbccdd.cnf.xml", macs: []string{"0011aabbccdd"}},
		{in: "ld0011AABBCCDD", file: "ld0011AABBCCDD", macs: []string{"0011aabbccdd"}},
		{in: "SEP0011AABBCCDD.cnf.xml", file: "SEP0011AABBCCDD.cnf.xml", macs: []string{"0011aabbccdd"}},
		{in: "CTLSEP0011AABBCCDD.tlv", file: "CTLSEP0011AABBCCDD.tlv", macs: []string{"0011aabbccdd"}},
		{in: "ITLSEP0011AABBCCDD.tlv", file: "ITLSEP0011AABBCCDD.tlv", macs: []string{"0011aabbccdd"}},
		{in: "SEPDEADBEEF0011.cnf.xml", file: "SEPDEADBEEF0011.cnf.xml", macs: []string{"deadbeef0011"}}, // 'E' of SEP is hex, the 'P' ends its run
		{in: "SEP0011AABBCCDD.cnf.xml.sgn", file: "SEP0011AABBCCDD.cnf.xml.sgn", macs: []string{"0011aabbccdd"}},
		{in: "ITLFile.tlv", file: "ITLFile.tlv"},
		{in: "SEPE0011AABBCCDD.cnf.xml", file: "SEPE0011AABBCCDD.cnf.xml", macs: []string{"0011aabbccdd"}}, // a run of 13, as ld<MAC>'s
		{in: "SEPEE0011AABBCCDD.cnf.xml", bad: true},                                                       // 14 digits could hide a MAC
		{in: "00-11-aa-bb-cc-dd.cfg", file: "00-11-aa-bb-cc-dd.cfg", macs: []string{"0011aabbccdd"}},
		{in: "SEP0011AABBCCDD-001122334455.xml", file: "SEP0011AABBCCDD-001122334455.xml", bad: true}, // one run of 24
		{in: "SIP0011AABBCCDD.SIP001122334455", file: "SIP0011AABBCCDD.SIP001122334455", macs: []string{"0011aabbccdd", "001122334455"}},
		{in: "", bad: true},
		{in: "/", bad: true},
		{in: "../etc/passwd", bad: true},
		{in: "a/b", bad: true},
		{in: ".hidden", bad: true},
		{in: "a..b", bad: true},
		{in: "SIP%30.cnf", bad: true},
		{in: "with space", bad: true},
		{in: "ctl\x00", bad: true},
		{in: strings.Repeat("a", MaxNameLen+1), bad: true},
	} {
		n, err := ParseName(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q: accepted as %+v", c.in, n)
			}
			continue
		}
		if err != nil || n.File != c.file || !slices.Equal(n.MACs, c.macs) {
			t.Errorf("%q: got %+v, %v; want file %q macs %v", c.in, n, err, c.file, c.macs)
		}
	}
	n, _ := ParseName("SIP0011AABBCCDD.cnf")
	if !n.NamesOnly("0011aabbccdd") || n.NamesOnly("001122334455") {
		t.Error("NamesOnly")
	}
}

// FuzzParseName: an accepted name is flat (no '/', no ".."), bounded, and
// every MAC it reports is 12 lowercase hex digits found in the name.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{"SIPDefault.cnf", "/SIP0011AABBCCDD.cnf", "SEP0011aabbccdd.cnf.xml", "ld0011AABBCCDD",
		"SEP0011AABBCCDD.cnf.xml", "CTLSEP0011AABBCCDD.tlv", "ITLSEP0011AABBCCDD.tlv", "ITLFile.tlv", "XMLDefault.cnf.xml",
		"SEP0011AABBCCDD.cnf.xml.sgn", "SEPDEADBEEF0011.cnf.xml",
		"00-11-aa-bb-cc-dd.cfg", "../x", "a\x00b", "SIP0011AABBCCDD.SIP001122334455", "-----0011-AABB-CCDD-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseName(s)
		if err != nil {
			return
		}
		if n.File == "" || len(n.File) > MaxNameLen || strings.ContainsAny(n.File, "/\\\x00 ") || strings.Contains(n.File, "..") {
			t.Fatalf("%q accepted as %q", s, n.File)
		}
		flat := strings.ToLower(strings.ReplaceAll(n.File, "-", ""))
		for _, m := range n.MACs {
			if len(m) != 12 || strings.Trim(m, "0123456789abcdef") != "" || !strings.Contains(flat, m) {
				t.Fatalf("%q: MAC %q", s, m)
			}
		}
		if len(n.MACs) == 0 && !n.NamesOnly("0011aabbccdd") {
			t.Fatal("a name without a MAC must suit every phone")
		}
	})
}
