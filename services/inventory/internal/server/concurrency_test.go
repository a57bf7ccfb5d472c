package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
)

// TestConcurrentWritersLoseNothing: masked updates of different fields,
// discoveries and RPS results hit one phone at the same time; every one of
// them is in the final record.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	a := e.admin()
	t0 := time.Now().Add(-time.Hour)
	e.discover(mac1, t0)
	must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, Extension: "tenants/acme/extensions/100"}))
	updates := []*inventoryv1.UpdatePhoneRequest{
		{Phone: &inventoryv1.Phone{Name: mac1, Settings: &inventoryv1.ProvisioningSettings{Language: "fr"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.language"}}},
		{Phone: &inventoryv1.Phone{Name: mac1, Settings: &inventoryv1.ProvisioningSettings{TimeZone: "Europe/Paris"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.time_zone"}}},
		{Phone: &inventoryv1.Phone{Name: mac1, Settings: &inventoryv1.ProvisioningSettings{Transport: provisioningv1.Transport_TRANSPORT_TLS}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.transport"}}},
		{Phone: &inventoryv1.Phone{Name: mac1, Settings: &inventoryv1.ProvisioningSettings{Codecs: []provisioningv1.Codec{provisioningv1.Codec_CODEC_OPUS}}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.codecs"}}},
		{Phone: &inventoryv1.Phone{Name: mac1, Model: "T57W"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"model"}}},
		{Phone: &inventoryv1.Phone{Name: mac1, Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: "tenants/acme/extensions/100"}, {Index: 2, Extension: "tenants/acme/extensions/101"}}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"lines"}}},
	}
	var wg sync.WaitGroup
	for _, u := range updates {
		wg.Go(func() {
			if _, err := a.UpdatePhone(ctx(), u); err != nil {
				t.Error(err)
			}
		})
	}
	last := t0.Add(10 * time.Minute)
	for i := range 5 {
		wg.Go(func() {
			if err := e.srv.HandleDiscovered(context.Background(), &eventsv1.PhoneDiscovered{Mac: mac1, Firmware: "fw-new",
				ObservedTime: timestamppb.New(t0.Add(time.Duration(i+1) * 2 * time.Minute))}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Go(func() {
		if err := e.srv.HandleRpsResult(context.Background(), &eventsv1.RpsResult{Mac: mac1, State: rpsv1.RegistrationState_REGISTRATION_STATE_REGISTERED, Time: timestamppb.Now()}); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	p := must[*inventoryv1.GetPhoneResponse](t)(a.GetPhone(ctx(), &inventoryv1.GetPhoneRequest{Name: mac1})).GetPhone()
	ps := p.GetSettings()
	if ps.GetLanguage() != "fr" || ps.GetTimeZone() != "Europe/Paris" || ps.GetTransport() != provisioningv1.Transport_TRANSPORT_TLS ||
		len(ps.GetCodecs()) != 1 || p.GetModel() != "T57W" || len(p.GetLines()) != 2 || p.GetFirmware() != "fw-new" ||
		!p.GetLastSeenTime().AsTime().Equal(last) || p.GetRpsStatus().GetState() != rpsv1.RegistrationState_REGISTRATION_STATE_REGISTERED ||
		p.GetState() != inventoryv1.PhoneState_PHONE_STATE_ASSIGNED || p.GetTenant() != "tenants/acme" {
		t.Fatalf("lost an update: %v", p)
	}
}
