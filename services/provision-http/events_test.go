package provisionhttp_test

import (
	"net/http"
	"testing"

	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
	"github.com/dialtone-voip/dialtone/services/provision-http/edgetest"
)

func (r *running) get(t testing.TB, base string, p testPhone, file string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	return edgetest.Get(t, base+"/p/"+p.token+"/"+file, p.ua, hdr)
}

// TestPublishingNeverBlocks stops NATS and shows that responses still go
// out while events that do not fit the bounded queue are dropped and counted.
func TestPublishingNeverBlocks(t *testing.T) {
	ns := natstest.Start(t) // a broker of its own, to stop it
	u := newUpstream(t)
	var phones []testPhone
	for range 20 {
		phones = append(phones, u.addPhone(t, "poly", false, false))
	}
	r := startService(t, u, provisionhttp.Deps{JetStream: ns.JetStream()}, func(c *provisionhttp.Config) { c.EventQueue = 2 })
	ns.Shutdown()
	for _, p := range phones {
		if code, _, _ := r.get(t, r.httpURL, p, p.macFile, nil); code != 200 {
			t.Fatalf("GET with NATS down: %d", code)
		}
	}
	dropped := metrictest.Value(t, r.reg, "dialtone_provision_http_config_fetched_events_total", "result", "dropped")
	if dropped == 0 {
		t.Fatal("no event counted as dropped although the queue holds 2 and NATS is down")
	}
	t.Logf("%v of %d events dropped", dropped, len(phones))
	// NATS comes back: the queued events go out and shutdown is quick.
	ns.Restart()
}
