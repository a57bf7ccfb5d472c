package suite

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/dialtone-voip/dialtone/platform/config"
)

func parse(t *testing.T, args []string, env map[string]string) Config {
	t.Helper()
	fs := flag.NewFlagSet("dialtone", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c Config
	c.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := config.ApplyEnv(fs, "DIALTONE", func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	c.MarkExplicit(fs)
	return c
}

// TestPBXHostExplicit: --pbx-host counts as given from the command line or
// the environment, never from its default.
func TestPBXHostExplicit(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want bool
	}{
		{nil, nil, false},
		{[]string{"--pbx-host", "pbx.example.com"}, nil, true},
		{nil, map[string]string{"DIALTONE_PBX_HOST": "pbx.example.com"}, true},
		{[]string{"--public-host", "198.18.0.1"}, nil, false},
	} {
		if got := parse(t, tc.args, tc.env).PBXHostExplicit; got != tc.want {
			t.Errorf("%v %v: explicit %v, want %v", tc.args, tc.env, got, tc.want)
		}
	}
}

func TestValidateBindMode(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sip-bind-mode", "beside-pbx", "--sip-reply-port", "5070"}, ""},
		{[]string{"--sip-bind-mode", "next-to"}, "--sip-bind-mode"},
		{[]string{"--sip-reply-port", "70000"}, "--sip-reply-port"},
		{[]string{"--pbx-host", ""}, "--pbx-host"},
	} {
		err := parse(t, tc.args, nil).Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestBindErrorsNameTheFlag: a bind failure is one line that names the
// flag to change, without the service's prefix.
func TestBindErrorsNameTheFlag(t *testing.T) {
	inUse := func(inner string) error {
		return fmt.Errorf("pnp-listener: %w", fmt.Errorf("sipsock: %s: %w", inner, syscall.EADDRINUSE))
	}
	alone := parse(t, nil, nil)
	beside := parse(t, []string{"--sip-bind-mode", "beside-pbx"}, nil)
	https := parse(t, []string{"--https-addr", ":8443"}, nil)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"alone", sipError(inUse("listen 0.0.0.0:5060"), false, alone), "--sip-bind-mode beside-pbx"},
		{"beside group", sipError(inUse("bind 224.0.1.75:5060"), false, beside), "SO_REUSEADDR"},
		{"beside reply", sipError(inUse("reply socket: listen 0.0.0.0:5062"), false, beside), "--sip-reply-port"},
		{"interface", sipError(fmt.Errorf("pnp-listener: %w", errors.New("sipsock: no interface eth9")), false, alone), "--sip-interfaces"},
		{"http", listenError(fmt.Errorf("provision-http: listen :8080: %w",
			&net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}), alone), "--http-addr"},
		{"https", listenError(fmt.Errorf("provision-http: listen :8443: %w",
			&net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}), https), "--https-addr"},
	} {
		var se *startError
		if !errors.As(tc.err, &se) {
			t.Errorf("%s: %v is no startError", tc.name, tc.err)
			continue
		}
		msg := tc.err.Error()
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "pnp-listener:") || strings.Contains(msg, "\n") {
			t.Errorf("%s: %q, want one line naming %s", tc.name, msg, tc.want)
		}
	}
	// A failure while serving is no start-up error and keeps its cause, once.
	if err := listenError(fmt.Errorf("provision-http: serve :8080: %w", &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}), alone); err.Error() != "serve :8080: accept tcp: too many open files" {
		t.Errorf("serve failure: %q", err)
	}
	// A failure after the sockets were open keeps its cause, once.
	if err := sipError(fmt.Errorf("pnp-listener: %w", errors.New("SIP socket: closed")), true, alone); err.Error() != "SIP socket: closed" {
		t.Errorf("runtime failure: %q", err)
	}
}

// TestBannerShowsStore: the host is the store's, the change is said, the
// hint is only for a site without extensions, beside-pbx names its reply port.
func TestBannerShowsStore(t *testing.T) {
	render := func(b bannerInfo) string {
		var sb strings.Builder
		printBanner(&sb, b)
		return sb.String()
	}
	cfg := parse(t, []string{"--pbx-host", "typo.example.com"}, nil)
	out := render(bannerInfo{cfg: cfg, site: siteState{pbxHost: "pbx.example.com"}})
	if !strings.Contains(out, "phones register to pbx.example.com ") || strings.Contains(out, "typo") || !strings.Contains(out, "Next: ") {
		t.Errorf("banner:\n%s", out)
	}
	out = render(bannerInfo{cfg: cfg, site: siteState{pbxHost: "pbx.example.com", previousHost: "old.example.com", hasExtension: true}})
	if !strings.Contains(out, "changed it from old.example.com") || strings.Contains(out, "Next: ") {
		t.Errorf("banner after a change:\n%s", out)
	}
	cfg = parse(t, []string{"--sip-bind-mode", "beside-pbx"}, nil)
	out = render(bannerInfo{cfg: cfg, sipAddr: "224.0.1.75:5060", replyAddr: "0.0.0.0:5062", site: siteState{pbxHost: "pbx"}})
	if !strings.Contains(out, "beside the PBX") || !strings.Contains(out, "0.0.0.0:5062") {
		t.Errorf("beside-pbx banner:\n%s", out)
	}
}
