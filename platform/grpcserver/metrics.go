package grpcserver

import (
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
)

// metrics follow the names of go-grpc-prometheus, so existing dashboards
// work.
type metrics struct {
	handled *prometheus.CounterVec
	latency *prometheus.HistogramVec
	refused *prometheus.CounterVec
}

// Reasons of dialtone_grpc_server_refused_total. The label carries no
// method: refused callers choose the method name, and would choose the
// label values.
const (
	reasonUnauthenticated = "unauthenticated"
	reasonTooLarge        = "message_too_large"
)

// refuse counts a call refused by a limit; m may be nil.
func (m *metrics) refuse(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total",
			Help: "gRPC calls completed on the server, by method and status code.",
		}, []string{"grpc_service", "grpc_method", "grpc_code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Time the server took to handle gRPC calls, by method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"grpc_service", "grpc_method"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_grpc_server_refused_total",
			Help: "gRPC calls refused before their handler ran, by reason: unauthenticated (checked from the headers, before the message is read) or message_too_large (above the method's cap).",
		}, []string{"reason"}),
	}
	m.handled = register(r, m.handled)
	m.refused = register(r, m.refused)
	m.latency = register(r, m.latency)
	return m
}

// register registers c, or reuses the identical collector already
// registered (several servers in one process share a registry).
func register[C prometheus.Collector](r prometheus.Registerer, c C) C {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("grpcserver: register metrics: " + err.Error())
	}
	return c
}

func (m *metrics) observe(fullMethod string, code codes.Code, d time.Duration) {
	svc, method := splitMethod(fullMethod)
	m.handled.WithLabelValues(svc, method, code.String()).Inc()
	m.latency.WithLabelValues(svc, method).Observe(d.Seconds())
}

func splitMethod(full string) (service, method string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndex(full, "/"); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}
