package htek

import (
	"context"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/htekfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/vendortest"
)

var (
	macs = [3]string{"001fc1000001", "001fc1000002", "001fc1000003"}
	urls = [2]string{
		"https://pbx.example.com/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
		"https://pbx.example.com/p/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB/",
	}
)

func TestHtek(t *testing.T) {
	fake := htekfake.Start(t, "htekuser", "htek-s3cret-pw")
	vendortest.Run(t, vendortest.Harness{
		Fake: fake.Server, New: New,
		Good: vendors.Account{Username: "htekuser", Password: "htek-s3cret-pw", BaseURL: htekfake.Path},
		Bad:  vendors.Account{Username: "htekuser", Password: "nope-nope-nope", BaseURL: htekfake.Path},
		MACs: macs, URLs: urls, DisclosesForeign: true,
	})
}

// With allow_takeover the documented isOverride resend takes a MAC from
// another RPS user.
func TestTakeover(t *testing.T) {
	fake := htekfake.Start(t, "u", "p1234")
	fake.Registry.SetForeign(macs[1], "https://elsewhere.example/")
	c, err := New(vendors.Account{Username: "u", Password: "p1234", BaseURL: fake.URL + htekfake.Path, AllowTakeover: true}, vendors.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(context.Background(), macs[1], urls[0]); err != nil {
		t.Fatal(err)
	}
	if e, _ := fake.Registry.Get(macs[1]); e.Owner != fakeserver.Us || e.URL != urls[0] {
		t.Fatalf("takeover failed: %+v", e)
	}
}
