package rpsclient

import (
	"reflect"
	"testing"

	dto "github.com/prometheus/client_model/go"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

func withAspects(ev *eventsv1.PhoneChanged, files bool, aspects ...inventoryv1.PhoneAspect) *eventsv1.PhoneChanged {
	ev.Aspects, ev.FilesChanged = aspects, files
	return ev
}

// TestUnneededAspectsSkipped: a PhoneChanged whose aspects are none of
// ASSIGNMENT, URL, IDENTITY and EXISTENCE (a fetch, a discovery, a
// settings, release or RPS status change) costs rps-client nothing: no
// GetProvisioningUrl call, no store write, no vendor request; it is counted
// as skipped. A URL change is acted on; an event without aspects (an
// older publisher) too.
func TestUnneededAspectsSkipped(t *testing.T) {
	e := newEnv(t)
	inventoryCalls := e.inv.Calls
	const (
		assignment = inventoryv1.PhoneAspect_PHONE_ASPECT_ASSIGNMENT
		url        = inventoryv1.PhoneAspect_PHONE_ASPECT_URL
		state      = inventoryv1.PhoneAspect_PHONE_ASPECT_STATE
		fetch      = inventoryv1.PhoneAspect_PHONE_ASPECT_FETCH
	)
	e.handle(marshal(t, withAspects(e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", changeAssigned), true, assignment, url, state)))
	reg := e.record(ykMAC)
	if reg.RegisteredURL != edge+tokenA+"/" {
		t.Fatalf("not registered: %+v", reg)
	}
	calls, reqs := inventoryCalls(), e.yk.Requests()
	provisioned := inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_PROVISIONED
	for _, ev := range []*eventsv1.PhoneChanged{
		withAspects(e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", provisioned), false, state, fetch),
		withAspects(e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", provisioned), false, fetch),
		withAspects(e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED), false, inventoryv1.PhoneAspect_PHONE_ASPECT_DISCOVERY),
		withAspects(e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", changeUpdated), true, inventoryv1.PhoneAspect_PHONE_ASPECT_SETTINGS, inventoryv1.PhoneAspect_PHONE_ASPECT_SECRETS),
		withAspects(e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", changeRPSStatus), false, inventoryv1.PhoneAspect_PHONE_ASPECT_RPS_STATUS),
	} {
		e.handle(marshal(t, ev))
	}
	if got := e.record(ykMAC); !reflect.DeepEqual(got, reg) {
		t.Fatalf("skipped events wrote the store:\n%+v\nwas\n%+v", got, reg)
	}
	if inventoryCalls() != calls || e.yk.Requests() != reqs {
		t.Fatalf("skipped events called inventory %d times, the vendor %d times", inventoryCalls()-calls, e.yk.Requests()-reqs)
	}
	skipped := 0.0
	for _, ct := range []string{"PHONE_CHANGE_TYPE_PROVISIONED", "PHONE_CHANGE_TYPE_DISCOVERED", "PHONE_CHANGE_TYPE_UPDATED", "PHONE_CHANGE_TYPE_RPS_STATUS"} {
		var m dto.Metric
		if err := e.svc.metrics.events.WithLabelValues(ct, "skipped").Write(&m); err != nil {
			t.Fatal(err)
		}
		skipped += m.GetCounter().GetValue()
	}
	if skipped != 5 {
		t.Fatalf("%v events counted as skipped, want 5", skipped)
	}

	// The token rotated: acted on.
	e.handle(marshal(t, withAspects(e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenB+"/", changeRotated), true, url)))
	if r := e.record(ykMAC); r.RegisteredURL != edge+tokenB+"/" || inventoryCalls() != calls+1 {
		t.Fatalf("URL change: %+v, %d inventory calls", r, inventoryCalls()-calls)
	}
	// An older publisher's event (no aspects): acted on.
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "", false, "", changeUnassigned)))
	if r := e.record(ykMAC); r.RegisteredURL != "" {
		t.Fatalf("an event without aspects was not acted on: %+v", r)
	}
}
