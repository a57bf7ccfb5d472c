// Command edgebench starts provision-http on a loopback port with inventory
// and config-renderer in the same process, seeds phones, and prints what
// bench/wrk_vs_nginx.sh needs (URL, User-Agent, a copy of the served file
// for nginx, a wrk Lua script for the cold path). It runs until interrupted.
//
// Modes: warm (one phone, caches on: the steady state of polling phones) and
// cold (many phones, token and file caches off: every request resolves the
// token with inventory and renders the file).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/upstreamtest"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
	"github.com/dialtone-voip/dialtone/services/provision-http/edgetest"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "edgebench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("edgebench", flag.ContinueOnError)
	mode := fs.String("mode", "warm", "warm or cold")
	nPhones := fs.Int("phones", 2000, "phones to seed in cold mode")
	dir := fs.String("dir", "", "directory for static/, cold.lua and access.log (required)")
	accessLog := fs.Bool("access-log", true, "write the edge's access log to dir/edge-access.log")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || (*mode != "warm" && *mode != "cold") {
		return fmt.Errorf("need -dir and -mode warm|cold")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	n := 1
	if *mode == "cold" {
		n = *nPhones
	}
	ns, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: filepath.Join(*dir, "nats"), Port: -1})
	if err != nil {
		return err
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, js, err := natsjs.Connect(ctx, ns.ClientURL(), nil)
	if err != nil {
		return err
	}
	defer nc.Close()
	up, err := upstreamtest.Start(ctx, upstreamtest.Options{Dir: *dir, JetStream: js})
	if err != nil {
		return err
	}
	defer up.Close()
	phones, err := seed(ctx, up, n)
	if err != nil {
		return err
	}
	conn, err := edgetest.Dial(up.Addr, upstreamtest.EdgeToken)
	if err != nil {
		return err
	}
	defer conn.Close()

	logOut := io.Discard
	if *accessLog {
		f, err := os.Create(filepath.Join(*dir, "edge-access.log"))
		if err != nil {
			return err
		}
		defer f.Close()
		// As cmd/provision-http does: access-log lines batched into few writes.
		bw := logging.NewBufferedWriter(f, 64<<10, 200*time.Millisecond)
		defer bw.Close()
		logOut = bw
	}
	log, err := logging.New(logOut, "json", "info")
	if err != nil {
		return err
	}
	cfg := provisionhttp.Defaults()
	cfg.HTTPAddr, cfg.HTTPSAddr = "127.0.0.1:0", ""
	cfg.AccessLog = *accessLog
	if *mode == "cold" {
		cfg.TokenCacheSize, cfg.FileCacheBytes = 0, 0
	}
	svc, err := provisionhttp.New(cfg, provisionhttp.Deps{
		Logger:    log,
		Inventory: inventoryv1.NewInventoryServiceClient(conn),
		Renderer:  rendererv1.NewConfigRendererServiceClient(conn),
		JetStream: js,
	})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	for svc.Ready() != nil {
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
	base := "http://" + svc.HTTPAddr().String()
	p := phones[0]

	// Fetch the file once through the edge and keep it for nginx.
	body, err := get(base+p.Path, p.UserAgent)
	if err != nil {
		return err
	}
	static := filepath.Join(*dir, "static")
	if err := os.MkdirAll(static, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(static, p.File), body, 0o644); err != nil {
		return err
	}
	if *mode == "cold" {
		var b strings.Builder
		// Each request: a random phone, with its own User-Agent (its MAC).
		b.WriteString("local phones = {\n")
		for _, ph := range phones {
			fmt.Fprintf(&b, "  {%q, %q},\n", ph.Path, ph.UserAgent)
		}
		b.WriteString("}\nmath.randomseed(os.time())\nrequest = function()\n" +
			"  local p = phones[math.random(#phones)]\n" +
			"  return wrk.format(\"GET\", p[1], {[\"User-Agent\"] = p[2]})\nend\n")
		if err := os.WriteFile(filepath.Join(*dir, "cold.lua"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	free, err := freePort()
	if err != nil {
		return err
	}
	fmt.Printf("EDGE_URL=%s%s\nEDGE_BASE=%s\nUSER_AGENT=%s\nSTATIC_FILE=%s\nFREE_PORT=%d\nUPSTREAMS=%s\nREADY=1\n",
		base, p.Path, base, p.UserAgent, p.File, free, "real inventory (bolt, JetStream) + config-renderer, loopback gRPC")
	select {
	case <-ctx.Done():
		return <-done
	case err := <-done:
		return err
	}
}

// phone is a seeded phone: the path of its per-MAC file and its User-Agent.
type phone struct {
	Path, File, UserAgent string
}

// seed adds n assigned Yealink T54W phones through inventory's API.
func seed(ctx context.Context, up *upstreamtest.Upstreams, n int) ([]phone, error) {
	phones := make([]phone, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			mac := fmt.Sprintf("001565%06x", i+1)
			tok, err := up.AddPhone(ctx, upstreamtest.Phone{MAC: mac, Vendor: "yealink", Model: "T54W", Assigned: true,
				SIPPassword: "bench-sip-secret", WebPassword: "bench-web-secret"})
			if err != nil {
				errs <- err
				return
			}
			phones[i] = phone{
				Path:      "/p/" + tok + "/" + mac + ".cfg",
				File:      mac + ".cfg",
				UserAgent: fmt.Sprintf("Yealink SIP-T54W 96.86.0.100 %s:%s:%s:%s:%s:%s", mac[0:2], mac[2:4], mac[4:6], mac[6:8], mac[8:10], mac[10:12]),
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	return phones, nil
}

func get(url, ua string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", ua)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET through the edge: %s", resp.Status)
	}
	return b, err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
