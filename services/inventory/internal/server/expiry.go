package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// Discovered phones are created by anyone who can send a SUBSCRIBE to a
// pnp-listener, so without a bound a flood of forged MACs grows the store
// without end (issue 15: 230,000 phones, 219 MB, 3.2 GB peak). Discovered,
// never-assigned phones (state DISCOVERED, origin PnP) therefore expire
// after Config.DiscoveredTTL unseen, and at most Config.DiscoveredMax are
// kept per pool, the longest unseen removed first. A discovered phone
// carries no tenant until it is assigned, so its pool is the tenant whose
// pnp_listeners holds the listener that last saw it (Phone.listener); the
// phones of listeners no tenant claims share one pool. A flood through one
// tenant's listener thus evicts only that tenant's discovered phones.
// Phones that are assigned or were added by hand are never removed; a
// phone assigned while a sweep runs keeps its new revision and the sweep's
// delete of it fails its precondition instead.

// PoolUnclaimed is the pool (label of dialtone_inventory_discovered_phones)
// of the phones whose listener no tenant claims; a tenant's pool is its
// name, "tenants/{id}", which never equals it.
const PoolUnclaimed = "unclaimed"

// listenerPools maps each claimed pnp-listener id to its tenant's name.
// Tenants are few (one record each), so a sweep reads them all.
func (s *Server) listenerPools(ctx context.Context) (map[string]string, error) {
	pools := map[string]string{}
	q := store.ListQuery{Kind: store.KindTenant, Limit: 1000}
	for {
		recs, err := s.st.List(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		for _, rec := range recs {
			t, err := decodeTenant(rec)
			if err != nil {
				return nil, err
			}
			for _, l := range t.GetPnpListeners() {
				pools[l] = t.GetName()
			}
		}
		if len(recs) < q.Limit {
			return pools, nil
		}
		q.After = recs[len(recs)-1].ID
	}
}

// Reasons of dialtone_inventory_discovered_expired_total.
const (
	ExpiredTTL = "ttl"
	ExpiredCap = "cap"
)

// expiryBatch is how many phones one store batch deletes: few fsyncs on
// bbolt, bounded Lua scripts on Redis.
const expiryBatch = 256

// expiryCandidate is what a sweep keeps of a discovered phone: not the
// record, so that a sweep over a flood of forged phones holds ~100 bytes
// per phone rather than its whole value.
type expiryCandidate struct {
	mac, tenant, vendor, model string
	pool                       string // PoolUnclaimed or a tenant name
	seen                       time.Time
	rev                        int64
}

// seenTime is when the phone was last heard of: last seen, else first
// seen, else created.
func seenTime(p *inventoryv1.Phone) time.Time {
	for _, ts := range []*timestamppb.Timestamp{p.GetLastSeenTime(), p.GetFirstSeenTime(), p.GetCreateTime()} {
		if ts != nil && ts.IsValid() {
			return ts.AsTime()
		}
	}
	return time.Time{}
}

// ExpireDiscovered runs one sweep and returns how many phones it removed
// for each reason.
func (s *Server) ExpireDiscovered(ctx context.Context) (map[string]int, error) {
	ttl, maxPer := s.cfg.DiscoveredTTL, s.cfg.DiscoveredMax
	removed := map[string]int{}
	if ttl <= 0 && maxPer <= 0 {
		return removed, nil
	}
	now := s.now()
	pools, err := s.listenerPools(ctx)
	if err != nil {
		return removed, err
	}
	byPool := map[string][]expiryCandidate{}
	q := store.ListQuery{Kind: store.KindPhone, Terms: []string{"s=" + strconv.Itoa(int(stDiscovered))}, Limit: 1000}
	var expired []expiryCandidate
	for {
		recs, err := s.st.List(ctx, q)
		if err != nil {
			return removed, fmt.Errorf("list discovered phones: %w", err)
		}
		for _, rec := range recs {
			pr, err := decodePhone(rec)
			if err != nil {
				return removed, err
			}
			p := pr.p
			if p.GetState() != stDiscovered || p.GetOrigin() != inventoryv1.PhoneOrigin_PHONE_ORIGIN_PNP {
				continue
			}
			c := expiryCandidate{mac: rec.ID, tenant: p.GetTenant(), vendor: p.GetVendor(), model: p.GetModel(), seen: seenTime(p), rev: rec.Rev,
				pool: cmp.Or(pools[p.GetListener()], PoolUnclaimed)}
			if ttl > 0 && now.Sub(c.seen) > ttl {
				expired = append(expired, c)
				continue
			}
			byPool[c.pool] = append(byPool[c.pool], c)
		}
		if len(recs) < q.Limit {
			break
		}
		q.After = recs[len(recs)-1].ID
	}
	n, err := s.removeDiscovered(ctx, expired, ExpiredTTL, now)
	removed[ExpiredTTL] = n
	if err != nil {
		return removed, err
	}
	var over []expiryCandidate
	capped := map[string]int{}
	for pool, cs := range byPool {
		if maxPer <= 0 || len(cs) <= maxPer {
			continue
		}
		slices.SortFunc(cs, func(a, b expiryCandidate) int {
			return cmp.Or(a.seen.Compare(b.seen), cmp.Compare(a.mac, b.mac))
		})
		over = append(over, cs[:len(cs)-maxPer]...)
		capped[pool] = len(cs) - maxPer
	}
	n, err = s.removeDiscovered(ctx, over, ExpiredCap, now)
	removed[ExpiredCap] = n
	// What each pool holds now (a phone the cap could not remove, changed
	// meanwhile, is counted as gone; the next sweep counts it again).
	s.m.discovered.Reset()
	s.m.discovered.WithLabelValues(PoolUnclaimed).Set(0)
	for pool, cs := range byPool {
		s.m.discovered.WithLabelValues(pool).Set(float64(len(cs) - capped[pool]))
	}
	if err != nil {
		return removed, err
	}
	if removed[ExpiredTTL]+removed[ExpiredCap] > 0 {
		s.log.Info("discovered phones expired", "ttl", removed[ExpiredTTL], "cap", removed[ExpiredCap],
			"capped_pools", capped, "discovered_ttl", ttl, "discovered_max", maxPer)
	}
	return removed, nil
}

// removeDiscovered deletes the candidates, each at the revision it was
// read at, with a PhoneChanged DELETED event each, in batches. A batch
// that fails a precondition (a phone changed meanwhile, e.g. assigned) is
// retried phone by phone, skipping the changed ones.
func (s *Server) removeDiscovered(ctx context.Context, cs []expiryCandidate, reason string, now time.Time) (int, error) {
	removed := 0
	for len(cs) > 0 {
		n := min(len(cs), expiryBatch)
		batch := cs[:n]
		cs = cs[n:]
		err := s.deleteDiscovered(ctx, batch, now)
		if err == nil {
			removed += n
			s.m.expired.WithLabelValues(reason).Add(float64(n))
			continue
		}
		if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return removed, err
		}
		for _, c := range batch {
			err := s.deleteDiscovered(ctx, []expiryCandidate{c}, now)
			switch {
			case err == nil:
				removed++
				s.m.expired.WithLabelValues(reason).Inc()
			case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
				// Changed or deleted meanwhile: the next sweep looks again.
			default:
				return removed, err
			}
		}
	}
	if removed > 0 {
		s.m.changes.WithLabelValues(changeLabel(inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DELETED)).Add(float64(removed))
		s.kickRelay()
	}
	return removed, nil
}

// deleteDiscovered deletes cs in one batch. The events' phones carry what
// consumers of a deletion read (name, MAC, vendor, model, state, origin,
// tenant), not the whole record.
func (s *Server) deleteDiscovered(ctx context.Context, cs []expiryCandidate, now time.Time) error {
	_, err := s.st.Apply(ctx, func(rev int64) (store.Batch, error) {
		var b store.Batch
		for _, c := range cs {
			b.Ops = append(b.Ops, store.Op{Kind: store.KindPhone, ID: c.mac, Delete: true, Expect: c.rev})
			phone := &inventoryv1.Phone{
				Name: phoneName(c.mac), Mac: c.mac, Vendor: c.vendor, Model: c.model, Tenant: c.tenant,
				State: stDiscovered, Origin: inventoryv1.PhoneOrigin_PHONE_ORIGIN_PNP,
				Revision: rev, Etag: etagOf(rev),
			}
			// The record is not read whole: a PnP phone was seen (DISCOVERY)
			// and may hold a bootstrap token (URL).
			aspects := mergeAspects(phoneAspects(&phoneRec{p: phone}, nil), []inventoryv1.PhoneAspect{aspDiscovery, aspURL})
			data, err := proto.Marshal(&eventsv1.PhoneChanged{
				ChangeType:     inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DELETED,
				Phone:          phone,
				Revision:       rev,
				PreviousState:  stDiscovered,
				ChangeTime:     timestamppb.New(now),
				PreviousTenant: c.tenant,
				Aspects:        aspects,
				FilesChanged:   filesChanged(aspects),
			})
			if err != nil {
				return store.Batch{}, err
			}
			b.Outbox = append(b.Outbox, store.Message{
				Subject: streams.Subject(streams.PhoneChangedPrefix, c.mac),
				MsgID:   fmt.Sprintf("phone-%s-%d", c.mac, rev),
				Data:    data,
			})
		}
		return b, nil
	})
	return err
}

// RunExpiry sweeps at start and then every interval until ctx ends. A
// failed sweep is logged and retried at the next interval.
func (s *Server) RunExpiry(ctx context.Context, interval time.Duration) error {
	if s.cfg.DiscoveredTTL <= 0 && s.cfg.DiscoveredMax <= 0 {
		return nil
	}
	for {
		if _, err := s.ExpireDiscovered(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("expiring discovered phones failed; retrying at the next sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
