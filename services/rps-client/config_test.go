package rpsclient

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/config"
)

func TestConfigFlagsAndEnv(t *testing.T) {
	fs := flag.NewFlagSet("rps-client", flag.ContinueOnError)
	c := Defaults()
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--base-url", "yealink-rps=http://127.0.0.1:1,snom-sraps=https://sraps.test/api/v1/",
		"--base-url", "poly-ztp=http://127.0.0.1:2/v1", "--retry-base", "2s"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DIALTONE_RPS_CLIENT_CREDENTIALS_DIR": "/etc/dialtone/rps", "DIALTONE_RPS_CLIENT_RETRY_BASE": "9s"}
	if err := config.ApplyEnv(fs, "DIALTONE_RPS_CLIENT", func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.CredentialsDir != "/etc/dialtone/rps" || c.RetryBase != 2*time.Second || len(c.BaseURLs) != 3 ||
		c.BaseURLs["snom-sraps"] != "https://sraps.test/api/v1/" {
		t.Fatalf("%+v", c)
	}
	if c.GRPCAddr != ":9092" || c.AdminAddr != ":9192" || c.Consumer != "rps-client-changes" {
		t.Fatalf("defaults %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := map[string]func(*Config){
		"unknown api":      func(c *Config) { c.BaseURLs = BaseURLs{"nokia-rps": "https://x"} },
		"base url scheme":  func(c *Config) { c.BaseURLs = BaseURLs{"poly-ztp": "ftp://x"} },
		"retry max < base": func(c *Config) { c.RetryMax = time.Second; c.RetryBase = time.Minute },
		"lock ttl":         func(c *Config) { c.LockTTL = time.Second },
		"vendor rate":      func(c *Config) { c.VendorRate = -1 },
		"vendor burst":     func(c *Config) { c.VendorBurst = 0 },
		"deregistered ttl": func(c *Config) { c.DeregisteredTTL = -time.Hour },
		"sweep interval":   func(c *Config) { c.SweepInterval = 0 },
		"log level":        func(c *Config) { c.LogLevel = "loud" },
		"nats url":         func(c *Config) { c.NATSURL = "http://x" },
		"redis url":        func(c *Config) { c.RedisURL = "mysql://x" },
		"sentinel":         func(c *Config) { c.RedisSentinelAddrs = "nohost"; c.RedisMasterName = "" },
		"grpc addr":        func(c *Config) { c.GRPCAddr = "9092" },
		"consumer":         func(c *Config) { c.Consumer = "" },
	}
	for name, mut := range bad {
		c := Defaults()
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The one-process dialtone clears the addresses it does not use and
	// passes Deps.Store.
	c := Defaults()
	c.RedisURL, c.NATSURL, c.InventoryAddr = "", "", ""
	if err := c.Validate(); err != nil {
		t.Errorf("without Redis: %v", err)
	}
	var b BaseURLs
	if err := b.Set("novalue"); err == nil || !strings.Contains(err.Error(), "api=url") {
		t.Errorf("Set: %v", err)
	}
}
