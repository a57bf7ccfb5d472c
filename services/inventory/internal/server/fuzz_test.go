package server

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// FuzzPageToken: any token either decodes to the id it was made from or
// is refused; it never panics.
func FuzzPageToken(f *testing.F) {
	f.Add(encodePageToken("p|s=1", "001565aabbcc"), "p|s=1")
	f.Add("", "p|")
	f.Add("!!", "t|")
	f.Add("cHwAeA", "p|")
	f.Fuzz(func(t *testing.T, tok, fp string) {
		last, err := decodePageToken(tok, fp)
		if err == nil && tok != "" && encodePageToken(fp, last) != tok {
			// Only canonical encodings round-trip; others must still carry fp.
			if !strings.Contains(fp, "\x00") {
				if l2, err := decodePageToken(encodePageToken(fp, last), fp); err != nil || l2 != last {
					t.Fatalf("re-encoded token does not decode: %q", last)
				}
			}
		}
	})
}

// FuzzNames: resource names parse to components that rebuild the name.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"tenants/acme", "tenants/acme/extensions/100", "tenants/acme/sipInterfaces/pbx",
		"tenants//extensions/1", "tenants/a/extensions/1/x", "phones/00:15:65:aa:bb:cc", "tenants/ACME/extensions/+1.2_3-4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if id := tenantID(s); id != "" && tenantName(id) != s {
			t.Fatalf("tenant %q -> %q", s, id)
		}
		if tn, n, ok := parseExtensionName(s); ok && extensionName(tn, n) != s {
			t.Fatalf("extension %q -> %q %q", s, tn, n)
		}
		if tn, i, ok := parseInterfaceName(s); ok && interfaceName(tn, i) != s {
			t.Fatalf("interface %q -> %q %q", s, tn, i)
		}
		if mac, err := normalizeMAC("name", s); err == nil && len(mac) != 12 {
			t.Fatalf("mac %q -> %q", s, mac)
		}
	})
}

// FuzzDecodePhone: stored phone records decode or fail cleanly, and what
// decodes re-encodes to an equal record.
func FuzzDecodePhone(f *testing.F) {
	pr := &phoneRec{p: &inventoryv1.Phone{Mac: "001565aabbcc", Model: "T54W", State: stAssigned},
		token: "tok", bootstrapToken: true, prevToken: "old", prevExpire: 99, configRev: 7}
	b, _ := pr.encode()
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodePhone(store.Record{ID: "x", Value: b, Rev: 1})
		if err != nil {
			return
		}
		b2, err := r.encode()
		if err != nil {
			return
		}
		r2, err := decodePhone(store.Record{ID: "x", Value: b2, Rev: 1})
		if err != nil || !proto.Equal(r.p, r2.p) || r.token != r2.token || r.prevToken != r2.prevToken || r.configRev != r2.configRev {
			t.Fatalf("round trip changed the record")
		}
	})
}
