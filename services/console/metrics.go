package console

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the console's own counters (dialtone_console_…): logins by
// result, refused requests, provisioning-URL reveals, open event streams.
type metrics struct {
	logins  *prometheus.CounterVec
	refused *prometheus.CounterVec
	reveals prometheus.Counter
	streams prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialtone_console_logins_total",
			Help: "Console logins by result: ok, failed (unknown user, wrong password, disabled), throttled."}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialtone_console_refused_requests_total",
			Help: "State-changing requests refused, by reason: csrf, readonly."}, []string{"reason"}),
		reveals: prometheus.NewCounter(prometheus.CounterOpts{Name: "dialtone_console_url_reveals_total",
			Help: "Provisioning URLs revealed to an administrator (each is also logged)."}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dialtone_console_event_streams",
			Help: "Open Server-Sent Event streams (browsers showing a live page)."}),
	}
	for _, r := range []string{"ok", "failed", "throttled"} {
		m.logins.WithLabelValues(r)
	}
	for _, r := range []string{"csrf", "readonly"} {
		m.refused.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.logins, m.refused, m.reveals, m.streams} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
