package pnplan

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/platform/testenv"
	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
)

// TestSippMulticast runs sipp, an independent SIP stack, as phones in the
// phone1 namespace: real multicast SUBSCRIBEs to 224.0.1.75:5060, the
// listener in the pbx namespace, the real inventory behind it. The
// scenario (services/pnp-listener/testdata/sipp/pnp_phone.xml) checks the 200 OK and the NOTIFY
// with the (bootstrap) URL and answers it.
func TestSippMulticast(t *testing.T) {
	testenv.LookBinary(t, "sipp")
	e := newEnv(t, "phone1")
	// sipp plays many phones from one host, so one link-layer address:
	// the check is off here; TestLinkLayerProof covers it.
	e.startListener(func(c *pnplistener.Config) { c.LinkCheck = pnplistener.LinkOff })
	h := e.lan.Host("phone1")
	const calls = 5
	dir := t.TempDir()
	var macs strings.Builder
	macs.WriteString("SEQUENTIAL\n")
	for i := range calls {
		fmt.Fprintf(&macs, "001565%06x\n", 0xabc000+i)
	}
	inf := filepath.Join(dir, "macs.csv")
	if err := os.WriteFile(inf, []byte(macs.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	scenario, err := filepath.Abs(filepath.Join("..", "..", "..", "services", "pnp-listener", "testdata", "sipp", "pnp_phone.xml"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.Command("sipp", "-sf", scenario, "-inf", inf, "-i", h.Addr().String(), "-p", "5060",
		"-m", fmt.Sprint(calls), "-r", "5", "-nostdin", "-timeout", "60s", "-timeout_error",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"), group)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		t.Fatalf("sipp: %v\n%s\n%s", err, tailBytes(out, 1500), tailBytes(errs, 1500))
	}
	for i := range calls {
		mac := fmt.Sprintf("001565%06x", 0xabc000+i)
		if got := e.discoveries(mac); got != 1 {
			t.Errorf("%s: %d discoveries, want 1", mac, got)
		}
	}
}

func tailBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
