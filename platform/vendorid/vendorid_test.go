package vendorid_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/vendorid"
	"github.com/dialtone-voip/dialtone/platform/vendorid/internal/ouigen"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

// TestTableUpToDate regenerates the table from the installed registry and
// compares it with the committed table.go (go generate ./platform/vendorid fixes it).
func TestTableUpToDate(t *testing.T) {
	_, err := os.Stat(filepath.Join(ouigen.DefaultRegistryDir, "oui.csv"))
	testenv.Require(t, "the IEEE registry (apt-get install ieee-data)", err == nil)
	sup, err := os.ReadFile("supplement.csv")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ouigen.Build(ouigen.DefaultRegistryDir, sup)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("table.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("table.go differs from what the installed IEEE registry generates: run go generate ./platform/vendorid and commit")
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct{ mac, vendor string }{
		{"001565aabbcc", vocab.Yealink},
		{"00:15:65:AA:BB:CC", vocab.Yealink},
		{"0c383e010203", vocab.Fanvil},
		{"000b82010203", vocab.Grandstream},
		{"000413010203", vocab.Snom},
		{"7c2f80010203", vocab.Gigaset},
		{"001fc1010203", vocab.Htek},
		{"0004f2010203", vocab.Poly},
		{"482567010203", vocab.Poly},
		{"00562b010203", vocab.Cisco}, // Cisco Systems: no longer refused as "too many OUIs"
		{"0002fd010203", vocab.Cisco},
		{"f80dac010203", ""}, // HP Inc.: deliberately not Poly
		{"00907a010203", ""}, // Spectralink
		{"zz", ""},
	} {
		if got := vendorid.Vendor(tc.mac); got != tc.vendor {
			t.Errorf("Vendor(%s) = %q, want %q", tc.mac, got, tc.vendor)
		}
	}
}

func TestEveryVendorHasBlocks(t *testing.T) {
	for _, v := range vocab.Vendors {
		if len(vendorid.Prefixes(v)) == 0 {
			t.Errorf("no blocks for %s", v)
		}
	}
	if n := len(vendorid.Prefixes(vocab.Cisco)); n < 1000 {
		t.Errorf("Cisco has %d blocks, want the registry's 1000+", n)
	}
	for _, v := range vocab.Vendors {
		if s := vendorid.Sample(v); vendorid.Vendor(s+"000000") != v {
			t.Errorf("Sample(%s) = %q is not the vendor's block", v, s)
		}
	}
	for _, b := range vendorid.Blocks() {
		if !vocab.IsVendor(b.Vendor) {
			t.Errorf("block %s: vendor %q", b.Prefix, b.Vendor)
		}
	}
}

// TestOrgRules pins which registered names count.
func TestOrgRules(t *testing.T) {
	for org, v := range map[string]string{
		"Cisco Systems, Inc": vocab.Cisco, "Cisco-Linksys, LLC": vocab.Cisco, "Cisco Meraki": "",
		"HP Inc.": "", "Polycom": vocab.Poly, "Poly": vocab.Poly, "Shenzhen xiaosha  Intelligence  Technology Co. Ltd": "",
		"Hanlong Technology Co.,LTD": vocab.Htek, "snom technology GmbH": vocab.Snom,
	} {
		if got := ouigen.VendorOf(org); got != v {
			t.Errorf("VendorOf(%q) = %q, want %q", org, got, v)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("Registry,Assignment,Organization Name,Organization Address\nMA-L,001565,\"XIAMEN YEALINK NETWORK TECHNOLOGY CO.,LTD\",x\n"))
	f.Add([]byte("MA-S,70B3D5F2F,Cisco Systems,\"a\"\n# c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		blocks, err := ouigen.Read(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		for _, b := range blocks {
			if n := len(b.Prefix); n != 6 && n != 7 && n != 9 || !vocab.IsVendor(b.Vendor) {
				t.Fatalf("bad block %+v", b)
			}
		}
	})
}
