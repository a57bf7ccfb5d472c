package pnplistener

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/seen"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/sipmsg"
)

// checkSyncFirstTry bounds the check-sync NOTIFY to the phone's PnP
// address before trying port 5060: after boot a phone's SIP stack usually
// listens on 5060, not on the port it sent its PnP SUBSCRIBE from.
const checkSyncFirstTry = 4 * time.Second

// staleAfter drops a boot NOTIFY that waited this long for a worker: the
// phone has given up on this SUBSCRIBE (Panasonic and AudioCodes wait 5 s)
// and will send another, so under overload the work goes to fresh boots.
const staleAfter = 4 * time.Second

// unknownRetry is when a boot whose phone inventory did not know is looked
// up again (once).
const unknownRetry = 1500 * time.Millisecond

// unavailableRetries bounds the look-ups repeated for a boot while
// inventory answers Unavailable (1.5 + 3 + 6 s: inside a phone's wait).
const unavailableRetries = 3

// notifyWorkers run the inventory lookups and start the NOTIFY
// transactions. A fixed pool (rather than a goroutine per SUBSCRIBE) keeps
// grown stacks warm and bounds the load on inventory; the wait for each
// phone's answer runs in a small goroutine of its own, so an unresponsive
// phone never holds a worker.
const notifyWorkers = 64

// job is one NOTIFY to send.
type job struct {
	kind string
	// For profile NOTIFYs (kindBoot, kindLate).
	phone    seen.Phone
	start    time.Time
	skipSame bool
	// retried marks the second lookup of a boot whose phone inventory did
	// not know yet.
	retried bool
	// unavailable counts look-ups inventory answered Unavailable.
	unavailable int
	queued      time.Time
	// For kindCheckSync.
	checkSync sipmsg.CheckSync
	local     netip.Addr
	dest      netip.AddrPort
}

// enqueue hands a job to the workers without ever waiting.
func (s *Service) enqueue(j job) {
	j.queued = time.Now()
	select {
	case s.jobs <- j:
	default:
		s.m.notifies.WithLabelValues(j.kind, outOverload).Inc()
	}
}

func (s *Service) runWorkers(ctx context.Context) {
	for range notifyWorkers {
		s.wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-s.jobs:
					waited := time.Since(j.queued)
					s.m.queueWait.Observe(waited.Seconds())
					if j.kind == kindBoot && waited > staleAfter {
						s.m.notifies.WithLabelValues(j.kind, outStale).Inc()
						continue
					}
					if j.kind == kindCheckSync {
						s.checkSyncNotify(ctx, j)
					} else {
						s.profileNotify(ctx, j)
					}
				}
			}
		})
	}
}

// profileNotify looks up the phone's URL and NOTIFYs it in the dialog of
// its last SUBSCRIBE. skipSame skips the NOTIFY when this dialog already
// got this URL (a DISCOVERED event after a boot NOTIFY).
func (s *Service) profileNotify(ctx context.Context, j job) {
	p, kind := j.phone, j.kind
	lctx, cancel := context.WithTimeout(ctx, s.cfg.InventoryTimeout)
	t0 := time.Now()
	resp, err := s.deps.Inventory.GetProvisioningUrl(lctx, &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + p.MAC})
	s.m.lookupTime.Observe(time.Since(t0).Seconds())
	cancel()
	if err != nil {
		switch status.Code(err) {
		case codes.NotFound:
			s.m.lookups.WithLabelValues("not_found").Inc()
			if kind == kindBoot && !j.retried {
				// A new phone: inventory is most likely recording its
				// discovery right now. Ask once more shortly; the
				// PhoneChanged(DISCOVERED) event may bring it as well (then
				// the second NOTIFY is skipped as a duplicate).
				j.retried, j.skipSame = true, true
				time.AfterFunc(unknownRetry, func() {
					if ctx.Err() == nil {
						s.enqueue(j)
					}
				})
				return
			}
			s.m.notifies.WithLabelValues(kind, outUnknownPhone).Inc()
		case codes.DeadlineExceeded:
			s.m.lookups.WithLabelValues("timeout").Inc()
			if kind == kindBoot && !j.retried {
				// Inventory is overloaded (a boot storm): the phone got
				// its 200 OK and will not ask again, so try once more
				// shortly rather than leave it waiting for ever.
				j.retried = true
				time.AfterFunc(unknownRetry, func() {
					if ctx.Err() == nil {
						s.enqueue(j)
					}
				})
				return
			}
			s.m.notifies.WithLabelValues(kind, outInventoryError).Inc()
		default:
			s.m.lookups.WithLabelValues("error").Inc()
			if kind == kindBoot && status.Code(err) == codes.Unavailable && j.unavailable < unavailableRetries && ctx.Err() == nil {
				// Inventory is failing over (its Redis primary, a replica):
				// the phone got its 200 OK and will not ask again before
				// its own timeout, so ask again after 1.5, 3 and 6 s.
				d := unknownRetry << j.unavailable
				j.unavailable++
				time.AfterFunc(d, func() {
					if ctx.Err() == nil {
						s.enqueue(j)
					}
				})
				return
			}
			s.m.notifies.WithLabelValues(kind, outInventoryError).Inc()
			s.log.Warn("inventory lookup failed", "mac", p.MAC, "error", err)
		}
		return
	}
	s.m.lookups.WithLabelValues("ok").Inc()
	switch {
	case resp.GetUrl() == "":
		s.m.notifies.WithLabelValues(kind, outNoURL).Inc()
		return
	case resp.GetBootstrap() && s.cfg.UnknownPhones == UnknownNothing:
		s.m.notifies.WithLabelValues(kind, outBootstrapHeld).Inc()
		return
	}
	vendor := p.Vendor
	if vendor == "" {
		vendor = resp.GetPhone().GetVendor()
	}
	url, err := s.templates.VendorURL(vendor, resp.GetUrl())
	if err != nil {
		// Never log the URL: it carries the phone's token.
		s.m.notifies.WithLabelValues(kind, outBadURL).Inc()
		s.log.Warn("inventory returned an unusable provisioning URL", "mac", p.MAC)
		return
	}
	if j.skipSame && s.seen.Delivered(p.MAC, p.Dialog.CallID, url) {
		s.m.notifies.WithLabelValues(kind, outDuplicate).Inc()
		return
	}
	cseq := s.seen.NextCSeq(p.MAC, p.Dialog.CallID)
	if cseq == 0 {
		cseq = 1
	}
	if out := s.checkDest(p.Dest, p.MAC); out != "" {
		s.m.notifies.WithLabelValues(kind, out).Inc()
		return
	}
	req, err := sipmsg.ProfileNotify(p.Dialog, sipmsg.Local{Addr: p.Local, Port: s.replyPort}, p.Dest, cseq, url)
	if err != nil {
		s.m.notifies.WithLabelValues(kind, outBadURL).Inc()
		return
	}
	s.send(ctx, req, s.cfg.NotifyTimeout, s.priority(p.MAC, p.Dest, !resp.GetBootstrap()), func(outcome string) {
		if outcome == outOK {
			s.seen.MarkDelivered(p.MAC, p.Dialog.CallID, url)
			if !resp.GetBootstrap() {
				s.seen.MarkAssigned(p.MAC)
			}
		}
		s.m.notifies.WithLabelValues(kind, outcome).Inc()
	})
	if !j.start.IsZero() {
		s.m.notifyDelay.Observe(time.Since(j.start).Seconds())
	}
}

// checkSyncNotify sends the check-sync NOTIFY to the phone's PnP address,
// then, if that draws no answer, to port 5060 of the same host.
func (s *Service) checkSyncNotify(ctx context.Context, j job) {
	local := sipmsg.Local{Addr: j.local, Port: s.replyPort}
	req, err := sipmsg.CheckSyncNotify(j.checkSync, local, j.dest)
	if err != nil {
		s.m.notifies.WithLabelValues(kindCheckSync, outBadURL).Inc()
		return
	}
	// The other port tried below is on the same host: one check covers both.
	if out := s.checkDest(j.dest, j.phone.MAC); out != "" {
		s.m.notifies.WithLabelValues(kindCheckSync, out).Inc()
		return
	}
	first := s.cfg.NotifyTimeout
	if j.dest.Port() != 5060 {
		first = min(first, checkSyncFirstTry)
	}
	s.send(ctx, req, first, true, func(outcome string) {
		if (outcome != outTimeout && outcome != outSendError) || j.dest.Port() == 5060 {
			s.m.notifies.WithLabelValues(kindCheckSync, outcome).Inc()
			return
		}
		alt := netip.AddrPortFrom(j.dest.Addr(), 5060)
		c := j.checkSync
		c.Contact = fmt.Sprintf("sip:%s", alt)
		req, err := sipmsg.CheckSyncNotify(c, local, alt)
		if err != nil {
			s.m.notifies.WithLabelValues(kindCheckSync, outBadURL).Inc()
			return
		}
		s.send(ctx, req, s.cfg.NotifyTimeout, true, func(outcome string) {
			s.m.notifies.WithLabelValues(kindCheckSync, outcome).Inc()
		})
	})
}

// priority says whether a NOTIFY keeps its slot under overload: to a
// phone assigned in inventory, one marked assigned in the seen cache, or
// an address that has answered us before. The rest — unknown MACs,
// quite possibly forged — are shed first.
func (s *Service) priority(mac string, dest netip.AddrPort, assigned bool) bool {
	if assigned || s.seen.Assigned(mac) {
		return true
	}
	if l := s.sockets(); l != nil && l.Answered(dest.Addr()) {
		return true
	}
	return false
}

// shedLimit is the fill of a queue of size n from which low-priority
// NOTIFYs are shed.
func (s *Service) shedLimit(n int) int {
	return max(1, int(float64(n)*s.cfg.ShedAt))
}

// send starts a NOTIFY client transaction — sipgo retransmits it (Timer E,
// from T1 doubling to T2) until a final answer, Timer F or timeout — and
// reports its outcome to done from a goroutine of its own. At most
// MaxInflight transactions wait at once.
func (s *Service) send(ctx context.Context, req *sip.Request, timeout time.Duration, prio bool, done func(outcome string)) {
	if !prio && len(s.sem) >= s.shedLimit(cap(s.sem)) {
		done(outShed)
		return
	}
	select {
	case s.sem <- struct{}{}:
	default:
		done(outOverload)
		return
	}
	req.Laddr = s.replyAddr
	tx, err := s.ua.TransactionLayer().Request(ctx, req)
	if err != nil {
		<-s.sem
		s.log.Debug("NOTIFY not sent", "error", err, "to", req.Destination())
		done(outSendError)
		return
	}
	s.wg.Go(func() {
		outcome := await(ctx, tx, timeout)
		tx.Terminate()
		<-s.sem
		done(outcome)
	})
}

func await(ctx context.Context, tx sip.ClientTransaction, timeout time.Duration) string {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case res := <-tx.Responses():
			switch {
			case res.IsProvisional():
				continue
			case res.IsSuccess():
				return outOK
			default:
				return outRejected
			}
		case <-tx.Done():
			if errors.Is(tx.Err(), sip.ErrTransactionTimeout) {
				return outTimeout
			}
			return outSendError
		case <-t.C:
			return outTimeout
		case <-ctx.Done():
			return outCanceled
		}
	}
}
