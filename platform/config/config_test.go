package config

import (
	"flag"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	GRPCAddr string
	Workers  int
	Timeout  time.Duration
	Password string
	Debug    bool
}

func (c *testConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.GRPCAddr, "grpc-addr", "127.0.0.1:9090", "gRPC listen address")
	fs.IntVar(&c.Workers, "workers", 1, "worker count")
	fs.DurationVar(&c.Timeout, "timeout", time.Second, "timeout")
	fs.StringVar(&c.Password, "redis-password", "", "Redis password")
	fs.BoolVar(&c.Debug, "debug", false, "debug")
}

func parse(t *testing.T, args []string, env map[string]string) (testConfig, error) {
	t.Helper()
	var c testConfig
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	err := ApplyEnv(fs, "DIALTONE_INVENTORY", func(k string) string { return env[k] })
	return c, err
}

func TestApplyEnvPrecedence(t *testing.T) {
	env := map[string]string{
		"DIALTONE_INVENTORY_GRPC_ADDR":      "0.0.0.0:1",
		"DIALTONE_INVENTORY_WORKERS":        "8",
		"DIALTONE_INVENTORY_TIMEOUT":        "3s",
		"DIALTONE_INVENTORY_REDIS_PASSWORD": "pw",
		"DIALTONE_INVENTORY_DEBUG":          "true",
		"GRPC_ADDR":                         "ignored:1",
	}
	c, err := parse(t, []string{"--grpc-addr", "127.0.0.1:7", "--workers=2"}, env)
	if err != nil {
		t.Fatal(err)
	}
	want := testConfig{GRPCAddr: "127.0.0.1:7", Workers: 2, Timeout: 3 * time.Second, Password: "pw", Debug: true}
	if c != want {
		t.Errorf("got %+v, want %+v (flags must win over env)", c, want)
	}

	c, err = parse(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.GRPCAddr != "127.0.0.1:9090" || c.Workers != 1 {
		t.Errorf("defaults not kept: %+v", c)
	}
}

func TestApplyEnvErrorsNameVariable(t *testing.T) {
	_, err := parse(t, nil, map[string]string{"DIALTONE_INVENTORY_WORKERS": "many", "DIALTONE_INVENTORY_TIMEOUT": "soon"})
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, s := range []string{"DIALTONE_INVENTORY_WORKERS", "DIALTONE_INVENTORY_TIMEOUT"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
}

func TestApplyEnvSecretNotInError(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Var(quoting{}, "sip-password", "")
	err := ApplyEnv(fs, "X", func(string) string { return "s3cr3t-value" })
	if err == nil || strings.Contains(err.Error(), "s3cr3t-value") || !strings.Contains(err.Error(), "X_SIP_PASSWORD") {
		t.Fatalf("error = %v", err)
	}
}

type quoting struct{}

func (quoting) String() string { return "" }
func (quoting) Set(v string) error {
	return &parseErr{v}
}

type parseErr struct{ v string }

func (e *parseErr) Error() string { return "cannot parse " + e.v }

func TestEnvName(t *testing.T) {
	for _, tc := range [][3]string{
		{"DIALTONE", "grpc-addr", "DIALTONE_GRPC_ADDR"},
		{"DIALTONE_", "nats.url", "DIALTONE_NATS_URL"},
		{"", "log-level", "LOG_LEVEL"},
	} {
		if got := EnvName(tc[0], tc[1]); got != tc[2] {
			t.Errorf("EnvName(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

func TestHostPort(t *testing.T) {
	for s, ok := range map[string]bool{
		"127.0.0.1:9090": true, ":8080": true, "[::1]:0": true, "nats:4222": true,
		"127.0.0.1": false, "host:http": false, "host:70000": false, "": false,
	} {
		if err := HostPort(s); (err == nil) != ok {
			t.Errorf("HostPort(%q) = %v", s, err)
		}
	}
}

func TestURL(t *testing.T) {
	for _, tc := range []struct {
		s       string
		schemes []string
		ok      bool
	}{
		{"nats://127.0.0.1:4222", []string{"nats", "tls"}, true},
		{"redis://:pw@localhost:6379/0", nil, true},
		{"unix:///run/redis.sock", []string{"unix", "redis"}, true},
		{"http://x", []string{"nats"}, false},
		{"localhost:6379", nil, false},
		{"redis://", nil, false},
		{"://", nil, false},
	} {
		if err := URL(tc.s, tc.schemes...); (err == nil) != tc.ok {
			t.Errorf("URL(%q, %v) = %v", tc.s, tc.schemes, err)
		}
	}
	err := URL("redis://user:Topsecret1@host:bad/", "redis")
	if err == nil || strings.Contains(err.Error(), "Topsecret1") {
		t.Errorf("URL error = %v; must fail without the password", err)
	}
}

func TestOneOf(t *testing.T) {
	if OneOf("json", "json", "text") != nil || OneOf("xml", "json", "text") == nil {
		t.Error("OneOf wrong")
	}
}

// FuzzURL checks that URL never panics and never quotes the password.
func FuzzURL(f *testing.F) {
	for _, s := range []string{"host:6379/0", "host:bad", "[::1", "h%zz", "", "host/path?q=1"} {
		f.Add("redis", s)
	}
	f.Fuzz(func(t *testing.T, scheme, rest string) {
		const pw = "Pw9QxZ7k"
		if strings.Contains(scheme+rest, "Pw9") {
			return
		}
		err := URL(scheme+"://user:"+pw+"@"+rest, "redis", "rediss")
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Fatalf("password in error: %v", err)
		}
	})
}

func FuzzHostPort(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9090", ":0", "[::1]:1", "x", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { _ = HostPort(s) })
}

func TestURLList(t *testing.T) {
	for _, ok := range []string{"nats://a:4222", "nats://a:4222,nats://b:4222, tls://c:4222"} {
		if err := URLList(ok, "nats", "tls"); err != nil {
			t.Errorf("URLList(%q) = %v", ok, err)
		}
	}
	// Each element is checked: config.URL alone accepts the whole string
	// as one odd host.
	for _, bad := range []string{"nats://a:4222,http://b:4222", "nats://a:4222,", "nats://a:4222,b:4222"} {
		if err := URLList(bad, "nats", "tls"); err == nil {
			t.Errorf("URLList(%q) = nil, want an error", bad)
		}
	}
}
