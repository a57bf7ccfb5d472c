package rpsclient

import (
	"testing"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// TestSecretReleaseChangesIgnored: refusals, approvals and bindings of a
// phone's secret release do not touch its RPS registration.
func TestSecretReleaseChangesIgnored(t *testing.T) {
	ph := &inventoryv1.Phone{Mac: "805ec0000001", Vendor: "yealink", Tenant: "tenants/default",
		Settings: &inventoryv1.ProvisioningSettings{SaveToRps: true}}
	for _, ct := range []inventoryv1.PhoneChangeType{
		inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_REFUSED,
		inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_APPROVED,
		inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_BOUND,
	} {
		if _, act := intentFor(&eventsv1.PhoneChanged{ChangeType: ct, Phone: ph}); act {
			t.Errorf("%v: rps-client would act on it", ct)
		}
	}
	if _, act := intentFor(&eventsv1.PhoneChanged{ChangeType: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_ASSIGNED, Phone: ph}); !act {
		t.Error("ASSIGNED with save_to_rps: no intent")
	}
}
