package gigaset

import (
	"context"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/fakes/gigasetfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/fakes/srapsfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/vendortest"
)

var (
	macs = [3]string{"7c2f80aabb01", "7c2f80aabb02", "7c2f80aabb03"}
	urls = [2]string{
		"https://pbx.example.com/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
		"https://pbx.example.com/p/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB/",
	}
)

func TestXMLRPC(t *testing.T) {
	fake := gigasetfake.Start(t, "gigauser", "giga-s3cret-pw")
	vendortest.Run(t, vendortest.Harness{
		Fake: fake, New: NewXMLRPC,
		Good: vendors.Account{Username: "gigauser", Password: "giga-s3cret-pw", BaseURL: gigasetfake.Path},
		Bad:  vendors.Account{Username: "gigauser", Password: "nope-nope-nope", BaseURL: gigasetfake.Path},
		MACs: macs, URLs: urls, DisclosesForeign: true,
	})
}

// The service echoes a refused URL ("url_invalid:<url>"); the error text
// must not carry it.
func TestXMLRPCScrubsEchoedURL(t *testing.T) {
	fake := gigasetfake.Start(t, "u", "p1234")
	c, _ := NewXMLRPC(vendors.Account{Username: "u", Password: "p1234", BaseURL: fake.URL + gigasetfake.Path}, vendors.Options{})
	bad := "ftp://pbx.example.com/p/SECRETTOKENSECRETTOKENSECRETTOKENSECRETTOK/"
	err := c.Register(context.Background(), macs[0], bad)
	if vendors.ReasonOf(err) != vendors.ReasonRejected {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "SECRETTOKEN") {
		t.Fatalf("error text leaks the URL: %v", err)
	}
}

func TestGRAPE(t *testing.T) {
	const id, key = "grape-key-id", "grape-hawk-key-0123456789abcdef"
	fake := srapsfake.Start(t, srapsfake.Config{Prefix: "/api/v1", ID: id, Key: key,
		Setting: SettingProvisioningServer, ForbidNullWarranty: true})
	vendortest.Run(t, vendortest.Harness{
		Fake: fake.Server, New: NewGRAPE,
		Good: vendors.Account{KeyID: id, KeySecret: key, BaseURL: "/api/v1/"},
		Bad:  vendors.Account{KeyID: id, KeySecret: "wrong-key-wrong-key-wrong", BaseURL: "/api/v1/"},
		MACs: macs, URLs: urls, DisclosesURL: true, DisclosesForeign: true,
	})
}
