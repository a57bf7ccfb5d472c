package rpsclient

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
)

// metrics are the service's Prometheus series (README.md lists them).
type metrics struct {
	events       *prometheus.CounterVec   // change_type, action
	attempts     *prometheus.CounterVec   // vendor, api, op, result
	vendorHTTP   *prometheus.HistogramVec // api, op, code
	published    *prometheus.CounterVec   // result
	reloads      *prometheus.CounterVec   // result
	deferred     *prometheus.CounterVec   // vendor
	causes       *prometheus.CounterVec   // api, cause
	expired      prometheus.Counter
	retryPending prometheus.Gauge
	accounts     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_rps_client_events_total", Help: "PhoneChanged events handled, by change type and action taken.",
		}, []string{"change_type", "action"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_rps_client_vendor_attempts_total", Help: "Register/deregister attempts at vendors, by outcome (ok or failure reason).",
		}, []string{"vendor", "api", "op", "result"}),
		vendorHTTP: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dialtone_rps_client_vendor_request_duration_seconds", Help: "HTTP exchanges with vendor APIs.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		}, []string{"api", "op", "code"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_rps_client_results_published_total", Help: "RpsResult events published, by result.",
		}, []string{"result"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_rps_client_credentials_reloads_total", Help: "Credentials directory reloads, by result.",
		}, []string{"result"}),
		deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_rps_client_attempts_deferred_total", Help: "Attempts deferred to a later call slot by the client-side rate limit (--vendor-rate), by vendor.",
		}, []string{"vendor"}),
		causes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_rps_client_vendor_failure_causes_total",
			Help: "Vendor failures with a cause operators act on: clock_skew (fix the host's clock; credentials are fine), registration_gap (a phone left without a redirect until the retry holds).",
		}, []string{"api", "cause"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dialtone_rps_client_statuses_expired_total", Help: "Statuses of phones deregistered longer than --deregistered-ttl, deleted.",
		}),
		retryPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dialtone_rps_client_retry_pending", Help: "MACs in the retry schedule (at the last scan).",
		}),
		accounts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dialtone_rps_client_vendor_accounts", Help: "Vendor accounts loaded.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.events, m.attempts, m.vendorHTTP, m.published, m.reloads, m.deferred, m.causes, m.expired, m.retryPending, m.accounts} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// countCause counts err's cause, if it has one.
func (m *metrics) countCause(api string, err error) {
	if c := vendors.CauseOf(err); c != "" {
		m.causes.WithLabelValues(api, c).Inc()
	}
}

func (m *metrics) observeHTTP(api, op string, status int, d time.Duration) {
	m.vendorHTTP.WithLabelValues(api, op, strconv.Itoa(status)).Observe(d.Seconds())
}
