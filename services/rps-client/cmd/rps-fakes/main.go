// Command rps-fakes runs the Yealink RPS fake (fakes/yealinkfake)
// as a process, for the local cluster (cmd/dialtone-cluster) and its chaos
// test: rps-client replicas register phones with it as with the real
// vendor. It writes the matching account file into --credentials-dir and
// answers GET /_fakes/counts on --addr with the registrations it counted
// ({"registrations": n, "entries": m}: every MAC registered exactly once
// means n == m).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/yealinkfake"
)

// Account of the fake; a development fake, so the secret is fixed.
const (
	keyID     = "cluster-yealink-key"
	keySecret = "cluster-yealink-SECRET"
)

func main() {
	if err := run(); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "rps-fakes:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("rps-fakes", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9199", "address of the /_fakes/counts endpoint")
	creds := fs.String("credentials-dir", "", "rps-client's credentials directory: _default.yealink.json is written there")
	fs.String("state", "", "unused; reserved")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var tb processTB
	defer tb.cleanup()
	yk := yealinkfake.StartRPS(&tb, yealinkfake.RPSConfig{Key: keyID, Secret: keySecret})
	if *creds != "" {
		b, _ := json.Marshal(map[string]string{"key_id": keyID, "key_secret": keySecret, "base_url": yk.URL})
		if err := os.WriteFile(filepath.Join(*creds, "_default.yealink.json"), b, 0o600); err != nil {
			return err
		}
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_fakes/counts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]int{
			"registrations": yk.Registry.Total(), "entries": yk.Registry.Len(), "requests": yk.Requests(),
		})
	})
	srv := &http.Server{Handler: mux}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// processTB lets the fakes, written for tests, run in a process: cleanups
// run at exit and a fatal error ends the process.
type processTB struct {
	testing.TB
	cleanups []func()
}

func (t *processTB) Helper()          {}
func (t *processTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (t *processTB) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "rps-fakes: "+format+"\n", args...)
	os.Exit(1)
}
func (t *processTB) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (t *processTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
