package edge_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/dialtone-voip/dialtone/cmd/internal/upstreamtest"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
	"github.com/dialtone-voip/dialtone/services/provision-http/edgetest"
	"github.com/dialtone-voip/dialtone/services/provision-http/edgetest/deviceca"
)

// certEdge is the edge with HTTPS and --device-ca-dir, on the real
// inventory and renderer, one embedded JetStream, and both services' logs
// captured.
type certEdge struct {
	*running
	u       *upstream
	ca      *deviceca.CA
	invLogs *logtest.Buffer
	refused *nats.Subscription
}

func newCertEdge(t *testing.T, vendor string) *certEdge {
	t.Helper()
	invLogs := &logtest.Buffer{}
	invLog, err := logging.New(invLogs, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	u := newUpstreamWith(t, func(o *upstreamtest.Options) { o.Logger = invLog })
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	edgetest.WriteCert(t, certFile, keyFile, 1)
	caDir := t.TempDir()
	ca := deviceca.New(t, vendor)
	ca.WriteRoot(t, caDir)
	sub, err := u.ns.Conn().SubscribeSync(streams.SecretReleaseRefusedAll)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	r := startService(t, u, provisionhttp.Deps{JetStream: u.ns.JetStream()}, func(c *provisionhttp.Config) {
		c.HTTPSAddr, c.TLSCert, c.TLSKey, c.DeviceCADir = "127.0.0.1:0", certFile, keyFile, caDir
	})
	return &certEdge{running: r, u: u, ca: ca, invLogs: invLogs, refused: sub}
}

// fetch GETs file of p over HTTPS on a fresh connection, presenting cert
// (nil: none).
func (e *certEdge) fetch(t *testing.T, p testPhone, file string, cert *tls.Certificate) (int, string) {
	t.Helper()
	conf := &tls.Config{InsecureSkipVerify: true}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, e.httpsURL+"/p/"+p.token+"/"+file, nil)
	req.Header.Set("User-Agent", p.ua)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// nextRefused waits for the next SecretReleaseRefused.
func (e *certEdge) nextRefused(t *testing.T) *eventsv1.SecretReleaseRefused {
	t.Helper()
	m, err := e.refused.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no SecretReleaseRefused: %v", err)
	}
	var ev eventsv1.SecretReleaseRefused
	if err := proto.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	return &ev
}

func (e *certEdge) phone(t *testing.T, mac string) *inventoryv1.Phone {
	t.Helper()
	resp, err := e.u.Admin.GetPhone(cctx(t), &inventoryv1.GetPhoneRequest{Name: "phones/" + mac})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetPhone()
}

// waitFor polls cond until it holds (conditions, not sleeps, decide).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, what, cond)
}

// noSecretsLogged greps every captured log for the phone's passwords and token.
func (e *certEdge) noSecretsLogged(t *testing.T, p testPhone) {
	t.Helper()
	for name, logs := range map[string]string{"provision-http": e.logs.String(), "inventory": e.invLogs.String()} {
		if logs == "" {
			t.Errorf("%s logged nothing: the capture is not wired", name)
		}
		for _, secret := range []string{"sip-secret-" + p.mac, "web-secret-" + p.mac, p.token} {
			if strings.Contains(logs, secret) {
				t.Errorf("%s log holds a secret (%.12s…)", name, secret)
			}
		}
	}
}

func setDeviceCert(t *testing.T, u *upstream, mac string, pol inventoryv1.DeviceCertPolicy) {
	t.Helper()
	if _, err := u.Admin.UpdatePhone(cctx(t), &inventoryv1.UpdatePhoneRequest{
		Phone:      &inventoryv1.Phone{Name: "phones/" + mac, Settings: &inventoryv1.ProvisioningSettings{DeviceCert: pol}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.device_cert"}},
	}); err != nil {
		t.Fatalf("UpdatePhone device_cert: %v", err)
	}
}

// TestDeviceCertRequire: with device_cert require, a fetch without the
// phone's certificate gets no secret (and is published as refused), one with
// another phone's certificate neither, and one with its own gets the file;
// the fetch is recorded as proved by token+certificate.
func TestDeviceCertRequire(t *testing.T) {
	e := newCertEdge(t, "yealink")
	p := e.u.addPhone(t, "yealink", true, false)
	other := e.u.addPhone(t, "yealink", true, false)
	setDeviceCert(t, e.u, p.mac, inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_REQUIRE)
	own := e.ca.Issue(t, p.mac, deviceca.ShapeCN)
	foreign := e.ca.Issue(t, other.mac, deviceca.ShapeCN)
	secret := "sip-secret-" + p.mac

	if code, body := e.fetch(t, p, p.macFile, nil); code != 404 || strings.Contains(body, secret) {
		t.Fatalf("without a certificate: %d", code)
	}
	ev := e.nextRefused(t)
	if ev.GetMac() != p.mac || ev.GetReason() != "device certificate required" || ev.GetProof() != inventoryv1.FetchProof_FETCH_PROOF_TOKEN_UA {
		t.Fatalf("refusal event: %v", ev)
	}
	// Files without secrets are still served.
	if code, _ := e.fetch(t, p, p.commonFile, nil); code != 200 {
		t.Fatalf("common file without a certificate: %d", code)
	}
	if code, body := e.fetch(t, p, p.macFile, &foreign); code != 404 || strings.Contains(body, secret) {
		t.Fatalf("with another phone's certificate: %d", code)
	}
	code, body := e.fetch(t, p, p.macFile, &own)
	if code != 200 || !strings.Contains(body, secret) {
		t.Fatalf("with the phone's certificate: %d", code)
	}
	waitFor(t, "the fetch recorded as proved by certificate", func() bool {
		ph := e.phone(t, p.mac)
		return ph.GetLastFetch().GetProof() == inventoryv1.FetchProof_FETCH_PROOF_TOKEN_CERTIFICATE &&
			ph.GetLastFetch().GetCertificateSha256() != "" && strings.HasPrefix(ph.GetSecretRelease().GetId(), "cert:")
	})
	if ph := e.phone(t, p.mac); ph.GetEffectiveDeviceCert() != inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_REQUIRE {
		t.Errorf("effective policy %v", ph.GetEffectiveDeviceCert())
	}
	e.noSecretsLogged(t, p)
}

// TestSecretReleaseSecondIdentity (device_cert prefer): once a phone's
// secrets went to one identity, a different one (another certificate for the same MAC, or the
// token alone) is refused with SecretReleaseRefused until an administrator
// approves it; then the approved identity is served and the old one is not.
func TestSecretReleaseSecondIdentity(t *testing.T) {
	e := newCertEdge(t, "yealink")
	p := e.u.addPhone(t, "yealink", true, false)
	// Under prefer a certificate becomes the phone's release identity (under
	// off it is only recorded).
	setDeviceCert(t, e.u, p.mac, inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_PREFER)
	certA := e.ca.Issue(t, p.mac, deviceca.ShapeCN)
	certB := e.ca.Issue(t, p.mac, deviceca.ShapeCN) // a second key for the same MAC
	secret := "sip-secret-" + p.mac

	if code, body := e.fetch(t, p, p.macFile, &certA); code != 200 || !strings.Contains(body, secret) {
		t.Fatalf("first identity: %d", code)
	}
	// Again, and a second file: the same identity is served.
	if code, _ := e.fetch(t, p, p.macFile, &certA); code != 200 {
		t.Fatalf("first identity again: %d", code)
	}
	if code, body := e.fetch(t, p, p.macFile, nil); code != 404 || strings.Contains(body, secret) {
		t.Fatalf("token alone after a certificate: %d", code)
	}
	ev := e.nextRefused(t)
	if ev.GetIdentity() != "token" || !strings.HasPrefix(ev.GetBoundIdentity(), "cert:") {
		t.Fatalf("refusal of the token alone: %v", ev)
	}
	if code, body := e.fetch(t, p, p.macFile, &certB); code != 404 || strings.Contains(body, secret) {
		t.Fatalf("second certificate: %d", code)
	}
	ev = e.nextRefused(t)
	if !strings.HasPrefix(ev.GetIdentity(), "cert:") || ev.GetIdentity() == ev.GetBoundIdentity() || ev.GetReason() == "" {
		t.Fatalf("refusal of the second certificate: %v", ev)
	}
	ph := e.phone(t, p.mac)
	if ph.GetPendingRelease().GetId() != ev.GetIdentity() || ph.GetSecretRelease().GetId() != ev.GetBoundIdentity() {
		t.Fatalf("phone: release %v pending %v", ph.GetSecretRelease(), ph.GetPendingRelease())
	}

	// The administrator approves the pending identity.
	resp, err := e.u.Admin.ApprovePhone(cctx(t), &inventoryv1.ApprovePhoneRequest{Name: "phones/" + p.mac})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetPhone().GetSecretRelease().GetId() != ev.GetIdentity() || resp.GetPhone().GetPendingRelease() != nil {
		t.Fatalf("after approval: %v", resp.GetPhone())
	}
	if code, body := e.fetch(t, p, p.macFile, &certB); code != 200 || !strings.Contains(body, secret) {
		t.Fatalf("approved identity: %d", code)
	}
	// The edge forgets A's grant when PhoneChanged arrives.
	waitFor(t, "the first identity refused", func() bool {
		code, _ := e.fetch(t, p, p.macFile, &certA)
		return code == 404
	})
	e.noSecretsLogged(t, p)
}
