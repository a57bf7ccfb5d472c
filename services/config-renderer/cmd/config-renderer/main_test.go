package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunFlagsAndEnv(t *testing.T) {
	// -h prints usage and returns flag.ErrHelp, which main exits 0 on.
	if err := run(context.Background(), []string{"-h"}, func(string) string { return "" }); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	err := run(context.Background(), nil, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "tokens-file") {
		t.Errorf("missing tokens file: %v", err)
	}
	env := map[string]string{"DIALTONE_CONFIG_RENDERER_TEMPLATES_DIR": filepath.Join(t.TempDir(), "missing")}
	if err := run(context.Background(), nil, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "templates-dir") {
		t.Errorf("env not applied: %v", err)
	}
}

func TestRunServes(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	// An empty token set is valid; the server starts and stops with ctx.
	if err := os.WriteFile(tokens, []byte(`{"tokens":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := run(ctx, []string{"--tokens-file", tokens, "--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, func(string) string { return "" })
	if err != nil && !strings.Contains(err.Error(), "context") {
		t.Logf("run: %v", err)
	}
}
