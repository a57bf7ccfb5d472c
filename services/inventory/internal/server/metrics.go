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

	// The profiles counters, resolved once (the lookup is the hot path).
	profileOK, profileGrace, profileBootstrap, profileNotFound prometheus.Counter
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
			Name: "inventory_phone_changes_total", Help: "Committed phone changes, by change type.",
		}, []string{"type"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inventory_events_consumed_total", Help: "Consumed events, by consumer and result (changed, unchanged, dropped, retry).",
		}, []string{"consumer", "result"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "inventory_outbox_published_total", Help: "Outbox events published to JetStream.",
		}),
		pubErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "inventory_outbox_publish_errors_total", Help: "Failed outbox publish attempts (retried).",
		}),
		profiles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inventory_profile_lookups_total", Help: "GetProvisioningProfile calls, by result (ok, grace, bootstrap, not_found).",
		}, []string{"result"}),
	}
	m.profileOK = m.profiles.WithLabelValues("ok")
	m.profileGrace = m.profiles.WithLabelValues("grace")
	m.profileBootstrap = m.profiles.WithLabelValues("bootstrap")
	m.profileNotFound = m.profiles.WithLabelValues("not_found")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.changes, m.events, m.published, m.pubErrors, m.profiles} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}
