package rpsclient

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/gigasetfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/srapsfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/yealinkfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/yealink"
)

// The legacy Yealink API cannot delete server objects: every URL the phone
// had leaves one at the vendor. The status lists the ones we made, the one
// in use last, so operators can clean them up in the portal.
func TestYealinkXMLRPCServerObjectsListed(t *testing.T) {
	onBothBackends(t, testYealinkXMLRPCServerObjectsListed)
}

func testYealinkXMLRPCServerObjectsListed(t *testing.T, b backend) {
	e := newEnvOn(t, b)
	fake := yealinkfake.StartXMLRPC(t, yealinkfake.YealinkTemplate, "ykuser", "yk-xml-pass")
	writeAccount(t, e.creds, "globex", "yealink", map[string]any{"api": "yealink-xmlrpc", "username": "ykuser",
		"password": "yk-xml-pass", "base_url": fake.URL + "/xmlrpc"})
	if _, err := e.svc.creds.Reload(); err != nil {
		t.Fatal(err)
	}
	urlA, urlB := edge+tokenA+"/", edge+tokenB+"/"
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "tenants/globex", true, urlA, changeAssigned)))
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "tenants/globex", true, urlB, changeRotated)))
	if got, _ := fake.Registry.Get(ykMAC); got.URL != urlB {
		t.Fatalf("vendor holds %+v", got)
	}
	want := []string{"server " + yealink.ServerName(urlA), "server " + yealink.ServerName(urlB)}
	if r := e.record(ykMAC); !slices.Equal(r.Objects, want) {
		t.Fatalf("objects %q, want %q", r.Objects, want)
	}
	if fake.Servers() != 2 {
		t.Fatalf("%d server objects at the vendor", fake.Servers())
	}
	c := serveGRPC(t, e.svc)
	for _, role := range []string{"admin", "readonly"} {
		resp, err := c[role].GetDeviceStatus(context.Background(), &rpsv1.GetDeviceStatusRequest{Name: "devices/" + ykMAC})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.GetStatus().GetVendorObjects(); !slices.Equal(got, want) {
			t.Fatalf("%s: vendor_objects %q, want %q", role, got, want)
		}
	}
	// Server names are hashes: the token never shows.
	for _, o := range want {
		if strings.Contains(o, tokenA) || strings.Contains(o, tokenB) {
			t.Fatalf("object name holds a token: %s", o)
		}
	}
}

// A Hawk stale-timestamp answer that cannot be verified leaves the phone
// retrying (temporary), counted as clock skew — never a permanent
// bad-credentials failure that waits for a key rotation.
func TestClockSkewIsRetried(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.deps.Registerer = reg
	const id, key = "sraps-id", "sraps-hawk-key-0123456789"
	fake := srapsfake.Start(t, srapsfake.Config{Prefix: "/api/v1", ID: id, Key: key, Setting: "setting_server",
		Skew: time.Hour, ForgedTSM: true})
	writeAccount(t, e.creds, "acme", "snom", map[string]any{"api": "snom-sraps", "key_id": id, "key_secret": key,
		"base_url": fake.URL + "/api/v1/"})
	e.svc = e.newService()
	e.handle(marshal(t, e.inv.set(snomMAC, "snom", "tenants/acme", true, edge+tokenA+"/", changeAssigned)))
	r := e.record(snomMAC)
	if r.State != stRetrying || r.Reason != rpsv1.FailureReason_FAILURE_REASON_TRANSIENT || !strings.Contains(r.LastError, "clock skew") {
		t.Fatalf("record %+v", r)
	}
	if v := metrictest.Value(t, reg, "dialtone_rps_client_vendor_failure_causes_total", "api", "snom-sraps", "cause", "clock_skew"); v != 1 {
		t.Fatalf("clock_skew counted %v times", v)
	}
	if strings.Contains(e.logs.String(), key) {
		t.Fatal("the Hawk key reached the logs")
	}
}

// A Gigaset re-registration whose register keeps failing after the
// deregister shows the gap in the status and is retried until it holds.
func TestGigasetRegistrationGapRetried(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.deps.Registerer = reg
	fake := gigasetfake.Start(t, "gsuser", "gs-pass-1234")
	writeAccount(t, e.creds, "acme", "gigaset", map[string]any{"api": "gigaset-xmlrpc", "username": "gsuser",
		"password": "gs-pass-1234", "base_url": fake.URL + gigasetfake.Path})
	e.svc = e.newService()
	const mac = "7c2f80aa0001"
	e.handle(marshal(t, e.inv.set(mac, "gigaset", "tenants/acme", true, edge+tokenA+"/", changeAssigned)))
	if r := e.record(mac); r.State != stRegistered {
		t.Fatalf("record %+v", r)
	}
	fake.Before("autoprov.deregisterDevice", func() {
		fake.Inject(fakeserver.Fault{Status: 503}, fakeserver.Fault{Status: 503}, fakeserver.Fault{Status: 503})
	})
	e.handle(marshal(t, e.inv.set(mac, "gigaset", "tenants/acme", true, edge+tokenB+"/", changeRotated)))
	r := e.record(mac)
	if r.State != stRetrying || !strings.Contains(r.LastError, "registration gap") || !strings.Contains(r.LastError, "no redirect") {
		t.Fatalf("record %+v", r)
	}
	if v := metrictest.Value(t, reg, "dialtone_rps_client_vendor_failure_causes_total", "api", "gigaset-xmlrpc", "cause", "registration_gap"); v != 1 {
		t.Fatalf("registration_gap counted %v times", v)
	}
	e.clock.Advance(e.cfg.RetryMax)
	e.svc.RunDue(e.ctx)
	if r := e.record(mac); r.State != stRegistered || r.RegisteredURL != edge+tokenB+"/" {
		t.Fatalf("after the retry: %+v", r)
	}
	if got, _ := fake.Registry.Get(mac); got.URL != edge+tokenB+"/" {
		t.Fatalf("vendor holds %+v", got)
	}
}
