package yealink

import (
	"context"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/fakes/yealinkfake"
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
