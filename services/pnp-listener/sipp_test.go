package pnplistener

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/platform/inventorytest"
	"github.com/dialtone-voip/dialtone/platform/testenv"
)

// macFile writes a sipp injection file with n MACs starting at base.
func macFile(t *testing.T, n int, base uint64) string {
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for i := range n {
		fmt.Fprintf(&b, "%012x\n", base+uint64(i))
	}
	p := filepath.Join(t.TempDir(), "macs.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSippPhone plays phones with sipp, an independent SIP stack, against
// the listener on loopback: testdata/sipp/pnp_phone.xml checks the 200 OK
// (To-tag, Expires: 0, Contact) and the NOTIFY (application/url,
// Subscription-State terminated, Event ua-profile, an http(s) URL) and
// answers it. sipp fails the call on any mismatch or timeout.
func TestSippPhone(t *testing.T) {
	sipp := testenv.LookBinary(t, "sipp")
	h := startLoopback(t, nil, nil)
	h.inv.SetFallback(&inventorytest.Entry{URL: testURL})
	const calls = 20
	dir := t.TempDir()
	scenario, err := filepath.Abs(filepath.Join("testdata", "sipp", "pnp_phone.xml"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sipp, "-sf", scenario,
		"-inf", macFile(t, calls, 0x001565000100), "-i", "127.0.0.1", "-p", "0",
		"-m", fmt.Sprint(calls), "-r", "50", "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err",
		"-error_file", filepath.Join(dir, "errors.log"), h.addr)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		t.Fatalf("sipp: %v\n%s\n%s", err, tail(out, 1500), tail(errs, 1500))
	}
	waitFor(t, "NOTIFY outcomes", func() bool { return h.notifies(kindBoot, outOK) == calls })
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
