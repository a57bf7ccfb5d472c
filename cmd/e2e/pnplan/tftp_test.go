package pnplan

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/cmd/internal/tftptest"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
)

const (
	edgeToken = "edge-token-for-tests-0123456789abcdef0123456789"
	// relayToken is the listener's TFTP relay credential at the edge: a
	// token of its own, never one inventory accepts.
	relayToken = "relay-token-for-tests-0123456789abcdef01234567"
)

// realEdge is the real provision-http in front of the env's real inventory
// and config-renderer, publishing ConfigFetched to the env's JetStream.
type realEdge struct {
	svc *provisionhttp.Service
	reg *prometheus.Registry
	// base is the edge's phone-facing HTTP address, "http://127.0.0.1:port".
	base string
}

func (r *realEdge) counter(t *testing.T, name string, labels ...string) float64 {
	return metrictest.Value(t, r.reg, name, labels...)
}

// newTFTPEnv is newEnv with the real edge: inventory's edge base is its
// address, it honours link assertions made with relayToken (role
// listener), and the listener started later presents that token.
func newTFTPEnv(t *testing.T, mutate func(*provisionhttp.Config), hosts ...string) (*env, *realEdge) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + lis.Addr().String()
	e := newEnvWith(t, base, hosts...)
	e.relayToken = relayToken
	data, _ := json.Marshal(auth.TokensFile{Tokens: []auth.TokenEntry{{Name: "relay-site1", Role: auth.RoleListener, SHA256: auth.HashToken(relayToken)}}})
	relays, err := auth.ParseTokens(data)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(e.invAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken(edgeToken, false)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	cfg := provisionhttp.Defaults()
	// Run serves its own (unused) port and runs the event publisher and
	// the PhoneChanged consumer; phones reach the handler on lis, whose
	// address inventory had to know first.
	cfg.HTTPAddr, cfg.HTTPSAddr, cfg.AdminAddr = "127.0.0.1:0", "", ""
	if mutate != nil {
		mutate(&cfg)
	}
	r := &realEdge{reg: prometheus.NewRegistry(), base: base}
	r.svc, err = provisionhttp.New(cfg, provisionhttp.Deps{
		Logger: logger(t), Registerer: r.reg, JetStream: e.js, Relays: relays,
		Inventory: inventoryv1.NewInventoryServiceClient(cc), Renderer: rendererv1.NewConfigRendererServiceClient(cc),
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, e.ctx, "provision-http", r.svc.Run)
	waitFor(t, "edge ready", func() bool { return r.svc.Ready() == nil })
	srv := &http.Server{Handler: r.svc.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Close() })
	return e, r
}

// TestTFTPCisco7960 runs the whole real chain: a simulated 7960 with its
// own MAC and address in a network namespace fetches SIPDefault.cnf and
// SIP<MAC>.cnf by TFTP from the real pnp-listener, which identifies it by
// the kernel's neighbour entry and relays to the real provision-http with
// its link assertion; the edge has the real config-renderer render the
// file for the real inventory's profile. The phone gets its account, ends
// PROVISIONED with its release bound to link:{mac} (FETCH_PROOF_LINK). A
// second host naming its MAC, and the phone naming another MAC, are
// refused; afterwards the phone's URL without the assertion (a leaked
// token), or with a forged one, gets the common 404.
func TestTFTPCisco7960(t *testing.T) {
	e, edge := newTFTPEnv(t, nil, "phone", "intruder")
	const mac = "0019aab2c3d4"
	e.setMAC("phone", mac)
	e.setMAC("intruder", "0019aaffffff")
	e.assign(mac, "7960")
	e.startListener(func(c *pnplistener.Config) { c.TFTPAddr = ":69" })
	server := e.pbx.Addr().String() + ":69"
	phone, intruder := e.lan.Host("phone"), e.lan.Host("intruder")

	got, err := tftptest.Get(t, phone, server, "SIPDefault.cnf")
	if err != nil || !strings.Contains(got, "# Dialtone: Cisco 7940/7960 SIPDefault.cnf") || strings.Contains(got, "s3cret") {
		t.Fatalf("SIPDefault.cnf: %q, %v", got, err)
	}
	own := "SIP" + strings.ToUpper(mac) + ".cnf"
	got, err = tftptest.Get(t, phone, server, own)
	if err != nil || !strings.Contains(got, `line1_password: "s3cret-`+mac+`"`) || !strings.Contains(got, `line1_name: "2`+mac[9:]+`"`) ||
		!strings.Contains(got, `proxy1_address: "`+e.pbx.Addr().String()+`"`) {
		t.Fatalf("%s: %q, %v", own, got, err)
	}

	// Inventory: provisioned, bound to the link the listener proved.
	waitFor(t, "phone provisioned with the link proof", func() bool {
		res, err := e.admin.GetPhone(e.ctx, &inventoryv1.GetPhoneRequest{Name: "phones/" + mac})
		p := res.GetPhone()
		return err == nil && p.GetState() == inventoryv1.PhoneState_PHONE_STATE_PROVISIONED &&
			p.GetLastFetch().GetProof() == inventoryv1.FetchProof_FETCH_PROOF_LINK && p.GetLastFetch().GetFileName() == own
	})
	res, err := e.admin.GetPhone(e.ctx, &inventoryv1.GetPhoneRequest{Name: "phones/" + mac})
	if err != nil {
		t.Fatal(err)
	}
	if sr := res.GetPhone().GetSecretRelease(); sr.GetId() != "link:"+mac || sr.GetProof() != inventoryv1.FetchProof_FETCH_PROOF_LINK {
		t.Fatalf("release %v, want link:%s by FETCH_PROOF_LINK", sr, mac)
	}
	if n := edge.counter(t, "dialtone_provision_http_link_assertions_total", "outcome", "honoured"); n != 2 {
		t.Errorf("edge honoured %v link assertions, want 2", n)
	}

	// Another host naming the phone's MAC: refused, never relayed.
	if got, err := tftptest.Get(t, intruder, server, own); err == nil || !strings.Contains(err.Error(), "file not found") {
		t.Fatalf("intruder got %q, %v", got, err)
	}
	// Its common file is its own (unknown to inventory): nothing.
	if got, err := tftptest.Get(t, intruder, server, "SIPDefault.cnf"); err == nil {
		t.Fatalf("intruder got SIPDefault.cnf: %q", got)
	}
	// The phone asking for another MAC's file: refused too.
	if _, err := tftptest.Get(t, phone, server, "SIP0019AAFFFFFF.cnf"); err == nil {
		t.Fatal("phone got another phone's file")
	}
	waitFor(t, "served counted", func() bool {
		return e.counter("dialtone_pnp_listener_tftp_requests_total", "outcome", "served") == 2
	})
	if n := e.counter("dialtone_pnp_listener_tftp_requests_total", "outcome", "mac_mismatch"); n != 2 {
		t.Errorf("mac_mismatch = %v, want 2", n)
	}
	if n := e.counter("dialtone_pnp_listener_tftp_requests_total", "outcome", "unknown_phone"); n != 1 {
		t.Errorf("unknown_phone = %v, want 1", n)
	}

	// The phone's URL fetched directly, as the relay does but without its
	// credential: the token alone is a weaker second identity (404), and a
	// forged assertion is ignored and counted.
	url, _ := e.url(mac)
	for i, hdr := range []map[string]string{nil, {provisionhttp.LinkProofHeader: mac}} {
		req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/"+own, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", "dialtone-pnp-listener-tftp (MAC:"+strings.ToUpper(mac)+")")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("direct fetch %d of the phone's URL: %d, want 404", i, resp.StatusCode)
		}
	}
	if n := edge.counter(t, "dialtone_provision_http_link_assertions_total", "outcome", "no_credential"); n != 1 {
		t.Errorf("edge no_credential = %v, want 1", n)
	}
}

// TestTFTPCisco7961SEP: a 79x1-family phone (7961G) on the LAN asks the TFTP
// front for its trust lists first and gets a clean "file not found" (we sign
// none), then SEP<MAC>.cnf.xml: the account rendered by the real
// config-renderer, relayed through the real edge with the link proof, and
// the phone ends provisioned, bound to its link.
func TestTFTPCisco7961SEP(t *testing.T) {
	e, edge := newTFTPEnv(t, nil, "phone")
	const mac = "0019aab2c3d5"
	e.setMAC("phone", mac)
	e.assign(mac, "7961G")
	e.startListener(func(c *pnplistener.Config) { c.TFTPAddr = ":69" })
	server := e.pbx.Addr().String() + ":69"
	phone := e.lan.Host("phone")

	for _, name := range []string{"CTLSEP" + strings.ToUpper(mac) + ".tlv", "ITLSEP" + strings.ToUpper(mac) + ".tlv"} {
		if got, err := tftptest.Get(t, phone, server, name); err == nil || !strings.Contains(err.Error(), "file not found") {
			t.Fatalf("%s: %q, %v; want file not found", name, got, err)
		}
	}
	own := "SEP" + strings.ToUpper(mac) + ".cnf.xml"
	got, err := tftptest.Get(t, phone, server, own)
	if err != nil || !strings.Contains(got, "<authPassword>s3cret-"+mac+"</authPassword>") ||
		!strings.Contains(got, "<authName>2"+mac[9:]+"</authName>") || !strings.Contains(got, "<proxy>"+e.pbx.Addr().String()+"</proxy>") {
		t.Fatalf("%s: %q, %v", own, got, err)
	}
	waitFor(t, "phone provisioned with the link proof", func() bool {
		res, err := e.admin.GetPhone(e.ctx, &inventoryv1.GetPhoneRequest{Name: "phones/" + mac})
		p := res.GetPhone()
		return err == nil && p.GetState() == inventoryv1.PhoneState_PHONE_STATE_PROVISIONED &&
			p.GetLastFetch().GetProof() == inventoryv1.FetchProof_FETCH_PROOF_LINK && p.GetLastFetch().GetFileName() == own &&
			p.GetSecretRelease().GetId() == "link:"+mac
	})
	if n := edge.counter(t, "dialtone_provision_http_link_assertions_total", "outcome", "honoured"); n < 1 {
		t.Errorf("edge honoured %v link assertions, want at least 1", n)
	}
}
