package inventory_test

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/config"
	"github.com/dialtone-voip/dialtone/services/inventory"
)

func parse(t *testing.T, args []string, env map[string]string) (inventory.Config, error) {
	t.Helper()
	var c inventory.Config
	fs := flag.NewFlagSet("inventory", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := config.ApplyEnv(fs, "DIALTONE_INVENTORY", func(k string) string { return env[k] }); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func TestConfigDefaultsAndEnv(t *testing.T) {
	c, err := parse(t, []string{"--edge-https-base", "https://prov.example.com"}, map[string]string{
		"DIALTONE_INVENTORY_TOKEN_GRACE":     "2h",
		"DIALTONE_INVENTORY_BOOTSTRAP":       "false",
		"DIALTONE_INVENTORY_EDGE_HTTPS_BASE": "https://ignored.example.com", // the flag wins
		"DIALTONE_INVENTORY_DATA_DIR":        "/var/lib/dialtone",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.GRPCAddr != ":9090" || c.AdminAddr != ":9190" || c.TokenGrace != 2*time.Hour || c.Bootstrap ||
		c.EdgeHTTPSBase != "https://prov.example.com" || c.StorePath() != "/var/lib/dialtone/inventory.db" || c.RedisKeyPrefix != "{dt}:" {
		t.Fatalf("config: %+v", c)
	}
	c, err = parse(t, []string{"--edge-http-base", "http://p", "--redis-sentinel-addrs", "a:26379, b:26379", "--redis-master-name", "m"}, nil)
	if err != nil || len(c.SentinelAddrs()) != 2 || c.SentinelAddrs()[1] != "b:26379" {
		t.Fatalf("sentinel: %v %v", c.SentinelAddrs(), err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "edge"},
		{[]string{"--edge-http-base", "https://x"}, "--edge-http-base"},
		{[]string{"--edge-https-base", "http://x"}, "--edge-https-base"},
		{[]string{"--edge-http-base", "http://x", "--redis-url", "redis://h:1", "--redis-sentinel-addrs", "a:1"}, "exclude"},
		{[]string{"--edge-http-base", "http://x", "--redis-sentinel-addrs", "a:1"}, "--redis-master-name"},
		{[]string{"--edge-http-base", "http://x", "--redis-url", "http://h"}, "--redis-url"},
		{[]string{"--edge-http-base", "http://x", "--bolt-path", "/x", "--redis-url", "redis://h:1"}, "not both"},
		{[]string{"--edge-http-base", "http://x", "--token-grace", "1000h"}, "--token-grace"},
		{[]string{"--edge-http-base", "http://x", "--log-format", "xml"}, "--log-format"},
		{[]string{"--edge-http-base", "http://x", "--log-level", "loud"}, "--log-level"},
		{[]string{"--edge-http-base", "http://x", "--admin-addr", "x"}, "--admin-addr"},
		{[]string{"--edge-http-base", "http://x", "--nats-url", "http://n"}, "--nats-url"},
		{[]string{"--edge-http-base", "http://x", "--redis-key-prefix", "a b"}, "--redis-key-prefix"},
		{[]string{"--edge-http-base", "http://x", "--password-hash-cost", "3"}, "--password-hash-cost"},
		{[]string{"--edge-http-base", "http://x", "--password-hash-cost", "17"}, "--password-hash-cost"},
	} {
		_, err := parse(t, tc.args, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}
