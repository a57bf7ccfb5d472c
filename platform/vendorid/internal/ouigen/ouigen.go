// Package ouigen builds platform/vendorid's table (table.go) from the IEEE
// registry CSV files Debian's ieee-data package installs (oui.csv for MA-L,
// mam.csv for MA-M, oui36.csv for MA-S) plus Dialtone's supplement.csv. It is
// a library so that vendorid's test can check the committed table against the
// registry installed on the machine.
package ouigen

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"go/format"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dialtone-voip/dialtone/proto/vocab"
)

// DefaultRegistryDir is where Debian's ieee-data installs the registry.
const DefaultRegistryDir = "/usr/share/ieee-data"

// Files are the registry files read, by registry name.
var Files = []string{"oui.csv", "mam.csv", "oui36.csv"}

// rule says which registered organisation names are a vendor's. Names are
// compared in lower case; an entry ending in "*" is a prefix.
type rule struct {
	vendor string
	names  []string
}

// rules decide ownership. The choices (see vendorid's package comment):
//   - Poly: "Polycom" and "Poly" and "PLANTRONICS, INC." (Plantronics, Inc. is
//     the company trading as Poly since 2019). HP Inc. and Hewlett Packard
//     blocks are NOT included: none is documented for Poly phones, and their
//     hundreds of blocks belong to PCs, printers and network gear. Spectralink
//     (00907A, once Polycom's) is not Poly either: its phones take other files.
//   - Cisco: "Cisco Systems*" (1000+ blocks; the 3PCC phones use many of
//     them) and "Cisco-Linksys*" (the SPA phones). Not Cisco SPVTG (set-top
//     boxes) nor Cisco Meraki (network gear).
//   - Htek: the registry names the maker, "Hanlong Technology".
var rules = []rule{
	{vocab.Yealink, []string{"xiamen yealink network technology*", "yealink(xiamen) network technology*", "yealink*"}},
	{vocab.Fanvil, []string{"fanvil technology*"}},
	{vocab.Grandstream, []string{"grandstream networks*"}},
	{vocab.Snom, []string{"snom technology*"}},
	{vocab.Gigaset, []string{"gigaset communications*", "gigaset digital technology*"}},
	{vocab.Htek, []string{"hanlong technology*"}},
	{vocab.Poly, []string{"polycom", "polycom,*", "polycom inc*", "poly", "plantronics, inc.", "plantronics inc*"}},
	{vocab.Cisco, []string{"cisco systems*", "cisco-linksys*"}},
}

// VendorOf returns the vendor key of a registered organisation name, or "".
func VendorOf(org string) string {
	o := strings.ToLower(strings.TrimSpace(org))
	for _, r := range rules {
		for _, n := range r.names {
			if p, ok := strings.CutSuffix(n, "*"); ok {
				if strings.HasPrefix(o, p) {
					return r.vendor
				}
			} else if o == n {
				return r.vendor
			}
		}
	}
	return ""
}

// Block is one assignment in the generated table.
type Block struct {
	Prefix   string // lowercase hex: 6 (MA-L), 7 (MA-M) or 9 (MA-S) digits
	Registry string // MA-L, MA-M, MA-S
	Vendor   string
	Org      string
	Source   string // "ieee" or "supplement"
}

// Read parses one registry CSV (Registry,Assignment,Organization Name,Organization Address).
func Read(r io.Reader, source string) ([]Block, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.Comment = '#'
	var out []Block
	for line := 0; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if line == 0 && len(rec) > 0 && rec[0] == "Registry" {
			continue
		}
		if len(rec) < 3 || strings.HasPrefix(strings.TrimSpace(rec[0]), "#") {
			continue
		}
		reg, asg, org := strings.TrimSpace(rec[0]), strings.ToLower(strings.TrimSpace(rec[1])), strings.TrimSpace(rec[2])
		want := map[string]int{"MA-L": 6, "MA-M": 7, "MA-S": 9}[reg]
		if want == 0 || len(asg) != want || strings.Trim(asg, "0123456789abcdef") != "" {
			continue // IAB and malformed rows
		}
		if v := VendorOf(org); v != "" {
			out = append(out, Block{Prefix: asg, Registry: reg, Vendor: v, Org: org, Source: source})
		}
	}
}

// Build reads the registry in dir and the supplement and returns the
// formatted Go source of table.go.
func Build(dir string, supplement []byte) ([]byte, error) {
	var all []Block
	for _, f := range Files {
		fh, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		b, err := Read(fh, "ieee")
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		all = append(all, b...)
	}
	sup, err := Read(bytes.NewReader(supplement), "supplement")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, b := range all {
		seen[b.Prefix] = true
	}
	for _, b := range sup {
		if !seen[b.Prefix] { // the registry wins once it lists the block
			all = append(all, b)
			seen[b.Prefix] = true
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Prefix < all[j].Prefix })
	date := "unknown"
	if raw, err := os.ReadFile(filepath.Join(dir, ".lastupdate")); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64); err == nil {
			date = time.Unix(n, 0).UTC().Format("2006-01-02")
		}
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "// Code generated by ouigen from the IEEE registry (ieee-data, %s) and supplement.csv. DO NOT EDIT.\n\n", date)
	fmt.Fprintf(&buf, "package vendorid\n\n")
	fmt.Fprintf(&buf, "// RegistryDate is the date of the IEEE registry snapshot the table was generated from.\nconst RegistryDate = %q\n\n", date)
	fmt.Fprintf(&buf, "var blocks = [...]Block{\n")
	for _, b := range all {
		fmt.Fprintf(&buf, "\t{%q, %q, %q, %q, %t},\n", b.Prefix, b.Registry, b.Vendor, b.Org, b.Source == "supplement")
	}
	fmt.Fprintf(&buf, "}\n")
	return format.Source(buf.Bytes())
}
