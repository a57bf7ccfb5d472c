package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// TestLogsAndEventsHoldNoSecrets runs a full assign/provision cycle with
// debug logging and then searches the captured logs, and every event the
// service committed for publication, for the SIP password, the web
// password and every provisioning token.
func TestLogsAndEventsHoldNoSecrets(t *testing.T) {
	e := newEnv(t)
	const sipPW, webPW, newSipPW = "S1p-Secret-Value-7731", "W3b-Secret-Value-9912", "S1p-Rotated-Secret-1234"
	a := e.admin()
	must[*inventoryv1.CreateTenantResponse](t)(a.CreateTenant(ctx(), &inventoryv1.CreateTenantRequest{TenantId: "acme",
		Tenant: &inventoryv1.Tenant{DefaultSettings: &inventoryv1.ProvisioningSettings{WebPassword: webPW}}}))
	must[*inventoryv1.CreateSipInterfaceResponse](t)(a.CreateSipInterface(ctx(), &inventoryv1.CreateSipInterfaceRequest{
		Parent: "tenants/acme", SipInterfaceId: "pbx", SipInterface: &inventoryv1.SipInterface{Host: "pbx.example.com", UdpPort: 5060}}))
	e.discover(mac1, time.Now())
	var tokens []string
	u := must[*inventoryv1.GetProvisioningUrlResponse](t)(a.GetProvisioningUrl(ctx(), &inventoryv1.GetProvisioningUrlRequest{Name: mac1}))
	tokens = append(tokens, tokenFromURL(t, u.GetUrl()))
	as := must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{
		Name: mac1, Tenant: "tenants/acme",
		CreateExtension: &inventoryv1.Extension{Number: "100", SipPassword: sipPW},
		Settings:        &inventoryv1.ProvisioningSettings{WebPassword: webPW, Language: "en"},
	}))
	tokens = append(tokens, tokenFromURL(t, as.GetProvisioningUrl()))
	prof := must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: tokens[1]}))
	if prof.GetProfile().GetLines()[0].GetPassword() != sipPW {
		t.Fatal("profile lacks the SIP password")
	}
	if err := e.srv.HandleConfigFetched(context.Background(), &eventsv1.ConfigFetched{Mac: mac1, FileName: "y000000000000.cfg",
		Revision: prof.GetProfile().GetRevision(), FetchTime: timestamppb.Now()}); err != nil {
		t.Fatal(err)
	}
	must[*inventoryv1.UpdateExtensionResponse](t)(a.UpdateExtension(ctx(), &inventoryv1.UpdateExtensionRequest{
		Extension: &inventoryv1.Extension{Name: "tenants/acme/extensions/100", SipPassword: newSipPW}}))
	rot := must[*inventoryv1.RotateProvisioningTokenResponse](t)(a.RotateProvisioningToken(ctx(), &inventoryv1.RotateProvisioningTokenRequest{Name: mac1, GracePeriod: durationpb.New(time.Minute)}))
	tokens = append(tokens, tokenFromURL(t, rot.GetProvisioningUrl()))
	// Failures too: a wrong token, an invalid password.
	_, _ = e.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: tokens[0]})
	_, _ = a.CreateExtension(ctx(), &inventoryv1.CreateExtensionRequest{Parent: "tenants/acme", Extension: &inventoryv1.Extension{Number: "101", SipPassword: sipPW + "\n"}})
	must[*inventoryv1.UnassignPhoneResponse](t)(a.UnassignPhone(ctx(), &inventoryv1.UnassignPhoneRequest{Name: mac1}))

	logs := e.logs.String()
	if !strings.Contains(logs, "phone assigned") || !strings.Contains(logs, "phone provisioned") {
		t.Fatalf("the cycle did not log as expected:\n%s", logs)
	}
	outbox, err := e.st.Outbox(context.Background(), 1000)
	if err != nil || len(outbox) < 5 {
		t.Fatalf("outbox: %d events, %v", len(outbox), err)
	}
	secrets := append([]string{sipPW, newSipPW, webPW}, tokens...)
	for i, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("secret %d appears in the logs", i)
		}
		for _, ev := range outbox {
			if strings.Contains(string(ev.Data), s) {
				t.Errorf("secret %d appears in event %s", i, ev.MsgID)
			}
		}
	}
}
