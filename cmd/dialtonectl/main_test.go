package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Usage: dialtonectl") || isTerminal(&out) {
		t.Errorf("help: %q", out.String())
	}
	if err := run(context.Background(), []string{"nope"}, func(string) string { return "" }, &out, &errOut); err == nil {
		t.Error("unknown command accepted")
	}
}
