package phonesim

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/cmd/internal/sipmsg"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, Env{Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errOut})
	return out.String(), err
}

func TestCLIBootURL(t *testing.T) {
	ps := newProvServer(t, "poly")
	out, err := runCLI(t, nil, "boot", "--vendor", "poly", "--model", "VVX450", "--mac", "00-04-F2-AA-BB-CC", "--url", ps.base(), "--values", "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rep struct {
		Report
		Values map[string]string `json:"values"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !rep.OK || rep.Warning != PasswordWarning || rep.Phone.MAC != "0004f2aabbcc" || len(rep.Config.Accounts) != 2 ||
		rep.Config.Accounts[0].Password != "s3cr&t<1>" || rep.Values["reg.1.address"] != "201" {
		t.Errorf("report: %s", out)
	}
	// Without -o json: a summary of about eight lines, without secrets.
	out, err = runCLI(t, nil, "boot", "--vendor", "poly", "--model", "VVX450", "--mac", "00-04-F2-AA-BB-CC", "--url", ps.base())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if n := strings.Count(out, "\n"); n > 9 || !strings.Contains(out, "provisioned in") || !strings.Contains(out, "line 1 201@") ||
		!strings.Contains(out, "password set") || strings.Contains(out, "s3cr&t<1>") || strings.Contains(out, ps.base()) {
		t.Errorf("summary (%d lines):\n%s", n, out)
	}
	// A failing boot exits 1 with the summary printed.
	out, err = runCLI(t, nil, "boot", "--vendor", "poly", "--mac", "0004f2000001", "--url", ps.base(), "-o", "text")
	if err == nil || ExitCode(err) != 1 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "404") {
		t.Errorf("failing boot: %v\n%s", err, out)
	}
}

func TestCLIBootPnPAndStorm(t *testing.T) {
	ps := newProvServer(t, "gigaset")
	r := newMultiResponder(t, func(*sipmsg.Message) string { return ps.base() })
	env := map[string]string{"PHONESIM_MCAST": r.addr().String(), "PHONESIM_LOCAL_ADDR": "127.0.0.1"}
	out, err := runCLI(t, env, "boot", "--vendor", "gigaset", "--model", "N870", "--mac", "7c2f80aabbcc", "--timeout", "5s", "-o", "json")
	if err != nil || !strings.Contains(out, `"response": "200 OK"`) || !strings.Contains(out, `"user": "201"`) {
		t.Fatalf("boot: %v\n%s", err, out)
	}
	// A storm of phones that are not served fails, and says why.
	out, err = runCLI(t, env, "storm", "--vendor", "gigaset", "--count", "5", "--concurrency", "2", "--timeout", "5s", "--mac-prefix", "7C2F80")
	if err == nil || !strings.Contains(out, "0 ok, 5 failed") || !strings.Contains(out, "provisioning failed") {
		t.Errorf("storm: %v\n%s", err, out)
	}
	out, err = runCLI(t, env, "storm", "--vendor", "gigaset", "--count", "1", "--mac-start", int2str(0xaabbcc), "-o", "json", "--timeout", "5s")
	var rep StormReport
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.OK != 1 || rep.FirstMAC != "7c2f80aabbcc" {
		t.Errorf("storm -o json: %v\n%s", err, out)
	}
}

func int2str(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestCLIErrors(t *testing.T) {
	for _, args := range [][]string{
		{"boot"}, {"boot", "--vendor", "nokia"}, {"boot", "--vendor", "snom", "--mac", "xx"},
		{"boot", "--vendor", "snom", "--mcast", "nowhere"}, {"boot", "--vendor", "snom", "-o", "yaml"},
		{"storm", "--vendor", "snom"}, {"storm", "--vendor", "snom", "--count", "2", "--mac-prefix", "12345"},
		{"storm", "--vendor", "snom", "--count", "2", "--concurrency", "0"}, {"fly"}, {"boot", "extra"},
	} {
		if _, err := runCLI(t, nil, args...); ExitCode(err) != 2 {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	for _, args := range [][]string{{"--help"}, {"boot", "--help"}, {"storm", "-h"}, {"vendors", "--help"}} {
		if out, err := runCLI(t, nil, args...); err != nil || !strings.HasPrefix(out, "Usage: phonesim") {
			t.Errorf("%q: %v %q", args, err, out)
		}
	}
	out, err := runCLI(t, nil, "macs", "--vendor", "yealink", "--count", "3", "--mac-start", "254")
	if err != nil || out != "0015650000fe\n0015650000ff\n001565000100\n" {
		t.Errorf("macs: %v %q", err, out)
	}
	out, err = runCLI(t, nil, "macs", "--vendor", "snom", "--count", "2", "--csv", "--extension-start", "500")
	if err != nil || out != "mac,model,vendor,extension,name,password\n000413000000,D785,snom,500,Phone 500,pw-500\n000413000001,D785,snom,501,Phone 501,pw-501\n" {
		t.Errorf("macs --csv: %v %q", err, out)
	}
	if out, err := runCLI(t, nil, "vendors"); err != nil || !strings.Contains(out, "panasonic") {
		t.Errorf("vendors: %v %s", err, out)
	}
	// Poly has no PnP: boot without --url says so.
	if _, err := runCLI(t, map[string]string{"PHONESIM_MCAST": "127.0.0.1:9"}, "boot", "--vendor", "poly"); err == nil || !strings.Contains(err.Error(), "--url") {
		t.Errorf("poly PnP: %v", err)
	}
}
