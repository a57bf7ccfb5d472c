package provisionhttp

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone-voip/dialtone/platform/connlimit"
)

// Outcomes label requests in metrics and access logs; phones never see them.
const (
	outServed        = "served"
	outNotModified   = "not_modified"
	outUnknownToken  = "unknown_token"
	outWrongFile     = "wrong_file"
	outWrongUA       = "wrong_user_agent"
	outHTTPSRequired = "https_required"
	outRenderInvalid = "render_invalid"
	outBadPath       = "bad_path"
	outBadMethod     = "bad_method"
	outThrottled     = "throttled"
	outUpstream      = "upstream_error"
	outPanic         = "panic"
	outRelease       = "release_refused" // device_cert policy or second identity (inventory's rule)
)

type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	cache         *prometheus.CounterVec
	upstream      *prometheus.CounterVec
	blocks        prometheus.Counter
	eventsOut     *prometheus.CounterVec
	invalidations prometheus.Counter
	phoneChanges  *prometheus.CounterVec
	templateSets  prometheus.Counter
	tlsReloads    *prometheus.CounterVec
	caReloads     *prometheus.CounterVec
	deviceCerts   *prometheus.CounterVec
	connsRefused  *prometheus.CounterVec
	// linkAssertions: LinkProofHeader seen, by outcome (linkOutcomes).
	linkAssertions *prometheus.CounterVec

	tokenHit, tokenMiss, fileHit, fileMiss, modelHit, modelMiss prometheus.Counter
	throttleGauges                                              []prometheus.Collector

	perRequest sync.Map // requestKey -> requestObs, so a request looks up no label values
}

type requestKey struct {
	code int
	out  string
}

type requestObs struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

func (m *metrics) observe(code int, out string, d time.Duration) {
	k := requestKey{code, out}
	v, ok := m.perRequest.Load(k)
	if !ok {
		v, _ = m.perRequest.LoadOrStore(k, requestObs{
			count:    m.requests.WithLabelValues(strconv.Itoa(code), out),
			duration: m.duration.WithLabelValues(out),
		})
	}
	o := v.(requestObs)
	o.count.Inc()
	o.duration.Observe(d.Seconds())
}

func newMetrics(reg prometheus.Registerer, s *Service) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dialtone", Subsystem: "provision_http", Name: "requests_total",
			Help: "Phone requests by status code and outcome.",
		}, []string{"code", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "dialtone", Subsystem: "provision_http", Name: "request_duration_seconds",
			Help:    "Time to answer a phone request (404s include the padding).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"outcome"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dialtone", Subsystem: "provision_http", Name: "cache_lookups_total",
			Help: "Cache look-ups by cache (token, file, model) and result (hit, miss).",
		}, []string{"cache", "result"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dialtone", Subsystem: "provision_http", Name: "upstream_calls_total",
			Help: "Calls to inventory and config-renderer by method and gRPC code.",
		}, []string{"method", "code"}),
		blocks: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dialtone", Subsystem: "provision_http", Name: "throttle_blocks_total",
			Help: "Times a source was blocked for failing too often.",
		}),
		eventsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dialtone", Subsystem: "provision_http", Name: "config_fetched_events_total",
			Help: "ConfigFetched events by result: published, duplicate (suppressed locally), dropped (queue full), failed.",
		}, []string{"result"}),
		invalidations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dialtone", Subsystem: "provision_http", Name: "cache_invalidations_total",
			Help: "PhoneChanged events that dropped cached entries.",
		}),
		phoneChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dialtone", Subsystem: "provision_http", Name: "phone_changes_total",
			Help: "PhoneChanged events by what they did to the phone's cached entries: invalidated (files changed), grants (release binding), kept (a fetch, discovery, state or RPS status).",
		}, []string{"action"}),
		templateSets: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dialtone", Subsystem: "provision_http", Name: "template_set_changes_total",
			Help: "Changes of the renderer's template set seen; each dropped every cached file and model.",
		}),
		caReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dialtone", Subsystem: "provision_http", Name: "device_ca_reloads_total",
			Help: "Device CA bundle (--device-ca-dir) reloads by result (ok, error).",
		}, []string{"result"}),
		deviceCerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dialtone", Subsystem: "provision_http", Name: "device_certificates_total",
			Help: "Client certificates on requests for files with secrets, by result (none, no_ca, untrusted, wrong_mac, verified).",
		}, []string{"result"}),
		tlsReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dialtone", Subsystem: "provision_http", Name: "tls_reloads_total",
			Help: "Certificate reloads by result (ok, error).",
		}, []string{"result"}),
	}
	m.connsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dialtone", Subsystem: "provision_http", Name: "connections_refused_total",
		Help: "Phone connections reset on accept by a limit: total (--max-conns) or per_source (--max-conns-per-source).",
	}, []string{"reason"})
	m.linkAssertions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dialtone", Subsystem: "provision_http", Name: "link_assertions_total",
		Help: "Requests carrying a link assertion (" + LinkProofHeader + ") by outcome: honoured (a pnp-listener's relay credential, the token's phone: proof link), or ignored: no_credential, bad_credential, wrong_role, malformed, mac_mismatch.",
	}, []string{"outcome"})
	for _, o := range linkOutcomes {
		m.linkAssertions.WithLabelValues(o)
	}
	for _, a := range []string{actionInvalidate, actionGrants, actionKeep} {
		m.phoneChanges.WithLabelValues(a)
	}
	for _, r := range []string{connlimit.ReasonTotal, connlimit.ReasonPerSource} {
		m.connsRefused.WithLabelValues(r)
	}
	m.tokenHit, m.tokenMiss = m.cache.WithLabelValues("token", "hit"), m.cache.WithLabelValues("token", "miss")
	m.fileHit, m.fileMiss = m.cache.WithLabelValues("file", "hit"), m.cache.WithLabelValues("file", "miss")
	m.modelHit, m.modelMiss = m.cache.WithLabelValues("model", "hit"), m.cache.WithLabelValues("model", "miss")
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "dialtone", Subsystem: "provision_http", Name: name, Help: help,
		}, f)
	}
	m.throttleGauges = []prometheus.Collector{
		gauge("throttle_sources", "Sources in the throttle table.", func() float64 { return float64(s.thr.Len()) }),
		gauge("throttle_capacity", "Capacity of the throttle table.", func() float64 { return float64(s.thr.Cap()) }),
		gauge("throttle_evictions", "Sources forgotten to make room in the throttle table.", func() float64 { return float64(s.thr.Evicted()) }),
		gauge("token_cache_entries", "Cached token look-ups.", func() float64 { return float64(s.tokens.Len()) }),
		gauge("file_cache_bytes", "Bytes of cached rendered files.", func() float64 { return float64(s.files.Cost()) }),
		gauge("connections_open", "Open phone connections (HTTP and HTTPS).", func() float64 {
			if l := s.conns.Load(); l != nil {
				return float64(l.Open())
			}
			return 0
		}),
		gauge("connections_max", "Limit on open phone connections (--max-conns, or RLIMIT_NOFILE minus --fd-reserve).", func() float64 {
			if l := s.conns.Load(); l != nil {
				return float64(l.MaxTotal())
			}
			return 0
		}),
		gauge("event_queue_length", "ConfigFetched events waiting to be published.", func() float64 { return float64(len(s.events)) }),
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.requests, m.duration, m.cache, m.upstream, m.blocks, m.eventsOut, m.invalidations, m.phoneChanges, m.templateSets, m.tlsReloads, m.caReloads, m.deviceCerts, m.connsRefused, m.linkAssertions}
	for _, c := range append(cs, m.throttleGauges...) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// refuse counts a connection refused by a limit; called on the accept loop.
func (m *metrics) refuse(reason string) { m.connsRefused.WithLabelValues(reason).Inc() }
