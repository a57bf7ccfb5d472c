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
