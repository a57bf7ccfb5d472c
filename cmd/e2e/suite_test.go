package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
)

// TestPBXHostChange: --pbx-host given on a later start changes the default
// SIP interface (the phones' files name the new host) and the banner says
// so; a start without the flag keeps and shows what the store holds. The
// "Next: extensions add" hint shows only while there is no extension. At
// info level a session of normal use logs no NotFound call, describes the
// embedded NATS as embedded and exits without a warning.
func TestPBXHostChange(t *testing.T) {
	s := newSite(t)
	s.start()
	if out := s.logs.String(); !strings.Contains(out, "phones register to "+s.pbxAddr()+" ") || !strings.Contains(out, "Next: ") {
		t.Fatalf("first banner:\n%s", out)
	}
	s.ctl("extensions", "add", "501", "--name", "Moves", "--password", "pbx-move-pw-501")
	s.ctl("phones", "add", "--mac", "64167fe50001", "--model", "VVX450", "--vendor", "poly", "--extension", "501")
	url := strings.TrimSpace(s.ctl("phones", "url", "64167fe50001"))
	boot := func(want string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r := s.phonesim(ctx, "boot", "--vendor", "poly", "--model", "VVX450", "--mac", "64167fe50001", "--url", url, "-o", "json")()
		if r.Config == nil || len(r.Config.Accounts) == 0 || r.Config.Accounts[0].Server != want {
			t.Fatalf("account server: %+v, want %s", r.Config, want)
		}
	}
	boot(s.pbxAddr())
	s.stop()

	const newHost = "pbx-new.example.com"
	s.startArgs(append(s.baseArgs(), "--pbx-host", newHost)...)
	out := s.logs.String()
	if !strings.Contains(out, "phones register to "+newHost+" ") || !strings.Contains(out, "--pbx-host changed it from "+s.pbxAddr()) ||
		!strings.Contains(out, "--pbx-host changed the default SIP interface") {
		t.Fatalf("banner or log after --pbx-host %s:\n%s", newHost, out)
	}
	if strings.Contains(out, "Next: ") {
		t.Errorf("the Next hint shows though an extension exists:\n%s", out)
	}
	if list := s.ctl("interfaces", "list"); !strings.Contains(list, newHost) {
		t.Errorf("interfaces list:\n%s", list)
	}
	boot(newHost)
	s.stop()

	// Without --pbx-host the store's host stays and is shown; at info level.
	s.startArgs(append(s.baseArgs(), "--log-level", "info")...)
	if out := s.logs.String(); !strings.Contains(out, "phones register to "+newHost+" ") || strings.Contains(out, "changed it from") {
		t.Fatalf("banner without --pbx-host:\n%s", out)
	}
	if _, err := s.ctlErr("phones", "show", "64167fe5ffff"); err == nil {
		t.Fatal("phones show of an unknown MAC succeeded")
	}
	s.ctl("phones", "list")
	boot(newHost)
	s.stop()
	logs := s.logs.String()
	for _, bad := range []string{`"grpc.code":"NotFound"`, `"level":"WARN"`, "4222"} {
		if strings.Contains(logs, bad) {
			t.Errorf("info logs of normal use and a clean exit contain %s:\n%s", bad, logs)
		}
	}
	if !strings.Contains(logs, "embedded (in-process") {
		t.Errorf("the embedded NATS is not described as embedded:\n%s", logs)
	}

	// A host inventory refuses ends the start with one line, no banner.
	out, err := s.runToExit(append(s.baseArgs(), "--pbx-host", "pbx..example.com")...)
	if err == nil || !strings.Contains(out, "\ndialtone: --pbx-host \"pbx..example.com\": sip_interface.host:") ||
		strings.Contains(out, "Dialtone is running") || strings.Contains(out, "first-run:") {
		t.Errorf("a refused --pbx-host: %v\n%s", err, out)
	}
}

// TestSIPBesidePBX: a program on the PBX host holds UDP 5060. Without
// SO_REUSEADDR on its socket, dialtone exits with one line naming the flag,
// no "running" banner and no doubled prefix; with SO_REUSEADDR (as PBXs open
// it), --sip-bind-mode beside-pbx starts and a phone's SUBSCRIBE is answered
// and followed by its NOTIFY.
func TestSIPBesidePBX(t *testing.T) {
	s := newSite(t)
	hold := func(reuse bool) net.PacketConn {
		t.Helper()
		var pc net.PacketConn
		err := s.pbx.Run(func() error {
			lc := net.ListenConfig{}
			if reuse {
				lc.Control = func(_, _ string, c syscall.RawConn) error {
					var serr error
					if err := c.Control(func(fd uintptr) {
						serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
					}); err != nil {
						return err
					}
					return serr
				}
			}
			var err error
			pc, err = lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:5060")
			return err
		})
		if err != nil {
			t.Fatalf("holding UDP 5060: %v", err)
		}
		return pc
	}

	pbx := hold(false)
	for _, tc := range []struct {
		mode, want string
	}{
		{"alone", "start with --sip-bind-mode beside-pbx"},
		{"beside-pbx", "beside-pbx needs that program to open its socket with SO_REUSEADDR"},
	} {
		out, err := s.runToExit(append(s.baseArgs(), "--pbx-host", s.pbxAddr(), "--sip-bind-mode", tc.mode)...)
		if err == nil {
			t.Fatalf("%s: dialtone started beside a socket without SO_REUSEADDR:\n%s", tc.mode, out)
		}
		var errLines []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "dialtone: ") {
				errLines = append(errLines, l)
			}
		}
		t.Logf("%s: %q", tc.mode, errLines)
		if len(errLines) != 1 || !strings.Contains(errLines[0], tc.want) || !strings.Contains(errLines[0], "address already in use") {
			t.Errorf("%s: want one error line with %q, got %q", tc.mode, tc.want, errLines)
		}
		if strings.Contains(out, "Dialtone is running") || strings.Contains(out, "pnp-listener: pnp-listener") {
			t.Errorf("%s: banner or doubled prefix:\n%s", tc.mode, out)
		}
	}
	pbx.Close()

	pbx = hold(true)
	defer pbx.Close()
	s.startArgs(append(s.baseArgs(), "--pbx-host", s.pbxAddr(), "--sip-bind-mode", "beside-pbx")...)
	if out := s.logs.String(); !strings.Contains(out, "beside the PBX on this host") || !strings.Contains(out, "224.0.1.75:5060") {
		t.Errorf("banner in beside-pbx mode:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := s.phonesim(ctx, append([]string{"boot", "--vendor", "yealink", "--model", "T54W", "--mac", "805ec0e50001",
		"--iface", s.phone.Iface(), "-o", "json"}, s.ownLink()...)...)()
	if r.Config == nil || r.Config.ProvisioningURL == "" {
		t.Fatalf("no configuration after the NOTIFY: %+v", r)
	}
	s.waitPhone("805ec0e50001", "discovered", stateIs("discovered"))
}

// TestHTTPBindFailure: the phones' HTTP port held by another program ends
// dialtone with one line naming --http-addr, and no banner.
func TestHTTPBindFailure(t *testing.T) {
	s := newSite(t)
	var ln net.Listener
	if err := s.pbx.Run(func() (err error) {
		ln, err = net.Listen("tcp4", "0.0.0.0:8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, err := s.runToExit(append(s.baseArgs(), "--pbx-host", s.pbxAddr())...)
	if err == nil {
		t.Fatalf("dialtone started without its HTTP port:\n%s", out)
	}
	var errLines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "dialtone: ") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], "(--http-addr): address already in use") ||
		strings.Contains(errLines[0], "provision-http: provision-http") || strings.Contains(out, "Dialtone is running") {
		t.Errorf("want one line naming --http-addr, no banner; got %q\n%s", errLines, out)
	}
}

// TestHTTPSRefusalNamesDialtoneFlags: without an HTTPS edge, --https is
// refused with the flags dialtone has.
func TestHTTPSRefusalNamesDialtoneFlags(t *testing.T) {
	s := newSite(t)
	s.startArgs(append(s.baseArgs(), "--pbx-host", s.pbxAddr(), "--https-addr", "")...)
	s.ctl("extensions", "add", "601", "--name", "Plain", "--password", "plain-pw-601")
	_, err := s.ctlErr("phones", "add", "--mac", "64167fe60001", "--model", "VVX450", "--extension", "601", "--https")
	if err == nil || !strings.Contains(err.Error(), "--https-addr") || strings.Contains(err.Error(), "edge-https-base") {
		t.Fatalf("phones add --https without an HTTPS edge: %v", err)
	}
}

// TestFetchingThenProvisioned: a phone that fetched only a file without
// its account (Poly's master file) is fetching; the file with the account
// (phone{MAC}.cfg) makes it provisioned.
func TestFetchingThenProvisioned(t *testing.T) {
	s := newSite(t)
	s.start()
	const mac = "64167fe70001"
	s.ctl("extensions", "add", "701", "--name", "Half", "--password", "half-pw-701")
	s.ctl("phones", "add", "--mac", mac, "--model", "VVX450", "--vendor", "poly", "--extension", "701")
	url := strings.TrimSpace(s.ctl("phones", "url", mac))
	// The requests leave from the phone's host: its sockets are made there.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := s.phone.Run(func() (err error) {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
	get := func(file string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url+file, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", "FileTransport PolycomVVX-VVX_450-UA/6.4.6.2568 Type/Application")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", file, resp.Status)
		}
	}
	get(mac + ".cfg")
	ph := s.waitPhone(mac, "fetching", stateIs("fetching"))
	if ph["firmware"] != "6.4.6.2568" {
		t.Errorf("firmware after the first fetch: %v", ph["firmware"])
	}
	if out := s.ctl("phones", "list", "--state", "fetching"); !strings.Contains(out, "64:16:7f:e7:00:01") || !strings.Contains(out, "fetching") {
		t.Errorf("phones list --state fetching:\n%s", out)
	}
	get("phone" + mac + ".cfg")
	s.waitPhone(mac, "provisioned", stateIs("provisioned"))
}

// runToExit runs dialtone in the pbx namespace until it exits on its own
// (at most 60 s) and returns its output and exit error.
func (s *site) runToExit(args ...string) (string, error) {
	s.t.Helper()
	var out logtest.Buffer
	cmd := s.pbx.Command(bins.dialtone, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			s.t.Fatal(err)
		}
		return out.String(), err
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		s.t.Fatalf("dialtone still running after 60s:\n%s", out.String())
		return "", nil
	}
}
