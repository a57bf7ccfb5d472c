package pnplan

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/dialtone-voip/dialtone/platform/testenv/lantest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
)

const edgeToken = "edge-token-for-tests-0123456789abcdef0123456789"

// tftpEdge stands in for provision-http in front of the real inventory: it
// resolves the token in the path with GetProvisioningProfile (role edge)
// and writes the phone's account in the 7940/7960 SIP<MAC>.cnf form, so a
// file reaching the phone proves the whole chain: link-layer identity →
// the phone's URL → the edge → TFTP.
func tftpEdge(t *testing.T, e *env, lis net.Listener) {
	edge := dial(t, e.invAddr, edgeToken)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/p/"), "/")
		if len(parts) != 2 {
			http.NotFound(w, r)
			return
		}
		res, err := edge.GetProvisioningProfile(r.Context(), &inventoryv1.GetProvisioningProfileRequest{Token: parts[0]})
		if err != nil {
			http.NotFound(w, r)
			return
		}
		p := res.GetProfile()
		switch parts[1] {
		case "SIPDefault.cnf":
			fmt.Fprintf(w, "image_version: P0S3-08-12-00\nproxy1_address: \"%s\"\n", p.GetSipServer().GetHost())
		case "SIP" + strings.ToUpper(p.GetMac()) + ".cnf":
			if len(p.GetLines()) == 0 {
				http.NotFound(w, r)
				return
			}
			l := p.GetLines()[0]
			fmt.Fprintf(w, "line1_name: \"%s\"\nline1_authname: \"%s\"\nline1_password: \"%s\"\n", l.GetExtension(), l.GetAuthUser(), l.GetPassword())
		default:
			http.NotFound(w, r)
		}
	})}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Close() })
}

// newTFTPEnv is newEnv with inventory's edge base pointing at tftpEdge.
func newTFTPEnv(t *testing.T, hosts ...string) *env {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, "http://"+lis.Addr().String(), hosts...)
	tftpEdge(t, e, lis)
	return e
}

// tftpGet fetches name from the pbx's TFTP front from inside host's
// namespace (the client's socket is made there).
func tftpGet(t *testing.T, h *lantest.Host, server, name string) (string, error) {
	t.Helper()
	var out string
	var getErr error
	if err := h.Run(func() error {
		c, err := tftp.NewClient(server)
		if err != nil {
			return err
		}
		c.SetTimeout(time.Second)
		c.SetRetries(3)
		wt, err := c.Receive(name, "octet")
		if err != nil {
			getErr = err
			return nil
		}
		var b bytes.Buffer
		_, getErr = wt.WriteTo(&b)
		out = b.String()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out, getErr
}

// TestTFTPCisco7960: a simulated 7960 with its own MAC and address fetches
// SIPDefault.cnf and SIP<MAC>.cnf by TFTP after it was assigned and gets
// its account; a second host naming that MAC is refused, and so is the
// phone's own request for another phone's file.
func TestTFTPCisco7960(t *testing.T) {
	e := newTFTPEnv(t, "phone", "intruder")
	const mac = "0019aab2c3d4"
	e.setMAC("phone", mac)
	e.setMAC("intruder", "0019aaffffff")
	e.assign(mac, "7960")
	e.startListener(func(c *pnplistener.Config) { c.TFTPAddr = ":69" })
	server := e.pbx.Addr().String() + ":69"
	phone, intruder := e.lan.Host("phone"), e.lan.Host("intruder")

	got, err := tftpGet(t, phone, server, "SIPDefault.cnf")
	if err != nil || !strings.Contains(got, `proxy1_address: "`+e.pbx.Addr().String()+`"`) {
		t.Fatalf("SIPDefault.cnf: %q, %v", got, err)
	}
	own := "SIP" + strings.ToUpper(mac) + ".cnf"
	got, err = tftpGet(t, phone, server, own)
	if err != nil || !strings.Contains(got, `line1_password: "s3cret-`+mac+`"`) || !strings.Contains(got, `line1_name: "2`+mac[9:]+`"`) {
		t.Fatalf("%s: %q, %v", own, got, err)
	}

	// Another host naming the phone's MAC: refused, never relayed.
	if got, err := tftpGet(t, intruder, server, own); err == nil || !strings.Contains(err.Error(), "file not found") {
		t.Fatalf("intruder got %q, %v", got, err)
	}
	// Its common file is its own (unknown to inventory): nothing.
	if got, err := tftpGet(t, intruder, server, "SIPDefault.cnf"); err == nil {
		t.Fatalf("intruder got SIPDefault.cnf: %q", got)
	}
	// The phone asking for another MAC's file: refused too.
	if _, err := tftpGet(t, phone, server, "SIP0019AAFFFFFF.cnf"); err == nil {
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
}
