package console

import (
	"strings"
	"testing"
)

// FuzzReadImport: the Import screen's CSV parser never panics, reports at
// most maxImportRows rows, and every row it accepts has a canonical MAC.
func FuzzReadImport(f *testing.F) {
	for _, seed := range []string{
		"mac,model,vendor,extension,language,timezone\n001565aabbcc,T54W,yealink,201,de,Europe/Berlin\n",
		"\ufeffMAC,Extension\n00:15:65:AA:BB:CC,201\nnot-a-mac,\n",
		"mac\n\"00-15-65-aa-bb-cc\"\n",
		"model\nT54W\n",
		"mac,bogus\n1,2\n",
		"mac,language\n001565aabbcc,xx-YY\n",
		"",
		"mac\n\"unterminated\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := readImport(strings.NewReader(in))
		if err != nil {
			return
		}
		if len(rows) == 0 || len(rows) > maxImportRows {
			t.Fatalf("%d rows without an error", len(rows))
		}
		for _, r := range rows {
			if r.err == "" && (len(r.mac) != 12 || strings.ToLower(r.mac) != r.mac) {
				t.Fatalf("accepted row with MAC %q", r.mac)
			}
		}
	})
}
