package pnplistener

import (
	"context"
	"net/netip"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/proto/vocab"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/outbox"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/sipmsg"
)

func (s *Service) publish(ctx context.Context, m outbox.Msg) error {
	return natsjs.Publish(ctx, s.deps.JetStream, m.Subject, m.Msg, m.ID)
}

// Durable consumer names.
func (s *Service) changesDurable() string     { return "pnp-listener-" + s.cfg.Listener }
func (s *Service) reprovisionDurable() string { return "pnp-listener-reprovision-" + s.cfg.Listener }

// consume ensures the streams, then runs the two consumers; natsjs.Consume
// rides out NATS outages by itself.
func (s *Service) consume(ctx context.Context) {
	if natsjs.EnsureStreamsRetry(ctx, s.deps.JetStream, s.log, natsjs.SuiteStreams()...) != nil {
		return // ctx ended
	}
	run := func(durable, subject string, h natsjs.Handler) {
		s.wg.Go(func() {
			cfg := jetstream.ConsumerConfig{Durable: durable, FilterSubject: subject, DeliverPolicy: jetstream.DeliverNewPolicy}
			if err := natsjs.Consume(ctx, s.deps.JetStream, streams.Phones, cfg, h, s.log); err != nil {
				s.log.Error("event consumer failed", "consumer", durable, "error", err)
			}
		})
	}
	run(s.changesDurable(), streams.PhoneChangedAll, func(ctx context.Context, msg jetstream.Msg) error {
		var ev eventsv1.PhoneChanged
		if err := natsjs.Decode(msg, &ev); err != nil {
			return natsjs.Permanent(err)
		}
		return s.onPhoneChanged(ctx, &ev)
	})
	run(s.reprovisionDurable(), streams.ReprovisionRequestedAll, func(ctx context.Context, msg jetstream.Msg) error {
		var ev eventsv1.ReprovisionRequested
		if err := natsjs.Decode(msg, &ev); err != nil {
			return natsjs.Permanent(err)
		}
		return s.onReprovision(ctx, &ev)
	})
}

// onPhoneChanged sends the late NOTIFY to a phone we saw when it gets a
// URL. It never fails: the NOTIFY is best effort and runs on its own, so
// the consumer acks at once.
func (s *Service) onPhoneChanged(ctx context.Context, ev *eventsv1.PhoneChanged) error {
	const typ = "phone_changed"
	if !urlAspects(ev.GetAspects()) {
		s.m.events.WithLabelValues(typ, "ignored_aspects").Inc()
		return nil
	}
	skipSame, discovery := false, false
	switch ev.GetChangeType() {
	case inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_ASSIGNED,
		inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UPDATED,
		inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_TOKEN_ROTATED:
	case inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED:
		if s.cfg.UnknownPhones != UnknownBootstrap {
			s.m.events.WithLabelValues(typ, "ignored").Inc()
			return nil
		}
		// A discovery of a phone that already got its URL at boot
		// changes nothing for it.
		skipSame, discovery = true, true
	default:
		s.m.events.WithLabelValues(typ, "ignored").Inc()
		return nil
	}
	mac, err := macaddr.Parse(ev.GetPhone().GetMac())
	if err != nil {
		s.m.events.WithLabelValues(typ, "invalid").Inc()
		return nil
	}
	p, ok := s.seen.Get(mac, time.Now())
	if !ok {
		s.m.events.WithLabelValues(typ, "not_seen").Inc()
		return nil
	}
	s.m.events.WithLabelValues(typ, s.changedFlow(p, skipSame, !discovery || s.seen.Known(mac))).Inc()
	return nil
}

// urlAspects reports whether a change may give the phone another URL or
// make it known: the listener acts only on ASSIGNMENT, URL and EXISTENCE.
// An empty list comes from a publisher older than the field: act.
func urlAspects(aspects []inventoryv1.PhoneAspect) bool {
	if len(aspects) == 0 {
		return true
	}
	for _, a := range aspects {
		switch a {
		case inventoryv1.PhoneAspect_PHONE_ASPECT_ASSIGNMENT, inventoryv1.PhoneAspect_PHONE_ASPECT_URL,
			inventoryv1.PhoneAspect_PHONE_ASPECT_EXISTENCE:
			return true
		}
	}
	return false
}

// onReprovision sends a check-sync NOTIFY in the vendor's dialect to a
// phone on this listener's LAN.
func (s *Service) onReprovision(ctx context.Context, ev *eventsv1.ReprovisionRequested) error {
	const typ = "reprovision"
	if l := ev.GetListener(); l != "" && l != s.cfg.Listener {
		s.m.events.WithLabelValues(typ, "other_listener").Inc()
		return nil
	}
	mac, err := macaddr.Parse(ev.GetMac())
	if err != nil {
		s.m.events.WithLabelValues(typ, "invalid").Inc()
		return nil
	}
	cs := sipmsg.CheckSync{Vendor: ev.GetVendor(), Reboot: ev.GetReboot(), Contact: ev.GetLastContact()}
	var dst netip.AddrPort
	var local netip.Addr
	if p, ok := s.seen.Get(mac, time.Now()); ok {
		dst, local = p.Dest, p.Local
		cs.Contact = p.Dialog.Contact
		if cs.Vendor == "" {
			cs.Vendor = p.Vendor
		}
	} else {
		ap, err := netip.ParseAddrPort(ev.GetLastSeenAddress())
		if err != nil {
			s.m.events.WithLabelValues(typ, "no_address").Inc()
			return nil
		}
		dst = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		arr, ok := s.sock.Route(dst.Addr())
		if !ok {
			// Not on any of our LANs: some other listener's phone.
			s.m.events.WithLabelValues(typ, "not_local").Inc()
			return nil
		}
		local = arr.Local
	}
	if cs.Vendor == vocab.Gigaset {
		// Gigaset honours check-sync only when it names one of its accounts.
		cs.User = ev.GetLine1User()
	}
	s.m.events.WithLabelValues(typ, "notify").Inc()
	if out := s.admit(job{kind: kindCheckSync, checkSync: cs, local: local, dest: dst, mac: mac}, true); out != "" {
		s.m.notifies.WithLabelValues(kindCheckSync, out).Inc()
	}
	return nil
}
