package servicecmd_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/servicecmd"
)

type testConfig struct {
	Addr    string
	Timeout time.Duration
	Secret  string
}

func (c *testConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "grpc-addr", ":9090", "listen address")
	fs.DurationVar(&c.Timeout, "timeout", time.Second, "a timeout")
	fs.StringVar(&c.Secret, "api-password", "", "a secret")
}

func (c *testConfig) Validate() error {
	if c.Timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	return nil
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParse(t *testing.T) {
	var cfg testConfig
	var extra string
	err := servicecmd.Parse("svc", "DIALTONE_SVC", &cfg, []string{"--timeout", "2s"},
		env(map[string]string{"DIALTONE_SVC_GRPC_ADDR": ":7070", "DIALTONE_SVC_TIMEOUT": "5s", "DIALTONE_SVC_EXTRA": "x"}),
		&bytes.Buffer{}, func(fs *flag.FlagSet) { fs.StringVar(&extra, "extra", "", "") })
	if err != nil {
		t.Fatal(err)
	}
	// The flag wins over the environment; the environment over the default.
	if cfg.Timeout != 2*time.Second || cfg.Addr != ":7070" || extra != "x" {
		t.Fatalf("config %+v, extra %q", cfg, extra)
	}
}

func TestParseErrors(t *testing.T) {
	const secret = "hunter2-do-not-print"
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"unknown flag":      {args: []string{"--nope"}, want: "flag provided but not defined: -nope"},
		"positional":        {args: []string{"serve"}, want: `unexpected argument "serve"`},
		"bad env value":     {env: map[string]string{"DIALTONE_SVC_TIMEOUT": "soon"}, want: "DIALTONE_SVC_TIMEOUT"},
		"validation":        {args: []string{"--timeout", "-1s"}, want: "--timeout must be positive"},
		"secret not echoed": {env: map[string]string{"DIALTONE_SVC_API_PASSWORD": secret, "DIALTONE_SVC_TIMEOUT": "0s"}, want: "--timeout"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := servicecmd.Parse("svc", "DIALTONE_SVC", &testConfig{}, tc.args, env(tc.env), &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error()+stderr.String(), secret) {
				t.Fatal("the secret was printed")
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	err := servicecmd.Parse("svc", "DIALTONE_SVC", &testConfig{}, []string{"--help"}, env(nil), &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: svc [flags]", "DIALTONE_SVC_FOO_BAR", "-grpc-addr"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, stderr.String())
		}
	}
	if code := servicecmd.ExitCode("svc", err, &stderr); code != 0 {
		t.Fatalf("exit code for --help: %d", code)
	}
}

func TestExitCode(t *testing.T) {
	var stderr bytes.Buffer
	if code := servicecmd.ExitCode("svc", nil, &stderr); code != 0 || stderr.Len() != 0 {
		t.Fatalf("nil: %d %q", code, stderr.String())
	}
	if code := servicecmd.ExitCode("svc", fmt.Errorf("listen: %w", os.ErrPermission), &stderr); code != 1 || stderr.String() != "svc: listen: permission denied\n" {
		t.Fatalf("error: %d %q", code, stderr.String())
	}
}

func TestRegistry(t *testing.T) {
	mfs, err := servicecmd.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var goMetrics, process bool
	for _, mf := range mfs {
		goMetrics = goMetrics || strings.HasPrefix(mf.GetName(), "go_")
		process = process || strings.HasPrefix(mf.GetName(), "process_")
	}
	if !goMetrics || !process {
		t.Fatalf("go collector %v, process collector %v", goMetrics, process)
	}
}

func TestTokens(t *testing.T) {
	const plain = "dev-plaintext-token-1234"
	dir := t.TempDir()
	var logs bytes.Buffer
	log, err := logging.New(&logs, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := servicecmd.Tokens("", log); err == nil || !strings.Contains(err.Error(), "--tokens-file") {
		t.Fatalf("no file: %v", err)
	}
	hashed := write(t, dir, "hashed.json", fmt.Sprintf(`{"tokens": [{"name": "a", "role": "admin", "sha256": %q}]}`, auth.HashToken(plain)))
	if ts, err := servicecmd.Tokens(hashed, log); err != nil || ts.Len() != 1 || logs.Len() != 0 {
		t.Fatalf("hashed: %v %v, logs %q", ts, err, logs.String())
	}
	plainFile := write(t, dir, "plain.json", fmt.Sprintf(`{"tokens": [{"name": "a", "role": "admin", "token": %q}]}`, plain))
	if _, err := servicecmd.Tokens(plainFile, log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "plaintext tokens") || strings.Contains(logs.String(), plain) {
		t.Fatalf("want a warning without the token, got %q", logs.String())
	}
	if _, err := servicecmd.Tokens(filepath.Join(dir, "missing.json"), log); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestClientToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	envTok := env(map[string]string{"X_TOKEN": " env-token "})
	for name, tc := range map[string]struct {
		file    string
		getenv  func(string) string
		want    string
		wantErr string
	}{
		"file wins":    {file: file, getenv: envTok, want: "file-token"},
		"environment":  {getenv: envTok, want: "env-token"},
		"neither":      {getenv: env(nil), want: ""},
		"missing file": {file: filepath.Join(dir, "nope"), getenv: envTok, wantErr: "--inventory-token-file"},
		"empty file":   {file: write(t, dir, "empty", " \n"), getenv: envTok, wantErr: "is empty"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := servicecmd.ClientToken("inventory-token-file", tc.file, "X_TOKEN", tc.getenv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
