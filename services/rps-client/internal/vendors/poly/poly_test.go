package poly

import (
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/polyfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/vendortest"
)

func TestZTP(t *testing.T) {
	fake := polyfake.Start(t, "poly-api-key-s3cret")
	vendortest.Run(t, vendortest.Harness{
		Fake: fake.Server, New: New,
		Good: vendors.Account{APIKey: "poly-api-key-s3cret", BaseURL: polyfake.Prefix},
		Bad:  vendors.Account{APIKey: "poly-api-key-wrong", BaseURL: polyfake.Prefix},
		MACs: [3]string{"0004f2aabb01", "0004f2aabb02", "0004f2aabb03"},
		URLs: [2]string{
			"https://pbx.example.com/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
			"https://pbx.example.com/p/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB/",
		},
		DisclosesURL: true,
	})
	if n := fake.Profiles(); n != 0 {
		t.Errorf("%d profiles left behind", n)
	}
}
