package gigaset

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/gigasetfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/srapsfake"
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

// checkDevice may answer [false, "<MAC-ID>"]: the MAC echoed with a false
// flag. peoplefone's client reads it as "registered"; so do we, for Check
// and for the check before a re-registration.
func TestXMLRPCCheckMACEcho(t *testing.T) {
	fake := gigasetfake.Start(t, "u", "p-12345", gigasetfake.EchoOnCheck())
	c, _ := NewXMLRPC(vendors.Account{Username: "u", Password: "p-12345", BaseURL: fake.URL + gigasetfake.Path}, vendors.Options{})
	ctx := context.Background()
	if err := c.Register(ctx, macs[0], urls[0]); err != nil {
		t.Fatal(err)
	}
	res, err := c.Check(ctx, macs[0])
	if err != nil || !res.Registered || !res.OwnedByUs {
		t.Fatalf("check = %+v, %v; want registered to us", res, err)
	}
	if err := c.Register(ctx, macs[0], urls[1]); err != nil {
		t.Fatalf("re-register after an echo: %v", err)
	}
	if e, _ := fake.Registry.Get(macs[0]); e.URL != urls[1] {
		t.Fatalf("entry %+v", e)
	}
	if res, err := c.Check(ctx, macs[1]); err != nil || res.Registered {
		t.Fatalf("unknown MAC: %+v, %v", res, err)
	}
}

// A MAC we do not hold is registered without a deregister first, so the
// phone is never without a redirect.
func TestXMLRPCNewMACNoDeregister(t *testing.T) {
	fake := gigasetfake.Start(t, "u", "p-12345")
	c, _ := NewXMLRPC(vendors.Account{Username: "u", Password: "p-12345", BaseURL: fake.URL + gigasetfake.Path}, vendors.Options{})
	deregistered := false
	fake.Before("autoprov.deregisterDevice", func() { deregistered = true })
	if err := c.Register(context.Background(), macs[0], urls[0]); err != nil {
		t.Fatal(err)
	}
	if deregistered {
		t.Fatal("a new MAC was deregistered before registering")
	}
}

// Re-registering deregisters first; when the register then keeps failing,
// Register retries it, and then reports a temporary failure that names the
// gap (the service retries it until it holds). One failure is absorbed.
func TestXMLRPCRegistrationGap(t *testing.T) {
	for _, faults := range []int{1, 3} {
		t.Run(fmt.Sprint(faults, "_faults"), func(t *testing.T) {
			fake := gigasetfake.Start(t, "u", "p-12345")
			c, _ := NewXMLRPC(vendors.Account{Username: "u", Password: "p-12345", BaseURL: fake.URL + gigasetfake.Path}, vendors.Options{})
			ctx := context.Background()
			if err := c.Register(ctx, macs[0], urls[0]); err != nil {
				t.Fatal(err)
			}
			fake.Before("autoprov.deregisterDevice", func() {
				for range faults {
					fake.Inject(fakeserver.Fault{Status: 503})
				}
			})
			err := c.Register(ctx, macs[0], urls[1])
			if faults < len(gapRetries) {
				if err != nil {
					t.Fatalf("one failed register after the deregister was not retried: %v", err)
				}
				if e, _ := fake.Registry.Get(macs[0]); e.URL != urls[1] {
					t.Fatalf("entry %+v", e)
				}
				return
			}
			if vendors.ReasonOf(err) != vendors.ReasonTransient || vendors.CauseOf(err) != vendors.CauseRegistrationGap {
				t.Fatalf("err = %v, want a temporary registration-gap failure", err)
			}
			if !strings.Contains(err.Error(), "no redirect") || strings.Contains(err.Error(), "BBBBBBBB") {
				t.Fatalf("error text: %v", err)
			}
			if _, ok := fake.Registry.Get(macs[0]); ok {
				t.Fatal("the fake still holds the old registration")
			}
			// The service's retry: the MAC is no longer held, so it is
			// registered at once.
			if err := c.Register(ctx, macs[0], urls[1]); err != nil {
				t.Fatal(err)
			}
			if e, _ := fake.Registry.Get(macs[0]); e.URL != urls[1] {
				t.Fatalf("entry %+v", e)
			}
		})
	}
}

// Another provider's MAC is refused as such, and not deregistered.
func TestXMLRPCForeignNotTouched(t *testing.T) {
	fake := gigasetfake.Start(t, "u", "p-12345")
	c, _ := NewXMLRPC(vendors.Account{Username: "u", Password: "p-12345", BaseURL: fake.URL + gigasetfake.Path}, vendors.Options{})
	fake.Registry.SetForeign(macs[0], "https://other.example.net/x")
	fake.Before("autoprov.deregisterDevice", func() { t.Error("deregistered another provider's MAC") })
	if err := c.Register(context.Background(), macs[0], urls[0]); vendors.ReasonOf(err) != vendors.ReasonOwned {
		t.Fatalf("err = %v", err)
	}
}

// GRAPE resets warranty_exp_warning_period when it is sent null: a value set
// in the portal is written back as it is, never as null.
func TestGRAPEUpdateKeepsWarranty(t *testing.T) {
	const id, key = "grape-key-id", "grape-hawk-key-0123456789abcdef"
	fake := srapsfake.Start(t, srapsfake.Config{Prefix: "/api/v1", ID: id, Key: key,
		Setting: SettingProvisioningServer, ForbidNullWarranty: true})
	c, _ := NewGRAPE(vendors.Account{KeyID: id, KeySecret: key, BaseURL: fake.URL + "/api/v1/"}, vendors.Options{})
	ctx := context.Background()
	if err := c.Register(ctx, macs[0], urls[0]); err != nil {
		t.Fatal(err)
	}
	fake.EditInPortal(t, macs[0], map[string]any{"warranty_exp_warning_period": 6})
	if err := c.Register(ctx, macs[0], urls[1]); err != nil {
		t.Fatal(err)
	}
	if got := string(fake.Doc(macs[0])["warranty_exp_warning_period"]); got != "6" {
		t.Fatalf("warranty_exp_warning_period = %s, want 6", got)
	}
	fake.EditInPortal(t, macs[0], map[string]any{"warranty_exp_warning_period": nil})
	if err := c.Register(ctx, macs[0], urls[0]); err != nil {
		t.Fatalf("a null field read back was sent again: %v", err)
	}
}
