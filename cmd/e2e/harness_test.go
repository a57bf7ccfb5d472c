package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/lantest"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
)

// bins holds the programs under test, built once by TestMain.
var bins struct{ dir, dialtone, ctl, phonesim string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dt-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+"/", "../dialtone", "../dialtonectl", "../phonesim")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the programs:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	bins.dir = dir
	bins.dialtone = filepath.Join(dir, "dialtone")
	bins.ctl = filepath.Join(dir, "dialtonectl")
	bins.phonesim = filepath.Join(dir, "phonesim")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// site is one office: a PBX host running dialtone and a LAN host for phones.
type site struct {
	t          *testing.T
	lan        *lantest.LAN
	pbx, phone *lantest.Host
	dataDir    string
	cert, key  string
	proc       *exec.Cmd
	logs       *logtest.Buffer
	exited     chan struct{} // closed when proc has exited; exitErr is then set
	exitErr    error
	args       []string // more dialtone flags
}

func newSite(t *testing.T) *site {
	t.Helper()
	testenv.RequireRoot(t)
	lan := lantest.New(t, "pbx", "phone")
	s := &site{t: t, lan: lan, pbx: lan.Host("pbx"), phone: lan.Host("phone"), dataDir: t.TempDir()}
	s.cert, s.key = writeCert(t, s.pbx.Addr().String())
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("dialtone output:\n%s", s.logs)
		}
	})
	return s
}

// forSubtest returns a view of the site whose helpers fail t, the subtest,
// instead of the test that built the site.
func (s *site) forSubtest(t *testing.T) *site {
	c := *s
	c.t = t
	return &c
}

func (s *site) pbxAddr() string { return s.pbx.Addr().String() }

// start runs dialtone in the pbx namespace and waits until the admin API answers.
func (s *site) start() {
	s.t.Helper()
	s.startArgs(append(append(s.baseArgs(), "--pbx-host", s.pbxAddr()), s.args...)...)
}

// baseArgs are start's arguments but --pbx-host; later ones win.
func (s *site) baseArgs() []string {
	return []string{
		"--data-dir", s.dataDir,
		"--sip-interfaces", s.pbx.Iface(),
		"--public-host", s.pbxAddr(),
		"--https-addr", ":8443", "--tls-cert", s.cert, "--tls-key", s.key,
		"--log-format", "json", "--log-level", "debug",
	}
}

// startArgs is start with dialtone's arguments given.
func (s *site) startArgs(args ...string) {
	s.t.Helper()
	s.logs = &logtest.Buffer{}
	s.proc = s.pbx.Command(bins.dialtone, args...)
	s.proc.Stdout, s.proc.Stderr = s.logs, s.logs
	if err := s.proc.Start(); err != nil {
		s.t.Fatalf("start dialtone: %v", err)
	}
	s.exited = make(chan struct{})
	go func(p *exec.Cmd, done chan struct{}) { s.exitErr = p.Wait(); close(done) }(s.proc, s.exited)
	deadline := time.Now().Add(60 * time.Second)
	for {
		// The banner is printed once every service is ready.
		if strings.Contains(s.logs.String(), "Dialtone is running") {
			if _, err := s.ctlErr("interfaces", "list"); err == nil {
				return
			}
		}
		select {
		case <-s.exited:
			s.proc = nil
			s.t.Fatalf("dialtone exited early: %v\n%s", s.exitErr, s.logs)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("dialtone not ready after 60s:\n%s", s.logs)
		}
	}
}

// kill stops dialtone with SIGKILL, as a crash would.
func (s *site) kill() {
	s.t.Helper()
	if s.proc == nil {
		return
	}
	s.proc.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.proc = nil
}

// stop ends dialtone gracefully (SIGTERM) and checks it exits cleanly.
func (s *site) stop() {
	if s.proc == nil {
		return
	}
	s.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if s.exitErr != nil {
			s.t.Errorf("dialtone exited with %v after SIGTERM", s.exitErr)
		}
	case <-time.After(30 * time.Second):
		s.proc.Process.Kill()
		<-s.exited
		s.t.Errorf("dialtone did not stop within 30s of SIGTERM")
	}
	s.proc = nil
}

func (s *site) ctlErr(args ...string) (string, error) {
	full := append([]string{"--data-dir", s.dataDir, "--timeout", "10s"}, args...)
	cmd := s.pbx.Command(bins.ctl, full...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("dialtonectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (s *site) ctl(args ...string) string {
	s.t.Helper()
	out, err := s.ctlErr(args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// phoneJSON returns `phones show MAC -o json` decoded.
func (s *site) phoneJSON(mac string) map[string]any {
	s.t.Helper()
	var m map[string]any
	out := s.ctl("phones", "show", mac, "-o", "json")
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		s.t.Fatalf("phones show %s: %v: %s", mac, err, out)
	}
	return m
}

// waitPhone polls until the phone exists and cond holds.
func (s *site) waitPhone(mac string, what string, cond func(map[string]any) bool) map[string]any {
	s.t.Helper()
	var (
		last string
		m    map[string]any
	)
	// Every 200 ms: each check runs dialtonectl.
	if testenv.PollEvery(45*time.Second, 200*time.Millisecond, func() bool {
		out, err := s.ctlErr("phones", "show", mac, "-o", "json")
		if err != nil {
			last = err.Error()
			return false
		}
		last, m = out, nil
		return json.Unmarshal([]byte(out), &m) == nil && cond(m)
	}) != nil {
		s.t.Fatalf("phone %s never %s; last: %s", mac, what, last)
	}
	return m
}

func stateIs(state string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["state"] == state }
}

// phonesim runs phonesim in the phone namespace; the returned func waits for
// it and decodes its JSON report.
func (s *site) phonesim(ctx context.Context, args ...string) func() report {
	s.t.Helper()
	cmd := s.phone.CommandContext(ctx, bins.phonesim, args...)
	var out, errb logtest.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("phonesim: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return func() report {
		s.t.Helper()
		var err error
		select {
		case err = <-done:
		case <-time.After(120 * time.Second):
			cmd.Process.Kill()
			err = <-done
		}
		var r report
		if jerr := json.Unmarshal([]byte(out.String()), &r); jerr != nil {
			s.t.Fatalf("phonesim %s: %v (exit %v)\nstdout: %s\nstderr: %s", strings.Join(args, " "), jerr, err, out.String(), errb.String())
		}
		if err != nil || !r.OK {
			s.t.Fatalf("phonesim %s failed: %v %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, r.Error, out.String(), errb.String())
		}
		return r
	}
}

// report is the part of phonesim's JSON report the tests read.
// linkAddrs numbers the addresses ownLink hands out.
var linkAddrs atomic.Int32

// ownLink gives a simulated PnP phone a link layer of its own on the LAN:
// its MAC as the Ethernet source and an address of its own (answering ARP),
// so dialtone's link-layer check (--pnp-link-check=require) sees a real host.
func (s *site) ownLink() []string {
	n := 100 + int(linkAddrs.Add(1))%150
	a := lantest.Subnet.Addr().As4()
	a[3] = byte(n)
	return []string{"--own-link", netip.AddrFrom4(a).String()}
}

// phonesimFails runs phonesim expecting it to fail (a phone that gets no
// NOTIFY) and returns its report. It may run in a goroutine of its own:
// it reports problems with Errorf.
func (s *site) phonesimFails(ctx context.Context, args ...string) report {
	s.t.Helper()
	cmd := s.phone.CommandContext(ctx, bins.phonesim, args...)
	var out, errb logtest.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var r report
	if jerr := json.Unmarshal([]byte(out.String()), &r); jerr != nil {
		s.t.Errorf("phonesim %s: %v (exit %v)\nstdout: %s\nstderr: %s", strings.Join(args, " "), jerr, err, out.String(), errb.String())
		return r
	}
	if err == nil || r.OK {
		s.t.Errorf("phonesim %s succeeded; want it to fail\nstdout: %s", strings.Join(args, " "), out.String())
	}
	return r
}

type report struct {
	Rounds []struct {
		Trigger string `json:"trigger"`
		URL     string `json:"url"`
	} `json:"rounds"`
	OK     bool   `json:"ok"`
	Error  string `json:"error"`
	Flow   string `json:"flow"`
	Phone  struct{ Vendor, Model, MAC, Firmware string }
	Config *struct {
		Accounts []struct {
			Server      string `json:"server"`
			Port        int    `json:"port"`
			Transport   string `json:"transport"`
			User        string `json:"user"`
			AuthUser    string `json:"auth_user"`
			Password    string `json:"password"`
			DisplayName string `json:"display_name"`
		} `json:"accounts"`
		Codecs          []string `json:"codecs"`
		LanguageTag     string   `json:"language_tag"`
		UTCOffset       *int     `json:"utc_offset_seconds"`
		WebPasswordSet  bool     `json:"web_password_set"`
		WebPassword     string   `json:"web_password"`
		NTPServer       string   `json:"ntp_server"`
		ProvisioningURL string   `json:"provisioning_url"`
	} `json:"config"`
}

// writeCert writes a self-signed certificate for host and returns the files.
func writeCert(t *testing.T, host string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP(host)}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
