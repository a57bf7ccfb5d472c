package metrictest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestValue(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "plain_total", Help: "h"})
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "by_result_total", Help: "h"}, []string{"consumer", "result"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "size", Help: "h"})
	reg.MustRegister(c, v, g)
	c.Add(3)
	v.WithLabelValues("a", "ok").Add(2)
	v.WithLabelValues("a", "dropped").Add(5)
	v.WithLabelValues("b", "ok").Add(7)
	g.Set(256)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"plain_total", nil, 3},
		{"size", nil, 256},
		{"by_result_total", nil, 14},
		{"by_result_total", []string{"result", "ok"}, 9},
		{"by_result_total", []string{"consumer", "a", "result", "dropped"}, 5},
		{"by_result_total", []string{"result", "retry"}, 0},
		{"absent_total", nil, 0},
	} {
		if got := Value(t, reg, tc.name, tc.labels...); got != tc.want {
			t.Errorf("Value(%s, %v) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}
