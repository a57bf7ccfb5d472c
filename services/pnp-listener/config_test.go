package pnplistener

import (
	"flag"
	"testing"
)

func TestListenerFlagSanitises(t *testing.T) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--listener", "ip-10-0-1-2.EC2.internal"}); err != nil {
		t.Fatal(err)
	}
	if c.Listener != "ip-10-0-1-2-ec2-internal" {
		t.Errorf("listener = %q", c.Listener)
	}
	if err := fs.Parse([]string{"--listener", " "}); err == nil {
		t.Error("an empty --listener was accepted")
	}
}

func TestAttackLimitFlags(t *testing.T) {
	c := DefaultConfig()
	if c.Amplification != 3 || c.ShedAt != 0.75 {
		t.Fatalf("defaults: amplification %v shed-at %v", c.Amplification, c.ShedAt)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.Amplification = -1 },
		func(c *Config) { c.ShedAt = 0 },
		func(c *Config) { c.ShedAt = 1.5 },
	} {
		c := DefaultConfig()
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("accepted amplification %v shed-at %v", c.Amplification, c.ShedAt)
		}
	}
}
