package yealink

import (
	"context"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/yealinkfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/vendortest"
)

var (
	macs = [3]string{"001565aabb01", "001565aabb02", "001565aabb03"}
	urls = [2]string{
		"https://pbx.example.com/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
		"https://pbx.example.com/p/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB/",
	}
)

func TestXMLRPC(t *testing.T) {
	fake := yealinkfake.StartXMLRPC(t, yealinkfake.YealinkTemplate, "rpsuser", "rps-xml-s3cret")
	vendortest.Run(t, vendortest.Harness{
		Fake: fake.Server, New: NewXMLRPC,
		Good: vendors.Account{Username: "rpsuser", Password: "rps-xml-s3cret", BaseURL: "/xmlrpc"},
		Bad:  vendors.Account{Username: "rpsuser", Password: "bad-bad-bad", BaseURL: "/xmlrpc"},
		MACs: macs, URLs: urls, DisclosesForeign: true,
	})
}

func TestRPS(t *testing.T) {
	fake := yealinkfake.StartRPS(t, yealinkfake.RPSConfig{Key: vecKey, Secret: vecSecret})
	vendortest.Run(t, vendortest.Harness{
		Fake: fake.Server, New: NewRPS,
		Good: vendors.Account{KeyID: vecKey, KeySecret: vecSecret},
		Bad:  vendors.Account{KeyID: vecKey, KeySecret: "0000000000000000000000000000000a"},
		MACs: macs, URLs: urls, DisclosesURL: true, DisclosesForeign: true,
	})
}

func TestYMCS(t *testing.T) {
	fake := yealinkfake.StartYMCS(t, yealinkfake.YMCSConfig{ClientID: "ymcs-client", ClientSecret: "ymcs-SECRET-1", AllowAddByMac: true})
	vendortest.Run(t, vendortest.Harness{
		Fake: fake.Server, New: NewYMCS,
		Good: vendors.Account{KeyID: "ymcs-client", KeySecret: "ymcs-SECRET-1"},
		Bad:  vendors.Account{KeyID: "ymcs-client", KeySecret: "wrong-secret"},
		MACs: macs, URLs: urls, DisclosesURL: true,
	})
}

// An expired token is dropped on 401 and fetched again, once.
func TestYMCSTokenRefresh(t *testing.T) {
	fake := yealinkfake.StartYMCS(t, yealinkfake.YMCSConfig{ClientID: "c", ClientSecret: "s", AllowAddByMac: true})
	c, err := NewYMCS(vendors.Account{KeyID: "c", KeySecret: "s", BaseURL: fake.URL}, vendors.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Register(ctx, macs[0], urls[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.Register(ctx, macs[1], urls[0]); err != nil {
		t.Fatal(err)
	}
	if n := fake.TokensIssued(); n != 1 {
		t.Fatalf("%d tokens for two calls", n)
	}
	fake.ExpireTokens()
	if err := c.Deregister(ctx, macs[0]); err != nil {
		t.Fatal(err)
	}
	if n := fake.TokensIssued(); n != 2 {
		t.Fatalf("%d tokens after expiry", n)
	}
}

// Without Yealink's enablement addDevicesByMac is forbidden: a permanent,
// explained refusal, not bad credentials.
func TestYMCSAddByMacNotEnabled(t *testing.T) {
	fake := yealinkfake.StartYMCS(t, yealinkfake.YMCSConfig{ClientID: "c", ClientSecret: "s"})
	c, _ := NewYMCS(vendors.Account{KeyID: "c", KeySecret: "s", BaseURL: fake.URL}, vendors.Options{})
	err := c.Register(context.Background(), macs[0], urls[0])
	if vendors.ReasonOf(err) != vendors.ReasonRejected || !strings.Contains(err.Error(), "not enabled") {
		t.Fatalf("err = %v", err)
	}
}

// Another account registers the MAC between our checkDevice ("unregistered")
// and our registerDevice. Without allow_takeover we must not send isOverride,
// so the service asks "override?", and we report the MAC as another
// account's and leave it to them.
func TestXMLRPCTakeoverRace(t *testing.T) {
	for _, takeover := range []bool{false, true} {
		t.Run(map[bool]string{false: "refused", true: "allowed"}[takeover], func(t *testing.T) {
			fake := yealinkfake.StartXMLRPC(t, yealinkfake.YealinkTemplate, "u", "p-123456")
			c, err := NewXMLRPC(vendors.Account{Username: "u", Password: "p-123456", BaseURL: fake.URL + "/xmlrpc",
				AllowTakeover: takeover}, vendors.Options{})
			if err != nil {
				t.Fatal(err)
			}
			const foreignURL = "https://other.example.net/p/x/"
			fake.Before("redirect.registerDevice", func() { fake.Registry.SetForeign(macs[0], foreignURL) })
			err = c.Register(context.Background(), macs[0], urls[0])
			e, _ := fake.Registry.Get(macs[0])
			if !takeover {
				if vendors.ReasonOf(err) != vendors.ReasonOwned {
					t.Fatalf("err = %v, want owned by another account", err)
				}
				if e.URL != foreignURL {
					t.Fatalf("the other account's registration was taken: %+v", e)
				}
				return
			}
			if err != nil || e.URL != urls[0] {
				t.Fatalf("takeover allowed: err = %v, entry %+v", err, e)
			}
		})
	}
}

// A MAC the check says is ours is updated with isOverride at once (the
// service would otherwise answer "Existing MAC(s)").
func TestXMLRPCUpdateOwnSendsOverride(t *testing.T) {
	fake := yealinkfake.StartXMLRPC(t, yealinkfake.YealinkTemplate, "u", "p-123456")
	c, _ := NewXMLRPC(vendors.Account{Username: "u", Password: "p-123456", BaseURL: fake.URL + "/xmlrpc"}, vendors.Options{})
	ctx := context.Background()
	if err := c.Register(ctx, macs[0], urls[0]); err != nil {
		t.Fatal(err)
	}
	before := fake.Requests()
	if err := c.Register(ctx, macs[0], urls[1]); err != nil {
		t.Fatal(err)
	}
	// checkDevice, addServer, registerDevice with the flag: three calls, no retry.
	if n := fake.Requests() - before; n != 3 {
		t.Fatalf("%d calls to update our own registration, want 3", n)
	}
	if e, _ := fake.Registry.Get(macs[0]); e.URL != urls[1] {
		t.Fatalf("entry %+v", e)
	}
}

// Two replicas register their first phones at once: both find no server
// object, both add one, and the vendor refuses the second add
// ("server.name.existed", names are unique). The second replica must use
// the first one's object, not fail its phone for good (cmd/e2e/rps
// TestEndToEnd: a Yealink phone stayed unregistered, once).
func TestRPSServerAddRace(t *testing.T) {
	fake := yealinkfake.StartRPS(t, yealinkfake.RPSConfig{Key: vecKey, Secret: vecSecret})
	acct := vendors.Account{KeyID: vecKey, KeySecret: vecSecret, BaseURL: fake.URL}
	first, err := NewRPS(acct, vendors.Options{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := NewRPS(acct, vendors.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The second replica has listed (none) and is about to add: the first
	// one adds the object and registers its phone just before.
	fake.Before("POST /api/open/v1/server/add", func() {
		if err := first.Register(ctx, macs[0], urls[0]); err != nil {
			t.Errorf("first replica: %v", err)
		}
	})
	if err := second.Register(ctx, macs[1], urls[0]); err != nil {
		t.Fatalf("second replica, after the first added the server object: %v (reason %v)", err, vendors.ReasonOf(err))
	}
	for _, mac := range macs[:2] {
		if e, ok := fake.Registry.Get(mac); !ok || e.URL != urls[0] {
			t.Errorf("%s: registered %v, entry %+v", mac, ok, e)
		}
	}
}
