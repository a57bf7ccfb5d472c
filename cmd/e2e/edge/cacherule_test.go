package edge_test

import (
	"context"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
)

// TestFetchKeepsCache: the cache rule against the real inventory. A phone's
// fetches change its state and fetch record, not its files: the
// PhoneChanged they cause keep its cached token look-up and files, so its
// second file is rendered without asking inventory again and a repeat is
// served from the cache. A change of its files (a setting) drops its
// entries and no other phone's; an event without aspects (an older
// publisher) drops them too.
func TestFetchKeepsCache(t *testing.T) {
	u := newUpstream(t)
	js := u.ns.JetStream()
	p := u.addPhone(t, "yealink", false, false)
	other := u.addPhone(t, "yealink", false, false)
	r := startService(t, u, provisionhttp.Deps{JetStream: js}, nil)
	changes := func(action string) float64 {
		return metrictest.Value(t, r.reg, "dialtone_provision_http_phone_changes_total", "action", action)
	}
	waitChanges := func(action string, n float64) {
		t.Helper()
		if testenv.Poll(10*time.Second, func() bool { return changes(action) >= n }) != nil {
			t.Fatalf("the edge saw %v PhoneChanged %s, want %v", changes(action), action, n)
		}
	}
	get := func(ph testPhone, file string) {
		t.Helper()
		if code, _, _ := r.get(t, r.httpURL, ph, file, nil); code != 200 {
			t.Fatalf("GET %s: %d", file, code)
		}
	}
	get(other, other.macFile)
	waitPhone(t, u, other.mac, func(ph *inventoryv1.Phone) bool {
		return ph.GetState() == inventoryv1.PhoneState_PHONE_STATE_PROVISIONED
	})
	waitChanges("kept", 1)

	// The common file makes the phone FETCHING: its event keeps the cache.
	get(p, p.commonFile)
	waitPhone(t, u, p.mac, func(ph *inventoryv1.Phone) bool { return ph.GetState() == inventoryv1.PhoneState_PHONE_STATE_FETCHING })
	waitChanges("kept", 2)
	before := u.calls()
	get(p, p.macFile)
	if after := u.calls(); after[0] != before[0] || after[2] != before[2]+1 {
		t.Fatalf("the account file after the common file: calls %v -> %v; want the token cached and one render", before, after)
	}
	waitPhone(t, u, p.mac, func(ph *inventoryv1.Phone) bool {
		return ph.GetState() == inventoryv1.PhoneState_PHONE_STATE_PROVISIONED
	})
	waitChanges("kept", 3)
	before = u.calls()
	get(p, p.commonFile)
	get(p, p.macFile)
	if after := u.calls(); after != before {
		t.Fatalf("fetches after provisioning called upstream: %v -> %v", before, after)
	}
	if n := changes("invalidated"); n != 0 {
		t.Fatalf("%v invalidations by fetches", n)
	}

	// A setting changes the files: this phone's entries go, the other's stay.
	u.change(t, p.mac)
	waitChanges("invalidated", 1)
	before = u.calls()
	get(other, other.macFile)
	if after := u.calls(); after != before {
		t.Fatalf("another phone's change dropped this phone's cache: %v -> %v", before, after)
	}
	get(p, p.macFile)
	if after := u.calls(); after[0] != before[0]+1 || after[2] != before[2]+1 {
		t.Fatalf("after its change: calls %v -> %v; want a look-up and a render", before, after)
	}

	// An older publisher's event (no aspects) of any type drops the phone's entries.
	get(p, p.macFile)
	before = u.calls()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	old := &eventsv1.PhoneChanged{ChangeType: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_PROVISIONED,
		Phone: &inventoryv1.Phone{Mac: p.mac}, Revision: 1 << 40}
	if err := natsjs.Publish(ctx, js, streams.Subject(streams.PhoneChangedPrefix, p.mac), old, "old-publisher"); err != nil {
		t.Fatal(err)
	}
	waitChanges("invalidated", 2)
	get(p, p.macFile)
	if after := u.calls(); after[0] != before[0]+1 {
		t.Fatalf("an event without aspects kept the cache: %v -> %v", before, after)
	}
}
