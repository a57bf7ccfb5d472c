package provisionhttp_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestFamilyFallbackServed: a phone whose model the catalog does not list,
// but whose name fits a family's pattern, gets the family's files (never a
// silent 404), and its User-Agent MAC is still checked.
func TestFamilyFallbackServed(t *testing.T) {
	e := newEdge(t, nil, nil)
	y := e.addPhone(t, "yealink-fallback", false, false)
	r := e.get(t, y, y.macFile, false)
	if r.code != http.StatusOK || !strings.Contains(r.body, "sip-secret-"+y.mac) {
		t.Fatalf("GET MAC file: %d %q", r.code, r.body)
	}
	if r := e.get(t, y, y.commonFile, false); r.code != http.StatusOK {
		t.Fatalf("GET common file %s: %d", y.commonFile, r.code)
	}
	other := y
	other.ua = "Yealink SIP-T59Z 199.86.0.1 00:15:65:ff:ff:fe"
	if r := e.get(t, other, y.macFile, false); r.code != http.StatusNotFound {
		t.Fatalf("another MAC in the User-Agent: %d, want 404", r.code)
	}
}
