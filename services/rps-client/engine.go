package rpsclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dialtone-voip/dialtone/platform/backoff"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/credentials"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
)

// trigger says why a MAC is processed.
type trigger int

const (
	byEvent     trigger = iota // a PhoneChanged event
	byScheduler                // a due retry or a re-check after a credentials change
	byOperator                 // RegisterDevice / DeregisterDevice: always act
)

const (
	stPending      = rpsv1.RegistrationState_REGISTRATION_STATE_PENDING
	stRegistered   = rpsv1.RegistrationState_REGISTRATION_STATE_REGISTERED
	stDeregistered = rpsv1.RegistrationState_REGISTRATION_STATE_DEREGISTERED
	stRetrying     = rpsv1.RegistrationState_REGISTRATION_STATE_RETRYING
	stFailed       = rpsv1.RegistrationState_REGISTRATION_STATE_FAILED
)

// deregisterTarget marks an attempt series that removes a registration.
const deregisterTarget = "-"

// process brings mac's vendor registration in line with its intent. It
// holds the MAC's lock while it works; a MAC locked by another worker is
// scheduled for a moment later and store.ErrLocked returned.
func (s *Service) process(ctx context.Context, mac string, why trigger) (*store.Record, error) {
	unlock, err := s.store.Lock(ctx, mac, s.cfg.LockTTL)
	if errors.Is(err, store.ErrLocked) {
		if err := s.store.Schedule(ctx, mac, s.now().Add(time.Second)); err != nil {
			return nil, err
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Finish well inside the lock's lifetime, so no other worker can take
	// the MAC while this one still calls the vendor.
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LockTTL*9/10)
	defer cancel()

	in, err := s.store.Intent(ctx, mac)
	if err != nil {
		return nil, err
	}
	rec, err := s.store.Record(ctx, mac)
	if err != nil {
		return nil, err
	}
	if in == nil {
		return rec, s.store.Unschedule(ctx, mac)
	}
	if in.Op == store.OpRegister {
		return s.register(ctx, mac, in, rec, why)
	}
	return s.deregister(ctx, mac, in, rec, why)
}

// target is where a register intent points right now.
type target struct {
	url, vendor, tenant string
	revision            int64
	deregister          bool // inventory says the phone should not be registered after all
}

// lookupTarget asks inventory for the phone's current URL (manual intents
// carry their own). A missing phone, an empty or bootstrap URL, or a
// phone no longer saved to RPS turn the register into a deregister.
func (s *Service) lookupTarget(ctx context.Context, mac string, in *store.Intent) (target, error) {
	t := target{url: in.URL, vendor: in.Vendor, tenant: in.Tenant, revision: in.Revision}
	if in.Manual {
		return t, nil
	}
	if s.inventory == nil {
		return t, errors.New("no inventory client")
	}
	resp, err := s.inventory.GetProvisioningUrl(ctx, &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + mac})
	if status.Code(err) == codes.NotFound {
		t.deregister = true
		return t, nil
	}
	if err != nil {
		// Only the code: inventory's message is not ours to repeat.
		return t, fmt.Errorf("inventory GetProvisioningUrl: %s", status.Code(err))
	}
	if p := resp.GetPhone(); p != nil {
		if p.GetRevision() >= t.revision {
			t.revision = p.GetRevision()
			t.vendor, t.tenant = p.GetVendor(), p.GetTenant()
			if p.GetTenant() == "" || !p.GetSettings().GetSaveToRps() {
				t.deregister = true
			}
		}
	}
	t.url = resp.GetUrl()
	if t.url == "" || resp.GetBootstrap() {
		t.deregister = true
	}
	return t, nil
}

func (s *Service) register(ctx context.Context, mac string, in *store.Intent, rec *store.Record, why trigger) (*store.Record, error) {
	t, err := s.lookupTarget(ctx, mac, in)
	if rec == nil {
		rec = &store.Record{MAC: mac, Vendor: in.Vendor, Tenant: in.Tenant, State: stPending}
	}
	if err != nil {
		// Inventory unreachable: the vendor state is unchanged; try later.
		rec.IntentRevision = max(rec.IntentRevision, in.Revision)
		return s.retryLater(ctx, rec, in.Revision, err.Error(), 0)
	}
	if t.deregister {
		return s.deregister(ctx, mac, &store.Intent{Op: store.OpDeregister, Vendor: t.vendor, Tenant: t.tenant,
			Revision: max(t.revision, in.Revision)}, rec, why)
	}
	now := s.now()
	acct, fp, ok := s.creds.Lookup(t.tenant, t.vendor)
	acctKey := ""
	if ok {
		acctKey = credentials.NormalizeTenant(acct.Tenant) + "/" + acct.Vendor
	}

	// Already done: same URL at the same vendor account (a redelivery or an
	// unrelated change of the phone). No vendor call.
	if why != byOperator && rec.State == stRegistered && rec.RegisteredURL == t.url &&
		rec.Vendor == t.vendor && rec.HeldAccount == acctKey && acctKey != "" {
		return s.settle(ctx, rec, t.revision)
	}
	// A permanent failure is not retried until the phone (a change we act
	// on, or its URL) or the account changes.
	if why != byOperator && rec.State == stFailed && rec.FailedURL == t.url && rec.Vendor == t.vendor &&
		rec.IntentRevision >= in.Revision && rec.CredFP == fp {
		return s.settle(ctx, rec, t.revision)
	}
	// A retry is already scheduled for this very change: let it come.
	if why == byEvent && rec.State == stRetrying && rec.Target == t.url && rec.IntentRevision >= in.Revision &&
		now.Before(rec.NextAttempt) {
		return rec, nil
	}

	if rec.Target != t.url {
		rec.Attempts = 0
	}
	rec.Target, rec.Vendor, rec.Tenant, rec.PhoneRevision = t.url, t.vendor, t.tenant, t.revision
	rec.IntentRevision = max(rec.IntentRevision, in.Revision)
	if why, known := unsupported[t.vendor]; known || defaultAPI[t.vendor] == "" {
		msg := why
		if msg == "" {
			msg = fmt.Sprintf("no redirect service for vendor %q", t.vendor)
		}
		return s.fail(ctx, rec, vendors.ReasonUnsupported, msg, t.url, "")
	}
	if !ok {
		return s.fail(ctx, rec, vendors.ReasonNoAccount, "no "+t.vendor+" account for "+tenantLabel(t.tenant), t.url, "")
	}
	client, a, err := s.client(acct, fp)
	if err != nil {
		return s.fail(ctx, rec, vendors.ReasonBadCreds, "account unusable: "+err.Error(), t.url, fp)
	}
	if deferred, err := s.waitForSlot(ctx, rec, acctKey); deferred || err != nil {
		return rec, err
	}
	// Moving to another vendor or account: remove the old registration first.
	if rec.Held && (rec.HeldVendor != t.vendor || rec.HeldAccount != acctKey) {
		if err := s.dropHeld(ctx, rec); err != nil {
			return s.attemptFailed(ctx, rec, "deregister", err, t.url, fp)
		}
	}
	rec.Held, rec.HeldVendor, rec.HeldAccount = true, t.vendor, acctKey
	rec.Attempts++
	rec.LastAttempt = now
	// Persist Held before calling out, so a crash mid-call still deregisters later.
	if err := s.store.PutRecord(ctx, rec); err != nil {
		return nil, err
	}
	err = client.Register(ctx, mac, t.url)
	s.metrics.attempts.WithLabelValues(t.vendor, a, "register", resultLabel(err)).Inc()
	s.metrics.countCause(a, err)
	if err != nil {
		return s.attemptFailed(ctx, rec, "register", err, t.url, fp)
	}
	s.log.Info("registered at vendor", "mac", mac, "vendor", t.vendor, "api", a, "revision", t.revision, "attempts", rec.Attempts)
	rec.State, rec.Reason, rec.LastError = stRegistered, 0, ""
	rec.RegisteredURL, rec.FailedURL, rec.CredFP = t.url, "", fp
	if ol, ok := client.(vendors.ObjectLister); ok {
		rec.AddObjects(ol.Objects(t.url)...)
	}
	rec.NextAttempt = time.Time{}
	return s.commit(ctx, rec, false)
}

func (s *Service) deregister(ctx context.Context, mac string, in *store.Intent, rec *store.Record, why trigger) (*store.Record, error) {
	if rec == nil {
		// We never touched this MAC: nothing to remove, nothing to record.
		return nil, s.store.Unschedule(ctx, mac)
	}
	if in.Revision > rec.PhoneRevision {
		rec.PhoneRevision = in.Revision
	}
	rec.IntentRevision = max(rec.IntentRevision, in.Revision)
	if !rec.Held {
		if rec.State == stDeregistered && why != byOperator {
			return s.settle(ctx, rec, rec.PhoneRevision)
		}
		rec.State, rec.Reason, rec.LastError, rec.RegisteredURL = stDeregistered, 0, "", ""
		rec.NextAttempt, rec.Target, rec.Deregistered = time.Time{}, deregisterTarget, s.now()
		return s.commit(ctx, rec, false)
	}
	if why == byEvent && rec.State == stRetrying && rec.Target == deregisterTarget && s.now().Before(rec.NextAttempt) {
		return rec, nil
	}
	if rec.Target != deregisterTarget {
		rec.Attempts = 0
	}
	rec.Target = deregisterTarget
	if deferred, err := s.waitForSlot(ctx, rec, rec.HeldAccount); deferred || err != nil {
		return rec, err
	}
	rec.Attempts++
	rec.LastAttempt = s.now()
	if err := s.dropHeld(ctx, rec); err != nil {
		_, fp, _ := s.lookupHeld(rec)
		return s.attemptFailed(ctx, rec, "deregister", err, deregisterTarget, fp)
	}
	s.log.Info("deregistered at vendor", "mac", mac, "vendor", rec.Vendor, "revision", rec.PhoneRevision)
	rec.State, rec.Reason, rec.LastError, rec.RegisteredURL, rec.NextAttempt = stDeregistered, 0, "", "", time.Time{}
	rec.Deregistered = s.now()
	return s.commit(ctx, rec, false)
}

// waitForSlot applies the client-side rate limit to the attempt rec is
// about to make with account (callLimiter). It returns false when the
// attempt may call now: no limit, the slot rec reserved earlier has come,
// or the account has room. Otherwise rec is stored with its slot (state
// and attempts unchanged: nothing was tried, nothing is published) and the
// MAC scheduled for it, and it returns true.
func (s *Service) waitForSlot(ctx context.Context, rec *store.Record, account string) (bool, error) {
	if s.limit == nil {
		return false, nil
	}
	now := s.now()
	slot := rec.Slot
	if slot.IsZero() {
		slot = s.limit.reserve(account, now)
	}
	if !slot.After(now) {
		rec.Slot = time.Time{}
		return false, nil
	}
	// A later change before the slot (a redelivery, another URL) keeps the
	// slot it already holds rather than taking another.
	rec.Slot, rec.NextAttempt = slot, slot
	s.metrics.deferred.WithLabelValues(rec.Vendor).Inc()
	if err := s.store.PutRecord(ctx, rec); err != nil {
		return true, err
	}
	return true, s.store.Schedule(ctx, rec.MAC, slot)
}

// lookupHeld finds the account a held registration was made with
// (HeldAccount is "tenant/vendor").
func (s *Service) lookupHeld(rec *store.Record) (vendors.Account, string, bool) {
	tenant, vendor := rec.Tenant, rec.HeldVendor
	if i := strings.LastIndexByte(rec.HeldAccount, '/'); i > 0 {
		tenant, vendor = rec.HeldAccount[:i], rec.HeldAccount[i+1:]
	}
	return s.creds.Lookup(tenant, vendor)
}

// dropHeld deregisters the registration rec holds and clears Held.
func (s *Service) dropHeld(ctx context.Context, rec *store.Record) error {
	acct, fp, ok := s.lookupHeld(rec)
	if !ok {
		return &vendors.Error{API: rec.HeldVendor, Op: "deregister", Reason: vendors.ReasonNoAccount,
			Msg: "no " + rec.HeldVendor + " account to remove the registration with"}
	}
	client, a, err := s.client(acct, fp)
	if err != nil {
		return &vendors.Error{API: rec.HeldVendor, Op: "deregister", Reason: vendors.ReasonBadCreds, Msg: "account unusable: " + err.Error()}
	}
	err = client.Deregister(ctx, rec.MAC)
	s.metrics.attempts.WithLabelValues(rec.HeldVendor, a, "deregister", resultLabel(err)).Inc()
	s.metrics.countCause(a, err)
	if err != nil {
		return err
	}
	rec.Held, rec.HeldVendor, rec.HeldAccount, rec.RegisteredURL = false, "", "", ""
	return nil
}

// attemptFailed records a vendor failure: transient ones are scheduled
// with backoff, permanent ones recorded and left alone.
func (s *Service) attemptFailed(ctx context.Context, rec *store.Record, op string, err error, url, fp string) (*store.Record, error) {
	reason := vendors.ReasonOf(err)
	s.log.Warn("vendor "+op+" failed", "mac", rec.MAC, "vendor", rec.Vendor, "reason", reason.String(),
		"attempts", rec.Attempts, "error", err.Error())
	if reason == vendors.ReasonTransient {
		return s.retryLater(ctx, rec, rec.PhoneRevision, err.Error(), vendors.RetryAfterOf(err))
	}
	if reason == vendors.ReasonOwned || reason == vendors.ReasonInvalidMAC {
		// The vendor says the MAC is not (and cannot be) ours.
		if op == "register" {
			rec.Held, rec.HeldVendor, rec.HeldAccount = false, "", ""
		}
	}
	return s.fail(ctx, rec, reason, err.Error(), url, fp)
}

func (s *Service) fail(ctx context.Context, rec *store.Record, reason rpsv1.FailureReason, msg, url, fp string) (*store.Record, error) {
	rec.State, rec.Reason, rec.LastError = stFailed, reason, msg
	rec.FailedURL, rec.CredFP, rec.NextAttempt = url, fp, time.Time{}
	if rec.LastAttempt.IsZero() {
		rec.LastAttempt = s.now()
	}
	return s.commit(ctx, rec, false)
}

// retryLater schedules the next attempt: exponential backoff with equal
// jitter, never sooner than the vendor's Retry-After.
func (s *Service) retryLater(ctx context.Context, rec *store.Record, revision int64, msg string, retryAfter time.Duration) (*store.Record, error) {
	if revision > rec.PhoneRevision {
		rec.PhoneRevision = revision
	}
	d := s.backoff(rec.Attempts, retryAfter)
	rec.State, rec.Reason, rec.LastError = stRetrying, vendors.ReasonTransient, msg
	rec.NextAttempt = s.now().Add(d)
	if rec.LastAttempt.IsZero() {
		rec.LastAttempt = s.now()
	}
	return s.commit(ctx, rec, true)
}

func (s *Service) backoff(attempts int32, retryAfter time.Duration) time.Duration {
	d := backoff.Policy{Base: s.cfg.RetryBase, Max: s.cfg.RetryMax}.Delay(int(attempts))
	if retryAfter > d {
		d = retryAfter
	}
	return d
}

// settle records a newer phone revision without a vendor call and makes
// sure the current state was published. A newer revision alone is not
// published again: inventory already shows this state, and every RpsResult
// costs it a phone change.
func (s *Service) settle(ctx context.Context, rec *store.Record, revision int64) (*store.Record, error) {
	if !rec.Published {
		if revision > rec.PhoneRevision {
			rec.PhoneRevision = revision
		}
		return s.commit(ctx, rec, rec.State == stRetrying)
	}
	if revision > rec.PhoneRevision {
		rec.PhoneRevision = revision
		if err := s.store.PutRecord(ctx, rec); err != nil {
			return nil, err
		}
	}
	return rec, s.store.Unschedule(ctx, rec.MAC)
}

// commit stores rec, publishes its RpsResult and fixes the schedule. When
// publishing fails the MAC is scheduled again so the result goes out later.
func (s *Service) commit(ctx context.Context, rec *store.Record, retry bool) (*store.Record, error) {
	rec.Published = false
	if err := s.store.PutRecord(ctx, rec); err != nil {
		return nil, err
	}
	if err := s.publishResult(ctx, rec); err != nil {
		s.metrics.published.WithLabelValues("error").Inc()
		s.log.Warn("publishing RpsResult failed; will retry", "mac", rec.MAC, "error", err.Error())
		at := s.now().Add(s.cfg.RetryBase)
		if retry && rec.NextAttempt.Before(at) {
			at = rec.NextAttempt
		}
		return rec, s.store.Schedule(ctx, rec.MAC, at)
	}
	s.metrics.published.WithLabelValues("ok").Inc()
	rec.Published = true
	if err := s.store.PutRecord(ctx, rec); err != nil {
		return nil, err
	}
	if retry {
		return rec, s.store.Schedule(ctx, rec.MAC, rec.NextAttempt)
	}
	return rec, s.store.Unschedule(ctx, rec.MAC)
}

// publishResult sends RpsResult with the id events.proto prescribes:
// "rps-{mac}-{phone_revision}-{state}-{attempts}".
func (s *Service) publishResult(ctx context.Context, rec *store.Record) error {
	if s.publish == nil {
		return nil
	}
	msg := ""
	if rec.State == stFailed || rec.State == stRetrying {
		msg = rec.LastError
	}
	ev := &eventsv1.RpsResult{
		Mac: rec.MAC, Vendor: rec.Vendor, State: rec.State, FailureReason: rec.Reason,
		Message: vendors.Scrub(msg, rec.Target, rec.RegisteredURL), PhoneRevision: rec.PhoneRevision,
		Attempts: rec.Attempts, Time: timestamppb.New(s.now()),
	}
	id := fmt.Sprintf("rps-%s-%d-%s-%d", rec.MAC, rec.PhoneRevision, rec.State, rec.Attempts)
	return s.publish(ctx, streams.Subject(streams.RpsResultPrefix, rec.MAC), id, ev)
}

func resultLabel(err error) string {
	if err == nil {
		return "ok"
	}
	return vendors.ReasonOf(err).String()
}

func tenantLabel(t string) string {
	if t == "" {
		return "the default tenant"
	}
	return t
}
