package rpsclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
)

// noRecordTTL bounds how long a deregister intent for a MAC we never
// registered is kept (only to order it against a concurrent older register).
const noRecordTTL = 24 * time.Hour

// errPoison marks a message that can never be handled (undecodable); it is
// acknowledged and dropped rather than redelivered forever.
var errPoison = errors.New("undecodable PhoneChanged")

// intentFor maps a PhoneChanged to an intent; ok is false for changes
// rps-client ignores (RPS_STATUS: our own results coming back).
func intentFor(ev *eventsv1.PhoneChanged) (store.Intent, bool) {
	p := ev.GetPhone()
	in := store.Intent{Vendor: p.GetVendor(), Tenant: p.GetTenant(), Revision: ev.GetRevision()}
	if in.Revision == 0 {
		in.Revision = p.GetRevision()
	}
	switch ev.GetChangeType() {
	case inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_RPS_STATUS,
		// Secret-release bookkeeping changes neither the phone's URL nor
		// whether it is in RPS.
		inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_REFUSED,
		inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_APPROVED,
		inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_BOUND:
		return in, false
	case inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DELETED:
		in.Op = store.OpDeregister
	default:
		if p.GetTenant() != "" && p.GetSettings().GetSaveToRps() {
			in.Op = store.OpRegister
		} else {
			in.Op = store.OpDeregister
		}
	}
	return in, true
}

// neededAspects are the aspects of a phone whose change rps-client acts on:
// what it registers at the vendor (the URL, hence the token and scheme),
// whether it registers it (assignment, save_to_rps), for which vendor
// (identity), and the phone's existence.
var neededAspects = []inventoryv1.PhoneAspect{
	inventoryv1.PhoneAspect_PHONE_ASPECT_ASSIGNMENT, inventoryv1.PhoneAspect_PHONE_ASPECT_URL,
	inventoryv1.PhoneAspect_PHONE_ASPECT_IDENTITY, inventoryv1.PhoneAspect_PHONE_ASPECT_EXISTENCE,
}

// needed reports whether a PhoneChanged with aspects concerns rps-client.
// No aspects (a publisher older than the field) means any may have changed.
func needed(aspects []inventoryv1.PhoneAspect) bool {
	if len(aspects) == 0 {
		return true
	}
	for _, a := range aspects {
		if slices.Contains(neededAspects, a) {
			return true
		}
	}
	return false
}

// HandlePhoneChanged handles one PhoneChanged message. It returns nil when
// the message may be acknowledged: the intent is in the store, and any work
// left is in its retry schedule. An error asks for redelivery.
func (s *Service) HandlePhoneChanged(ctx context.Context, data []byte) error {
	var ev eventsv1.PhoneChanged
	if err := proto.Unmarshal(data, &ev); err != nil {
		s.metrics.events.WithLabelValues("undecodable", "dropped").Inc()
		return fmt.Errorf("%w: %v", errPoison, err)
	}
	return s.handleChange(ctx, &ev)
}

// handleChange stores the event's intent and processes the MAC.
func (s *Service) handleChange(ctx context.Context, ev *eventsv1.PhoneChanged) error {
	ct := ev.GetChangeType().String()
	mac, err := macaddr.Parse(ev.GetPhone().GetMac())
	if err != nil {
		s.metrics.events.WithLabelValues(ct, "dropped").Inc()
		s.log.Error("dropping PhoneChanged without a valid MAC", "change_type", ct)
		return fmt.Errorf("%w: bad MAC", errPoison)
	}
	if !needed(ev.GetAspects()) {
		// A fetch, a discovery, a state or settings change: nothing
		// rps-client sends the vendor changed, so no store write, no MAC
		// lock and no GetProvisioningUrl call.
		s.metrics.events.WithLabelValues(ct, "skipped").Inc()
		return nil
	}
	in, ok := intentFor(ev)
	if !ok {
		s.metrics.events.WithLabelValues(ct, "ignored").Inc()
		return nil
	}
	res, err := s.store.SetIntent(ctx, mac, in, false, noRecordTTL)
	if err != nil {
		return err
	}
	switch res {
	case store.IntentStale:
		s.metrics.events.WithLabelValues(ct, "stale").Inc()
		return nil
	case store.IntentNoOp:
		s.metrics.events.WithLabelValues(ct, "noop").Inc()
		return nil
	}
	s.metrics.events.WithLabelValues(ct, string(in.Op)).Inc()
	if _, err := s.process(ctx, mac, byEvent); err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil // scheduled for when the other worker is done
		}
		// The intent is stored; make sure a retry picks the MAC up even if
		// the redelivery does not come (e.g. a store error while writing).
		_ = s.store.Schedule(ctx, mac, s.now().Add(s.cfg.RetryBase))
		return err
	}
	return nil
}
