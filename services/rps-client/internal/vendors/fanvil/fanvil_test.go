package fanvil

import (
	"context"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fanvilfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/vendortest"
)

var (
	macs = [3]string{"0c383eaabb01", "0c383eaabb02", "0c383eaabb03"}
	urls = [2]string{
		"https://pbx.example.com:8443/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
		"http://pbx.example.com/p/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB/",
	}
)

func TestPasswordHash(t *testing.T) {
	// printf secret | md5sum → 5ebe2294ecd0e0f08eab7690d2a6ee69;
	// printf 5ebe2294ecd0e0f08eab7690d2a6ee69 | md5sum → 7022cd14….
	if got, want := PasswordHash("secret"), "7022cd14c42ff272619d6beacdc9ffde"; got != want {
		t.Fatalf("PasswordHash = %s, want %s", got, want)
	}
}

func TestFDPS(t *testing.T) {
	fake := fanvilfake.Start(t, "fanviluser", "fanvil-s3cret")
	vendortest.Run(t, vendortest.Harness{
		Fake: fake.Server, New: New,
		Good: vendors.Account{Username: "fanviluser", Password: "fanvil-s3cret", BaseURL: fanvilfake.Path},
		Bad:  vendors.Account{Username: "fanviluser", Password: "wrong-wrong", BaseURL: fanvilfake.Path},
		MACs: macs, URLs: urls, DisclosesForeign: true,
		Secrets: []string{PasswordHash("fanvil-s3cret")},
	})
	// Deregistering removed the per-MAC server objects; the refused foreign
	// registration left none behind either.
	if n := fake.Servers(); n != 0 {
		t.Errorf("%d server objects left", n)
	}
}

func TestMaterialServer(t *testing.T) {
	got, err := materialServer("0C383EAABB01", "https://pbx.example.com:8443/p/tok/")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cfgName=0C383EAABB01", "cfgPfMode=1", "cfgDhcpOpt=false", "cfgPnpEnable=false",
		"cfgPfSrv=pbx.example.com:8443", "cfgPfName=p/tok/", "cfgPfProt=5"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %s, want %s", i, got[i], want[i])
		}
	}
	c, _ := New(vendors.Account{Username: "u", Password: "p1234", BaseURL: "http://127.0.0.1:1/"}, vendors.Options{})
	if err := c.Register(context.Background(), macs[0], "sip:nope"); vendors.ReasonOf(err) != vendors.ReasonRejected {
		t.Errorf("bad scheme: %v", err)
	}
}
