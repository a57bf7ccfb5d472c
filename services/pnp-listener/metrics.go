package pnplistener

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/sipsock"
)

// Drop reasons counted besides sipsock's.
const (
	dropParse             = "parse"
	dropUnmatchedResponse = "unmatched_response"
	dropMethod            = "multicast_method"
	dropMalformed         = "malformed"
	// dropNoTransaction: a request without Via or CSeq.
	dropNoTransaction = "no_via"
)

// SUBSCRIBE outcomes.
const (
	subAnswered  = "answered"
	subBadEvent  = "bad_event"
	subMalformed = "malformed"
	subPolicy    = "policy_denied"
	subNoMAC     = "no_mac"
	subRepeat    = "repeat"
)

// NOTIFY outcomes.
const (
	outOK        = "ok"
	outRejected  = "rejected"
	outTimeout   = "timeout"
	outSendError = "send_error"
	outOverload  = "overload"
	// outShed: an unknown, never-answering phone's NOTIFY dropped while
	// the slots were nearly full (-shed-at).
	outShed = "shed"
	// outShedQueue: an unknown phone's boot refused because the unknown
	// lane (or the flow table's share for unknown phones) is full.
	outShedQueue      = "shed_queue"
	outNoURL          = "no_url"
	outUnknownPhone   = "unknown_phone"
	outBootstrapHeld  = "bootstrap_withheld"
	outInventoryError = "inventory_error"
	outBadURL         = "bad_url"
	outUnreachable    = "unreachable"
	outDuplicate      = "duplicate"
	outCanceled       = "canceled"
	outStale          = "stale"
	// outSuperseded: the phone booted again (a new SUBSCRIBE dialog)
	// while this NOTIFY was being retransmitted to its old one; the
	// retransmissions stopped and the new dialog gets the NOTIFY at once.
	outSuperseded = "superseded"
)

// NOTIFY kinds.
const (
	kindBoot      = "boot"
	kindLate      = "late"
	kindCheckSync = "check_sync"
)

type metrics struct {
	drops       map[string]prometheus.Counter
	subscribes  *prometheus.CounterVec
	notifies    *prometheus.CounterVec
	lookups     *prometheus.CounterVec
	events      *prometheus.CounterVec
	okLatency   prometheus.Histogram
	lookupTime  prometheus.Histogram
	queueWait   prometheus.Histogram
	notifyDelay prometheus.Histogram
	unexpected  prometheus.Counter
}

func newMetrics(r prometheus.Registerer, gauges map[string]func() float64) *metrics {
	m := &metrics{drops: map[string]prometheus.Counter{}}
	dropVec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dialtone_pnp_listener_datagrams_dropped_total",
		Help: "Datagrams dropped before or while parsing, by reason.",
	}, []string{"reason"})
	for _, reason := range append(append([]string{}, sipsock.DropReasons...), dropParse, dropUnmatchedResponse, dropMethod, dropMalformed, dropNoTransaction, dropLinkMismatch, dropLinkUnresolved) {
		m.drops[reason] = dropVec.WithLabelValues(reason)
	}
	m.subscribes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dialtone_pnp_listener_subscribes_total",
		Help: "PnP SUBSCRIBEs handled, by outcome (answered, repeat, bad_event, malformed, policy_denied, no_mac).",
	}, []string{"outcome"})
	m.notifies = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dialtone_pnp_listener_notifies_total",
		Help: "NOTIFYs by kind (boot, late, check_sync) and outcome (ok, rejected, timeout, no_url, …).",
	}, []string{"kind", "outcome"})
	m.lookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dialtone_pnp_listener_inventory_lookups_total",
		Help: "GetProvisioningUrl calls by result (ok, not_found, timeout, error).",
	}, []string{"result"})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dialtone_pnp_listener_events_total",
		Help: "Events consumed, by type and what they led to.",
	}, []string{"type", "result"})
	m.okLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "dialtone_pnp_listener_subscribe_ok_seconds",
		Help:    "From handing a SUBSCRIBE to the handler to sending the 200 OK.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
	})
	m.notifyDelay = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "dialtone_pnp_listener_subscribe_notify_seconds",
		Help:    "From handing a SUBSCRIBE to the handler to the first transmission of its NOTIFY.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5},
	})
	m.lookupTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "dialtone_pnp_listener_inventory_lookup_seconds",
		Help:    "Duration of GetProvisioningUrl calls.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25},
	})
	m.queueWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "dialtone_pnp_listener_notify_queue_seconds",
		Help:    "How long a NOTIFY job waited for a worker.",
		Buckets: []float64{.0001, .001, .005, .01, .05, .1, .5, 1, 2, 4},
	})
	m.unexpected = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dialtone_pnp_listener_unexpected_requests_total",
		Help: "Unicast requests other than SUBSCRIBE, answered 405.",
	})
	cs := []prometheus.Collector{dropVec, m.subscribes, m.notifies, m.lookups, m.events, m.okLatency, m.notifyDelay, m.lookupTime, m.queueWait, m.unexpected}
	for name, f := range gauges {
		if strings.HasSuffix(name, "_total") {
			cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: gaugeHelp[name]}, f))
			continue
		}
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: gaugeHelp[name]}, f))
	}
	if r != nil {
		for _, c := range cs {
			r.MustRegister(c)
		}
	}
	return m
}

var gaugeHelp = map[string]string{
	"dialtone_pnp_listener_seen_phones":            "Phones remembered for late NOTIFYs.",
	"dialtone_pnp_listener_outbox_depth":           "Events waiting to be published.",
	"dialtone_pnp_listener_outbox_published_total": "Events published to JetStream.",
	"dialtone_pnp_listener_outbox_retries_total":   "Failed publish attempts, retried.",
	"dialtone_pnp_listener_outbox_dropped_total":   "Events dropped: the outbox was full, or unpublished at stop and not saved (--outbox-file).",
	"dialtone_pnp_listener_notifies_inflight":      "NOTIFY transactions in flight.",
	"dialtone_pnp_listener_notify_flows":           "Phones with a lookup/NOTIFY round under way (the flow table).",
	"dialtone_pnp_listener_notify_queued_known":    "Rounds waiting for a worker in the known lane (assigned or answering phones, events).",
	"dialtone_pnp_listener_notify_queued_unknown":  "Rounds waiting for a worker in the unknown lane (boots of phones not known yet).",
	"dialtone_pnp_listener_interfaces":             "Interfaces served.",
}

func (m *metrics) drop(reason string) {
	if c, ok := m.drops[reason]; ok {
		c.Inc()
	}
}
