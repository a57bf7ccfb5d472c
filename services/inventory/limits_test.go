package inventory_test

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory"
)

// TestGRPCRecvLimits: every method has a cap, and the largest realistic
// write (a phone with 32 lines and every setting) stays far below it.
func TestGRPCRecvLimits(t *testing.T) {
	limits := inventory.GRPCRecvLimits()
	desc := inventoryv1.InventoryService_ServiceDesc
	if len(limits) != len(desc.Methods)+len(desc.Streams) {
		t.Fatalf("%d caps for %d methods", len(limits), len(desc.Methods)+len(desc.Streams))
	}
	p := &inventoryv1.Phone{Name: "phones/001565aabbcc", Mac: "001565aabbcc", Model: "T54W", Tenant: "tenants/acme",
		Settings: &inventoryv1.ProvisioningSettings{SipInterface: "tenants/acme/sipInterfaces/pbx", Language: "de", TimeZone: "Europe/Berlin", WebPassword: "a-long-web-password-0123456789"}}
	for i := range 32 {
		p.Lines = append(p.Lines, &inventoryv1.PhoneLine{Index: int32(i + 1), Extension: fmt.Sprintf("tenants/acme/extensions/%d", 1000+i)})
	}
	req := &inventoryv1.UpdatePhoneRequest{Phone: p}
	if n, limit := proto.Size(req), limits["/dialtone.inventory.v1.InventoryService/UpdatePhone"]; n*8 > limit {
		t.Errorf("UpdatePhone of a 32-line phone is %d bytes; cap %d leaves less than 8× room", n, limit)
	}
	if limits["/dialtone.inventory.v1.InventoryService/GetPhone"] != 4<<10 {
		t.Errorf("GetPhone cap %d", limits["/dialtone.inventory.v1.InventoryService/GetPhone"])
	}
}
