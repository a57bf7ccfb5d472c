package server

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	changes   *prometheus.CounterVec // phone changes by type
	events    *prometheus.CounterVec // consumed events by consumer and result
	published prometheus.Counter
	pubErrors prometheus.Counter
	profiles  *prometheus.CounterVec // profile lookups by result
	releases  *prometheus.CounterVec // AuthorizeSecretRelease decisions (allowed, refused)
	expired   *prometheus.CounterVec // discovered phones removed, by reason
	// discovered phones per pool (tenant or unclaimed) after the last sweep
	discovered *prometheus.GaugeVec

	// The profiles counters, resolved once (the lookup is the hot path).
	profileOK, profileGrace, profileBootstrap, profileNotFound prometheus.Counter

	// The profile cache: answers served from it and not, change-log reads
	// (rounds; lookups per round = (hits+misses)/rounds), and how often it
	// was dropped whole.
	cacheHits, cacheMisses, cacheRounds, cacheFlushes prometheus.Counter
}

func (m *metrics) profileResult(result string) prometheus.Counter {
	switch result {
	case "grace":
		return m.profileGrace
	case "bootstrap":
		return m.profileBootstrap
	}
	return m.profileOK
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_inventory_phone_changes_total", Help: "Committed phone changes, by change type.",
		}, []string{"type"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_inventory_events_consumed_total", Help: "Consumed events, by consumer and result (changed, unchanged, dropped, retry).",
		}, []string{"consumer", "result"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dialtone_inventory_outbox_published_total", Help: "Outbox events published to JetStream.",
		}),
		pubErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dialtone_inventory_outbox_publish_errors_total", Help: "Failed outbox publish attempts (retried).",
		}),
		profiles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_inventory_profile_lookups_total", Help: "GetProvisioningProfile calls, by result (ok, grace, bootstrap, not_found).",
		}, []string{"result"}),
		releases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_inventory_secret_releases_total", Help: "AuthorizeSecretRelease decisions, by result (allowed, refused).",
		}, []string{"result"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dialtone_inventory_profile_cache_hits_total", Help: "Profile lookups answered from the profile cache.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dialtone_inventory_profile_cache_misses_total", Help: "Profile lookups with a well-formed token that read the store.",
		}),
		cacheRounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dialtone_inventory_profile_cache_sync_rounds_total", Help: "Change-log reads by the profile cache (each is shared by the lookups waiting for it).",
		}),
		cacheFlushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dialtone_inventory_profile_cache_flushes_total", Help: "Times the profile cache dropped every entry (the change log did not continue its cursor).",
		}),
	}
	m.expired = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dialtone_inventory_discovered_expired_total", Help: "Discovered, never-assigned phones removed, by reason: ttl (unseen for --discovered-ttl) or cap (over --discovered-max, longest unseen first).",
	}, []string{"reason"})
	m.expired.WithLabelValues(ExpiredTTL)
	m.expired.WithLabelValues(ExpiredCap)
	m.discovered = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dialtone_inventory_discovered_phones", Help: "Discovered, never-assigned PnP phones after the last expiry sweep, by pool: the tenant (tenants/{id}) whose pnp_listeners saw them, or unclaimed. --discovered-max applies to each pool.",
	}, []string{"pool"})
	m.profileOK = m.profiles.WithLabelValues("ok")
	m.profileGrace = m.profiles.WithLabelValues("grace")
	m.profileBootstrap = m.profiles.WithLabelValues("bootstrap")
	m.profileNotFound = m.profiles.WithLabelValues("not_found")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.changes, m.events, m.published, m.pubErrors, m.profiles, m.releases, m.expired, m.discovered,
		m.cacheHits, m.cacheMisses, m.cacheRounds, m.cacheFlushes} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}
