package snom

import (
	"context"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/fakes/snomfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/fakes/srapsfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/vendortest"
)

var (
	macs = [3]string{"000413aabb01", "000413aabb02", "000413aabb03"}
	urls = [2]string{
		"https://pbx.example.com/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
		"https://pbx.example.com/p/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB/",
	}
)

func TestXMLRPC(t *testing.T) {
	fake := snomfake.Start(t, "snomuser", "s3cret-snom-pass")
	vendortest.Run(t, vendortest.Harness{
		Fake: fake,
		New:  NewXMLRPC,
		Good: vendors.Account{Username: "snomuser", Password: "s3cret-snom-pass", BaseURL: snomfake.Path},
		Bad:  vendors.Account{Username: "snomuser", Password: "wrong-pass-1234", BaseURL: snomfake.Path},
		MACs: macs, URLs: urls, DisclosesURL: true, DisclosesForeign: true,
	})
}

func TestXMLRPCAddsMandatorySlash(t *testing.T) {
	fake := snomfake.Start(t, "u", "p1234")
	c, err := NewXMLRPC(vendors.Account{Username: "u", Password: "p1234", BaseURL: fake.URL + "/xmlrpc"}, vendors.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(context.Background(), macs[0], urls[0]); err != nil {
		t.Fatal(err)
	}
}

const (
	hawkID  = "a1b2c3d4-key-id"
	hawkKey = "werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn"
)

func TestSRAPS(t *testing.T) {
	fake := srapsfake.Start(t, srapsfake.Config{Prefix: "/api/v1", ID: hawkID, Key: hawkKey, Setting: SettingServer})
	vendortest.Run(t, vendortest.Harness{
		Fake: fake.Server,
		New:  NewSRAPS,
		Good: vendors.Account{KeyID: hawkID, KeySecret: hawkKey, BaseURL: "/api/v1/"},
		Bad:  vendors.Account{KeyID: hawkID, KeySecret: "not-the-key-0000000000", BaseURL: "/api/v1/"},
		MACs: macs, URLs: urls, DisclosesURL: true, DisclosesForeign: true,
	})
}

// A client whose clock is off by five minutes learns the server's time
// from the verified stale-timestamp challenge and succeeds.
func TestSRAPSStaleTimestamp(t *testing.T) {
	fake := srapsfake.Start(t, srapsfake.Config{Prefix: "/api/v1", ID: hawkID, Key: hawkKey, Setting: SettingServer})
	skewed := func() time.Time { return time.Now().Add(-5 * time.Minute) }
	c, err := NewSRAPS(vendors.Account{KeyID: hawkID, KeySecret: hawkKey, BaseURL: fake.URL + "/api/v1/"}, vendors.Options{Now: skewed})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(context.Background(), macs[0], urls[0]); err != nil {
		t.Fatalf("register with a skewed clock: %v", err)
	}
	if e, ok := fake.Registry.Get(macs[0]); !ok || e.URL != urls[0] {
		t.Fatalf("not registered: %+v", e)
	}
}
