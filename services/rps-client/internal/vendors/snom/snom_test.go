package snom

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/snomfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/srapsfake"
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

// A stale-timestamp answer whose server time does not verify under our key
// is a clock problem, not bad credentials: a temporary failure naming the
// clock skew, and our clock is not moved by the unverifiable time.
func TestSRAPSStaleTimestampUnverifiable(t *testing.T) {
	fake := srapsfake.Start(t, srapsfake.Config{Prefix: "/api/v1", ID: hawkID, Key: hawkKey, Setting: SettingServer,
		ForgedTSM: true})
	var offset atomic.Int64
	offset.Store(int64(-10 * time.Minute))
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	c, err := NewSRAPS(vendors.Account{KeyID: hawkID, KeySecret: hawkKey, BaseURL: fake.URL + "/api/v1/"}, vendors.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		err = c.Register(ctx, macs[0], urls[0])
		if vendors.ReasonOf(err) != vendors.ReasonTransient || vendors.CauseOf(err) != vendors.CauseClockSkew {
			t.Fatalf("attempt %d: err = %v (reason %v), want a transient clock-skew failure", i, err, vendors.ReasonOf(err))
		}
		if !strings.Contains(err.Error(), "clock") {
			t.Fatalf("error text does not name the clock: %v", err)
		}
	}
	// Once the host's clock is right, the same client works: the forged
	// server time was never applied.
	offset.Store(0)
	if err := c.Register(ctx, macs[0], urls[0]); err != nil {
		t.Fatalf("after fixing the clock: %v", err)
	}
}

// A verified server time that still leaves us stale (the clock jumped
// again) is the same temporary clock-skew failure, not bad credentials.
func TestSRAPSStillStaleAfterAdjusting(t *testing.T) {
	fake := srapsfake.Start(t, srapsfake.Config{Prefix: "/api/v1", ID: hawkID, Key: hawkKey, Setting: SettingServer})
	var calls atomic.Int64
	// Every reading of our clock drifts a further 10 minutes back.
	clock := func() time.Time { return time.Now().Add(-time.Duration(calls.Add(1)) * 10 * time.Minute) }
	c, _ := NewSRAPS(vendors.Account{KeyID: hawkID, KeySecret: hawkKey, BaseURL: fake.URL + "/api/v1/"}, vendors.Options{Now: clock})
	err := c.Register(context.Background(), macs[0], urls[0])
	if vendors.ReasonOf(err) != vendors.ReasonTransient || vendors.CauseOf(err) != vendors.CauseClockSkew {
		t.Fatalf("err = %v, want a transient clock-skew failure", err)
	}
}

// SRAPS' PUT replaces the whole endpoint. Fields set in the vendor's portal
// (a description, another setting, a profile) survive our re-registration,
// because we read the endpoint and write back what we do not own.
func TestSRAPSUpdateKeepsPortalFields(t *testing.T) {
	fake := srapsfake.Start(t, srapsfake.Config{Prefix: "/api/v1", ID: hawkID, Key: hawkKey, Setting: SettingServer})
	c, _ := NewSRAPS(vendors.Account{KeyID: hawkID, KeySecret: hawkKey, BaseURL: fake.URL + "/api/v1/"}, vendors.Options{})
	ctx := context.Background()
	if err := c.Register(ctx, macs[0], urls[0]); err != nil {
		t.Fatal(err)
	}
	fake.EditInPortal(t, macs[0], map[string]any{
		"description":          "Reception desk",
		"provisioning_profile": "profile-7",
		"settings_manager":     map[string]any{"uuid-07": map[string]any{"value": "de", "attrs": map[string]string{"perm": "RW"}}},
	})
	if err := c.Register(ctx, macs[0], urls[1]); err != nil {
		t.Fatal(err)
	}
	doc := fake.Doc(macs[0])
	for k, want := range map[string]string{"description": `"Reception desk"`, "provisioning_profile": `"profile-7"`} {
		if string(doc[k]) != want {
			t.Errorf("%s = %s after our update, want %s", k, doc[k], want)
		}
	}
	var sm map[string]struct{ Value string }
	if err := json.Unmarshal(doc["settings_manager"], &sm); err != nil {
		t.Fatal(err)
	}
	if sm["uuid-07"].Value != "de" || sm[fake.SettingUUID()].Value != urls[1] {
		t.Fatalf("settings_manager after our update: %+v", sm)
	}
}
