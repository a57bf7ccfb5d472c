package server

import (
	"context"
	"errors"
	"net"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/vocab"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// Consumer names (durable, per CONVENTIONS).
const (
	ConsumerDiscovery = "inventory-discovery"
	ConsumerFetches   = "inventory-fetches"
	ConsumerRps       = "inventory-rps"
)

// Event handlers return nil when the message should be acknowledged
// (applied, already applied, or unusable) and an error when it should be
// redelivered (the store was unavailable).

func (s *Server) count(consumer, result string) {
	s.m.events.WithLabelValues(consumer, result).Inc()
}

// redeliver reports whether err is worth a redelivery.
func redeliver(err error) bool {
	return err != nil && (errors.Is(err, store.ErrUnavailable) || status.Code(err) == codes.Unavailable ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, store.ErrConflict))
}

func (s *Server) finish(consumer string, ch change, err error) error {
	switch {
	case err == nil && ch.typ == inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UNSPECIFIED:
		s.count(consumer, "unchanged")
		return nil
	case err == nil:
		s.count(consumer, "changed")
		return nil
	case redeliver(err):
		s.count(consumer, "retry")
		return err
	}
	s.count(consumer, "dropped")
	s.log.Warn("event dropped", "consumer", consumer, "err", err)
	return nil
}

func tsOr(t *timestamppb.Timestamp, now time.Time) time.Time {
	if t == nil || !t.IsValid() {
		return now
	}
	return t.AsTime()
}

// HandleDiscovered applies a PhoneDiscovered event: it creates the phone
// (DISCOVERED, origin PNP) or refreshes what the LAN says about it. It never
// changes an existing phone's state or tenant, and a redelivered or older
// event changes nothing.
func (s *Server) HandleDiscovered(ctx context.Context, ev *eventsv1.PhoneDiscovered) error {
	mac, err := macaddr.Parse(ev.GetMac())
	if err != nil {
		s.count(ConsumerDiscovery, "dropped")
		s.log.Warn("discovery with an invalid MAC dropped", "listener", clean(ev.GetListener()))
		return nil
	}
	now := s.now()
	seen := tsOr(ev.GetObservedTime(), now)
	vendor := clean(ev.GetVendor())
	if !vocab.IsVendor(vendor) {
		vendor = vendorByOUI(mac)
	}
	model, fw := truncate(clean(ev.GetModel()), maxModel), truncate(clean(ev.GetFirmware()), maxFirmware)
	link := linkProofOf(ev, mac, seen)
	apply := func(p *inventoryv1.Phone) {
		p.LastSeenAddress, p.LastContact = clean(ev.GetSourceAddress()), clean(ev.GetContact())
		p.Listener, p.UserAgent = clean(ev.GetListener()), clean(ev.GetUserAgent())
		p.LastSeenTime = timestamppb.New(seen)
		// The proof is replaced only when it says something new, so a
		// phone repeating its SUBSCRIBE still coalesces (seenCoalesce).
		if old := p.GetLastLinkProof(); link != nil && (old.GetLinkAddress() != link.GetLinkAddress() ||
			old.GetVerified() != link.GetVerified() || old.GetSourceAddress() != link.GetSourceAddress() || old.GetListener() != link.GetListener()) {
			p.LastLinkProof = link
		}
	}

	err = retry(ctx, func() error {
		_, err := s.st.Get(ctx, store.KindPhone, mac)
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		p := &inventoryv1.Phone{
			Mac: mac, Vendor: vendor, Model: model, Firmware: fw, State: stDiscovered,
			Origin: inventoryv1.PhoneOrigin_PHONE_ORIGIN_PNP, FirstSeenTime: timestamppb.New(seen),
			CreateTime: timestamppb.New(now), UpdateTime: timestamppb.New(now),
		}
		s.resolveDiscovered(ctx, p)
		apply(p)
		pr := &phoneRec{p: p, discoverySeen: seen.UnixNano()}
		if s.cfg.Bootstrap {
			pr.token, pr.bootstrapToken = newToken(), true
		}
		err = s.commitPhone(ctx, pr, store.ExpectAbsent, change{typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED, config: true,
			log: func(rev int64) {
				s.log.Info("phone discovered", "mac", mac, "vendor", p.GetVendor(), "model", p.GetModel(), "listener", p.GetListener(), "revision", rev)
				if w := p.GetModelWarning(); w != "" {
					s.log.Warn("discovered phone's model", "mac", mac, "vendor", p.GetVendor(), "model", p.GetModel(),
						"model_status", p.GetModelStatus().String(), "family", p.GetModelFamily(), "warning", w)
				}
			}})
		if errors.Is(err, store.ErrExists) {
			return store.ErrConflict // created concurrently: retry as an update
		}
		if err == nil {
			err = errCreated
		}
		return err
	})
	if errors.Is(err, errCreated) {
		return s.finish(ConsumerDiscovery, change{typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED}, nil)
	}
	if err != nil {
		return s.finish(ConsumerDiscovery, change{}, err)
	}

	_, ch, err := s.mutatePhone(ctx, mac, func(pr *phoneRec) (change, error) {
		p := pr.p
		if last := pr.lastDiscovery(); !last.IsZero() && !seen.After(last) {
			return change{}, nil // redelivered or out of order
		}
		lastSeen := p.GetLastSeenTime().AsTime()
		before := proto.Clone(p).(*inventoryv1.Phone)
		apply(p)
		if lastSeen.After(seen) {
			p.LastSeenTime = before.GetLastSeenTime() // a later fetch saw it last
		}
		pr.discoverySeen = seen.UnixNano()
		if p.GetFirstSeenTime() == nil {
			p.FirstSeenTime = timestamppb.New(seen)
		}
		config := false
		// Firmware is recorded but is no configuration change: no template
		// renders it, and counting it would make a fetch that raced the
		// phone's own discovery (a boot storm of pre-assigned phones) look
		// stale, so the phone would never be marked provisioned.
		if fw != "" && fw != p.GetFirmware() {
			p.Firmware = fw
		}
		if p.GetVendor() == "" && vendor != "" {
			p.Vendor, config = vendor, true
		}
		if p.GetModel() == "" && model != "" {
			p.Model, config = model, true
		}
		if config && p.GetModel() != "" {
			s.resolveDiscovered(ctx, p)
		}
		if pr.token == "" && s.cfg.Bootstrap && p.GetState() == stDiscovered {
			pr.token, pr.bootstrapToken, config = newToken(), true, true
		}
		// This boot's SUBSCRIBE, applied after the fetch that bound the
		// token: the binding becomes the identity it would have been.
		rebound := adoptLateProof(p)
		before.LastSeenTime = p.GetLastSeenTime()
		if !config && proto.Equal(before, p) && seen.Sub(lastSeen) < seenCoalesce {
			// A phone repeating its SUBSCRIBE: nothing new but the time.
			// Recording it at most every seenCoalesce keeps a chatty phone
			// from turning into a stream of changes and events.
			return change{}, nil
		}
		// A phone recorded before its model was checked (config-renderer was
		// down, or the record predates the check) is checked when it is next
		// recorded; a changed spelling changes its configuration.
		if !config && p.GetModel() != "" && s.models != nil && p.GetModelStatus() == rendererv1.ModelStatus_MODEL_STATUS_UNSPECIFIED {
			m := p.GetModel()
			s.resolveDiscovered(ctx, p)
			config = p.GetModel() != m
		}
		ch := change{typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED, config: config, prevState: p.GetState()}
		if rebound {
			ch.log = func(rev int64) {
				s.log.Info("secret release bound to the boot's link proof, which arrived after the fetch", "mac", mac,
					"identity", p.GetSecretRelease().GetId(), "revision", rev)
			}
		}
		return ch, nil
	})
	return s.finish(ConsumerDiscovery, ch, err)
}

var errCreated = errors.New("created")

// resolveDiscovered settles a discovered phone's vendor, model and family
// (checkModel, not strict: a model nobody knows is recorded with status
// UNKNOWN and a warning). A phone that names no model keeps what it said.
func (s *Server) resolveDiscovered(ctx context.Context, p *inventoryv1.Phone) {
	if p.GetModel() == "" {
		return
	}
	q := proto.Clone(p).(*inventoryv1.Phone)
	if err := s.checkModel(ctx, q, false); err != nil {
		return // no vendor at all: recorded as the phone said
	}
	p.Vendor, p.Model, p.ModelStatus, p.ModelFamily, p.ModelWarning = q.GetVendor(), q.GetModel(), q.GetModelStatus(), q.GetModelFamily(), q.GetModelWarning()
}

// seenCoalesce: a re-discovery that changes nothing but the time is
// recorded only when the last record is at least this old.
const seenCoalesce = 30 * time.Second

// HandleConfigFetched applies a ConfigFetched event: a non-bootstrap fetch
// of an assigned phone's current configuration is recorded as its last
// fetch. The file with the phone's account makes it PROVISIONED; any other
// file (a vendor's common file) makes an ASSIGNED phone FETCHING, since a
// phone that stops there has no account. The fetch also counts as the phone
// being seen, and the firmware its User-Agent names is recorded: phones not
// found by SIP PnP (Poly, Cisco, any phone added by MAC) are seen only here.
// A fetch never changes the phone's files (its event has aspects FETCH and
// maybe STATE, files_changed false), and one that repeats a recent fetch
// (repeatFetch) without moving the state or firmware writes nothing.
func (s *Server) HandleConfigFetched(ctx context.Context, ev *eventsv1.ConfigFetched) error {
	mac, err := macaddr.Parse(ev.GetMac())
	if err != nil || ev.GetBootstrap() {
		s.count(ConsumerFetches, "dropped")
		return nil
	}
	at := tsOr(ev.GetFetchTime(), s.now())
	// A publisher older than account_file leaves it unset: every fetch then
	// counted, as it did before.
	account := ev.AccountFile == nil || ev.GetAccountFile()
	fw := truncate(clean(ev.GetFirmware()), maxFirmware)
	_, ch, err := s.mutatePhone(ctx, mac, func(pr *phoneRec) (change, error) {
		p := pr.p
		if p.GetState() == stDiscovered || ev.GetRevision() < pr.configRev {
			return change{}, nil // unassigned, or a rendering older than the last change
		}
		if lf := p.GetLastFetch(); lf != nil && !at.After(lf.GetTime().AsTime()) {
			return change{}, nil // redelivered or out of order
		}
		prev := p.GetState()
		f := &inventoryv1.ConfigFetch{
			Time: timestamppb.New(at), FileName: clean(ev.GetFileName()),
			SourceAddress: clean(ev.GetSourceAddress()), UserAgent: clean(ev.GetUserAgent()),
			Proof: ev.GetProof(), Etag: truncate(clean(ev.GetEtag()), maxFetchEtag), Revision: ev.GetRevision(),
		}
		if ev.GetProof() == inventoryv1.FetchProof_FETCH_PROOF_TOKEN_CERTIFICATE && isSHA256Hex(ev.GetCertificateSha256()) {
			f.CertificateSha256 = ev.GetCertificateSha256()
		}
		next := prev
		switch {
		case account && (prev == stAssigned || prev == stFetching):
			next = stProvisioned
		case !account && prev == stAssigned:
			next = stFetching
		}
		if next == prev && (fw == "" || fw == p.GetFirmware()) && repeatFetch(p.GetRecentFetches(), f) {
			// The same file again, as the phone fetched it lately: like a
			// repeated SUBSCRIBE (seenCoalesce), nothing but the time is
			// new, so nothing is written and no event is sent.
			return change{}, nil
		}
		p.LastFetch = f
		p.RecentFetches = pushFetch(p.GetRecentFetches(), p.LastFetch)
		if last := p.GetLastSeenTime(); last == nil || at.After(last.AsTime()) {
			p.LastSeenTime = timestamppb.New(at)
		}
		if fw != "" {
			p.Firmware = fw
		}
		p.State = next
		if next == stProvisioned && prev != stProvisioned {
			p.ProvisionedTime = timestamppb.New(at)
		}
		// Always type PROVISIONED: no consumer reacts to it with a NOTIFY,
		// so a fetch can never trigger another fetch.
		return change{typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_PROVISIONED, prevState: prev,
			log: func(rev int64) {
				switch {
				case p.GetState() == stProvisioned && prev != stProvisioned:
					s.log.Info("phone provisioned", "mac", mac, "file", p.LastFetch.GetFileName(), "source", p.LastFetch.GetSourceAddress(),
						"proof", p.LastFetch.GetProof().String(), "revision", rev)
				case p.GetState() == stFetching && prev != stFetching:
					s.log.Info("phone fetching its files", "mac", mac, "file", p.LastFetch.GetFileName(), "source", p.LastFetch.GetSourceAddress(), "revision", rev)
				}
			}}, nil
	})
	if status.Code(err) == codes.NotFound {
		s.count(ConsumerFetches, "dropped")
		return nil
	}
	return s.finish(ConsumerFetches, ch, err)
}

// repeatFetch reports whether f repeats a fetch in recent (newest first)
// recorded less than seenCoalesce before it: the same file, revision,
// ETag, proof, certificate, User-Agent and source host (a new connection's
// port is no news).
func repeatFetch(recent []*inventoryv1.ConfigFetch, f *inventoryv1.ConfigFetch) bool {
	at := f.GetTime().AsTime()
	for _, r := range recent {
		if at.Sub(r.GetTime().AsTime()) >= seenCoalesce {
			return false
		}
		if r.GetFileName() == f.GetFileName() && r.GetRevision() == f.GetRevision() && r.GetEtag() == f.GetEtag() &&
			r.GetProof() == f.GetProof() && r.GetCertificateSha256() == f.GetCertificateSha256() &&
			r.GetUserAgent() == f.GetUserAgent() && sourceHost(r.GetSourceAddress()) == sourceHost(f.GetSourceAddress()) {
			return true
		}
	}
	return false
}

// sourceHost is the host of a "host:port" source address (the address
// itself when it has no port).
func sourceHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// maxRecentFetches bounds Phone.recent_fetches: enough for a boot or two of
// any vendor (a phone fetches a handful of files per boot), small enough that
// a phone that reboots forever keeps a record of constant size.
const maxRecentFetches = 20

// maxFetchEtag bounds the recorded ETag: it comes from an event, and the
// record must not grow with whatever a publisher put there.
const maxFetchEtag = 128

// pushFetch returns list with f in front, cut to maxRecentFetches. f is
// cloned so that the list and last_fetch never share a message.
func pushFetch(list []*inventoryv1.ConfigFetch, f *inventoryv1.ConfigFetch) []*inventoryv1.ConfigFetch {
	n := min(len(list)+1, maxRecentFetches)
	out := make([]*inventoryv1.ConfigFetch, 0, n)
	out = append(out, proto.Clone(f).(*inventoryv1.ConfigFetch))
	return append(out, list[:n-1]...)
}

// HandleRpsResult records rps-client's latest result on the phone.
func (s *Server) HandleRpsResult(ctx context.Context, ev *eventsv1.RpsResult) error {
	mac, err := macaddr.Parse(ev.GetMac())
	if err != nil {
		s.count(ConsumerRps, "dropped")
		return nil
	}
	at := tsOr(ev.GetTime(), s.now())
	_, ch, err := s.mutatePhone(ctx, mac, func(pr *phoneRec) (change, error) {
		p := pr.p
		if rs := p.GetRpsStatus(); rs != nil && !at.After(rs.GetUpdateTime().AsTime()) {
			return change{}, nil
		}
		p.RpsStatus = &inventoryv1.PhoneRpsStatus{
			State: ev.GetState(), FailureReason: ev.GetFailureReason(),
			Message: clean(ev.GetMessage()), UpdateTime: timestamppb.New(at),
		}
		return change{typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_RPS_STATUS, prevState: p.GetState(),
			log: func(rev int64) {
				lvl := s.log.Info
				if ev.GetState() == rpsv1.RegistrationState_REGISTRATION_STATE_FAILED {
					lvl = s.log.Warn
				}
				lvl("RPS status", "mac", mac, "state", ev.GetState().String(), "reason", ev.GetFailureReason().String(), "revision", rev)
			}}, nil
	})
	if status.Code(err) == codes.NotFound {
		s.count(ConsumerRps, "dropped")
		return nil
	}
	return s.finish(ConsumerRps, ch, err)
}

// touchReferrers marks every phone that references ref (an extension, an
// interface, a tenant) as changed: its profile depends on ref, which just
// changed. A provisioned phone returns to ASSIGNED. Each phone is its own
// batch; it returns the last failure (the fan-out job then stays for
// RunFanouts to finish).
func (s *Server) touchReferrers(ctx context.Context, ref, why string) error {
	macs, err := s.referringPhones(ctx, ref)
	if err != nil {
		s.log.Error("cannot list phones to mark changed", "ref", ref, "err", err)
		return err
	}
	var failed error
	for _, mac := range macs {
		_, _, err := s.mutatePhone(ctx, mac, func(pr *phoneRec) (change, error) {
			prev := pr.p.GetState()
			if prev == stProvisioned || prev == stFetching {
				pr.p.State = stAssigned
			}
			return change{typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UPDATED, config: true, prevState: prev,
				aspects: fanoutAspects(ref, why)}, nil
		})
		if err != nil && status.Code(err) != codes.NotFound {
			s.log.Error("cannot mark phone changed", "mac", mac, "why", why, "err", err)
			failed = err
		}
	}
	return failed
}

// referringPhones lists the phones whose profile depends on ref: the
// referrers of an extension or interface, every phone of a tenant.
func (s *Server) referringPhones(ctx context.Context, ref string) ([]string, error) {
	k, id, _ := store.ParseRef(ref)
	var macs []string
	if k == store.KindTenant {
		after := ""
		for {
			recs, err := s.st.List(ctx, store.ListQuery{Kind: store.KindPhone, Terms: []string{"t=" + id}, After: after, Limit: 500})
			if err != nil {
				return nil, err
			}
			for _, r := range recs {
				macs = append(macs, r.ID)
			}
			if len(recs) < 500 {
				return macs, nil
			}
			after = recs[len(recs)-1].ID
		}
	}
	refs, err := s.st.Referrers(ctx, ref)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		if rk, mac, _ := store.ParseRef(r); rk == store.KindPhone {
			macs = append(macs, mac)
		}
	}
	return macs, nil
}
