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

// unknownRetry is when a lookup that found no phone (a boot) or timed out
// is made once more, unless an event for the phone comes first.
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

// job is one unit of work for a worker: a round of a phone's flow (kind
// boot or late: look up, then NOTIFY), or a check-sync NOTIFY.
type job struct {
	kind string
	mac  string
	// round names the flow round this job runs; a job whose flow has
	// moved on (taken over by an event, replaced) is skipped.
	round  uint64
	queued time.Time
	// For kindCheckSync.
	checkSync sipmsg.CheckSync
	local     netip.Addr
	dest      netip.AddrPort
}

// admit hands a job to the workers without ever waiting: known phones
// (assigned, or answered a NOTIFY before) and inventory's events go to the
// known lane, which workers always drain first; unknown boots go to their
// own lane and are shed when it is full, so a flood of forged boots never
// takes a real phone's place. It returns the outcome to count when the
// job was refused, else "".
func (s *Service) admit(j job, known bool) string {
	j.queued = time.Now()
	if known {
		select {
		case s.known <- j:
			return ""
		default:
			return outOverload
		}
	}
	select {
	case s.unknown <- j:
		return ""
	default:
		return outShedQueue
	}
}

func (s *Service) runWorkers(ctx context.Context) {
	for range notifyWorkers {
		s.wg.Go(func() {
			for {
				var j job
				select {
				case j = <-s.known:
				default:
					select {
					case <-ctx.Done():
						return
					case j = <-s.known:
					case j = <-s.unknown:
					}
				}
				waited := time.Since(j.queued)
				s.m.queueWait.Observe(waited.Seconds())
				if j.kind == kindCheckSync {
					s.checkSyncNotify(ctx, j)
					continue
				}
				s.round(ctx, j, waited)
			}
		})
	}
}

// round runs one round of a phone's flow: the lookup, then the NOTIFY.
func (s *Service) round(ctx context.Context, j job, waited time.Duration) {
	r, ok := s.flows.start(j, waited)
	if !ok {
		return
	}
	if r.stale {
		s.m.notifies.WithLabelValues(r.kind, outStale).Inc()
		s.flows.finish(s, r.mac, r.round)
		return
	}
	p, kind := r.phone, r.kind
	lctx, cancel := context.WithTimeout(ctx, s.cfg.InventoryTimeout)
	t0 := time.Now()
	resp, err := s.deps.Inventory.GetProvisioningUrl(lctx, &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + p.MAC})
	s.m.lookupTime.Observe(time.Since(t0).Seconds())
	cancel()
	if err != nil {
		var out string
		switch status.Code(err) {
		case codes.NotFound:
			s.m.lookups.WithLabelValues("not_found").Inc()
			// A new phone: inventory is most likely recording its
			// discovery right now; its PhoneChanged event or the retry
			// brings it.
			if kind == kindBoot && s.flows.wait(s, r, false) {
				return
			}
			out = outUnknownPhone
		case codes.DeadlineExceeded:
			s.m.lookups.WithLabelValues("timeout").Inc()
			// Inventory is overloaded (a boot storm): the phone got its
			// 200 OK and will not ask again, so a boot is looked up again
			// as after Unavailable (1.5, 3 and 6 s): with one retry, a
			// phone whose two lookups met a busy moment waited out its
			// own timeout (issue 20: 53 of 10,000 in a storm on a loaded
			// machine, each holding the storm's end back by a minute).
			if s.flows.wait(s, r, kind == kindBoot) {
				return
			}
			out = outInventoryError
		default:
			s.m.lookups.WithLabelValues("error").Inc()
			if ctx.Err() != nil { // stopping
				out = outCanceled
				break
			}
			if kind == kindBoot && status.Code(err) == codes.Unavailable && s.flows.wait(s, r, true) {
				// Inventory is failing over (its Redis primary, a replica):
				// the phone got its 200 OK and will not ask again before
				// its own timeout, so ask again after 1.5, 3 and 6 s.
				return
			}
			s.log.Warn("inventory lookup failed", "mac", p.MAC, "error", err)
			out = outInventoryError
		}
		s.m.notifies.WithLabelValues(kind, out).Inc()
		s.flows.finish(s, r.mac, r.round)
		return
	}
	s.m.lookups.WithLabelValues("ok").Inc()
	if out := s.profileNotify(ctx, r, resp); out != "" {
		s.m.notifies.WithLabelValues(kind, out).Inc()
		s.flows.finish(s, r.mac, r.round)
	}
}

// profileNotify sends the NOTIFY carrying the URL inventory gave, in the
// dialog of the phone's last SUBSCRIBE, and ends the round when the phone
// answered or the transaction gave up. It returns the outcome when nothing
// was sent (the caller ends the round), else "".
func (s *Service) profileNotify(ctx context.Context, r roundInfo, resp *inventoryv1.GetProvisioningUrlResponse) string {
	p, kind := r.phone, r.kind
	switch {
	case resp.GetUrl() == "":
		return outNoURL
	case resp.GetBootstrap() && s.cfg.UnknownPhones == UnknownNothing:
		return outBootstrapHeld
	}
	vendor := p.Vendor
	if vendor == "" {
		vendor = resp.GetPhone().GetVendor()
	}
	url, err := s.templates.VendorURL(vendor, resp.GetUrl())
	if err != nil {
		// Never log the URL: it carries the phone's token.
		s.log.Warn("inventory returned an unusable provisioning URL", "mac", p.MAC)
		return outBadURL
	}
	if r.skipSame && s.seen.Delivered(p.MAC, p.Dialog.CallID, url) {
		return outDuplicate
	}
	cseq := s.seen.NextCSeq(p.MAC, p.Dialog.CallID)
	if cseq == 0 {
		cseq = 1
	}
	if out := s.checkDest(p.Dest, p.MAC); out != "" {
		return out
	}
	req, err := sipmsg.ProfileNotify(p.Dialog, sipmsg.Local{Addr: p.Local, Port: s.replyPort}, p.Dest, cseq, url)
	if err != nil {
		return outBadURL
	}
	// A new boot of the phone cancels nctx with errSuperseded (flow.go).
	nctx, cancel := context.WithCancelCause(ctx)
	s.flows.notifying(r.mac, r.round, p.Dialog.CallID, cancel)
	s.send(nctx, req, s.cfg.NotifyTimeout, s.priority(p.MAC, p.Dest, !resp.GetBootstrap()), func(outcome string) {
		cancel(nil)
		if outcome == outOK {
			s.seen.MarkDelivered(p.MAC, p.Dialog.CallID, url)
			if !resp.GetBootstrap() {
				s.seen.MarkAssigned(p.MAC)
			}
		}
		s.m.notifies.WithLabelValues(kind, outcome).Inc()
		s.flows.finish(s, r.mac, r.round)
	})
	if !r.start.IsZero() {
		s.m.notifyDelay.Observe(time.Since(r.start).Seconds())
	}
	return ""
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
	if out := s.checkDest(j.dest, j.mac); out != "" {
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
// phone assigned in inventory, one the seen cache knows (assigned, or it
// accepted a NOTIFY before), or an address that has answered us before. The rest — unknown MACs,
// quite possibly forged — are shed first.
func (s *Service) priority(mac string, dest netip.AddrPort, assigned bool) bool {
	if assigned || s.seen.Known(mac) {
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
		if errors.Is(context.Cause(ctx), errSuperseded) {
			done(outSuperseded)
			return
		}
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
			if errors.Is(context.Cause(ctx), errSuperseded) {
				// tx.Terminate (the caller) stops the retransmissions.
				return outSuperseded
			}
			return outCanceled
		}
	}
}
