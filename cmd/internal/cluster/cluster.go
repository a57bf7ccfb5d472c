package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/dialtone-voip/dialtone/platform/auth"
)

// Member is one process of the cluster.
type Member struct {
	Name  string // e.g. "nats-1", "redis-a", "inventory-2"
	Kind  string // nats, redis, sentinel, inventory, config-renderer, provision-http, rps-client, pnp-listener
	Bin   string
	Args  []string
	Netns string // run inside this namespace (ip netns exec)
	// Ready is an HTTP URL answering 200 when the member is ready, or
	// "tcp://host:port" for a listener, or "".
	Ready string
	// Addr is the member's main listening address, for the fronts.
	Addr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
	// Supervision (see Cluster.Supervise).
	held     bool      // not restarted when it exits (Hold, or Restart/Stop under way)
	restarts int       // restarts made by the supervisor
	crashes  int       // consecutive short-lived runs, for the backoff
	pending  bool      // a supervisor restart is scheduled
	started  time.Time // of the current process
	lastExit string    // how the last process ended, for status
}

// Pid is the running process's id, or 0.
func (m *Member) Pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	select {
	case <-m.exited:
		return 0
	default:
	}
	return m.cmd.Process.Pid
}

// Cluster is a started cluster.
type Cluster struct {
	Layout  Layout
	Members []*Member
	byName  map[string]*Member
	fronts  []*front
	edge    *edgeFront
	log     *slog.Logger

	stateMu  sync.Mutex // serialises WriteState
	supMu    sync.Mutex
	sup      *Supervision // nil: members that exit stay down
	stopping bool
	stopCh   chan struct{} // closed by Stop: pending restarts are dropped
	// bg holds the supervisor's goroutines (restarts, OnChange calls);
	// Stop waits for them, so no state file is written after it returns.
	bg sync.WaitGroup
}

// Binaries are the programs the cluster runs, built by Build.
type Binaries struct {
	Dir string // holds dialtone-cluster, inventory, config-renderer, provision-http, rps-client, pnp-listener, rps-fakes
}

func (b Binaries) path(name string) string { return filepath.Join(b.Dir, name) }

// Build compiles every program from its own main into dir, from the
// repository root.
func Build(ctx context.Context, root, dir string, out io.Writer) (Binaries, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, err
	}
	pkgs := []string{"./cmd/dialtone-cluster", "./cmd/dialtonectl", "./cmd/phonesim",
		"./services/inventory/cmd/inventory", "./services/config-renderer/cmd/config-renderer",
		"./services/provision-http/cmd/provision-http", "./services/rps-client/cmd/rps-client",
		"./services/rps-client/cmd/rps-fakes", "./services/pnp-listener/cmd/pnp-listener"}
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return Binaries{}, fmt.Errorf("go build: %w", err)
	}
	return Binaries{Dir: dir}, nil
}

// Tokens are the bearer tokens of the cluster (written under Dir/tokens).
type Tokens struct {
	Admin, Edge, Listener, Service string
}

func writeTokens(l Layout) (Tokens, error) {
	dir := l.path("tokens")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Tokens{}, err
	}
	var t Tokens
	var entries []auth.TokenEntry
	for _, x := range []struct {
		name string
		role auth.Role
		dst  *string
	}{{"admin", auth.RoleAdmin, &t.Admin}, {"edge", auth.RoleEdge, &t.Edge}, {"listener", auth.RoleListener, &t.Listener}, {"service", auth.RoleService, &t.Service}} {
		// Reuse a token across up/down so dialtonectl keeps working.
		f := filepath.Join(dir, x.name+".token")
		if b, err := os.ReadFile(f); err == nil && len(b) > 0 {
			*x.dst = string(b)
		} else {
			tok, err := auth.GenerateToken()
			if err != nil {
				return Tokens{}, err
			}
			if err := os.WriteFile(f, []byte(tok), 0o600); err != nil {
				return Tokens{}, err
			}
			*x.dst = tok
		}
		entries = append(entries, auth.TokenEntry{Name: x.name, Role: x.role, SHA256: auth.HashToken(*x.dst)})
	}
	b, err := json.MarshalIndent(auth.TokensFile{Tokens: entries}, "", "  ")
	if err != nil {
		return Tokens{}, err
	}
	return t, os.WriteFile(filepath.Join(dir, "tokens.json"), b, 0o600)
}

// members lays out every process of the cluster.
func members(l Layout, b Binaries) []*Member {
	var ms []*Member
	add := func(m *Member) { ms = append(ms, m) }
	tokensFile := l.path("tokens", "tokens.json")
	tok := func(n string) string { return l.path("tokens", n+".token") }

	for i := range 3 {
		var routes []string
		for j := range 3 {
			if j != i {
				routes = append(routes, "nats://"+l.addr(offNATS+10+j))
			}
		}
		n := NATSNode{Name: fmt.Sprintf("nats-%d", i+1), Host: l.Host, Port: l.port(offNATS + i),
			ClusterPort: l.port(offNATS + 10 + i), HTTPPort: l.port(offNATS + 20 + i), Routes: routes,
			StoreDir: l.path("data", fmt.Sprintf("nats-%d", i+1)), ClusterName: "dialtone"}
		add(&Member{Name: n.Name, Kind: "nats", Bin: b.path("dialtone-cluster"), Args: natsNodeArgs(n),
			Ready: "http://" + l.NATSMonitor(i) + "/healthz", Addr: l.addr(offNATS + i)})
	}
	for i, name := range []string{"redis-a", "redis-b"} {
		dir := l.path("data", name)
		args := []string{"--bind", l.Host, "--port", strconv.Itoa(l.port(offRedis + i)), "--dir", dir,
			"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
			"--protected-mode", "no", "--replica-announce-ip", l.Host}
		if i == 1 {
			args = append(args, "--replicaof", l.Host, strconv.Itoa(l.port(offRedis)))
		}
		add(&Member{Name: name, Kind: "redis", Bin: "redis-server", Args: args,
			Ready: "tcp://" + l.addr(offRedis+i), Addr: l.addr(offRedis + i)})
	}
	for i := range 3 {
		name := fmt.Sprintf("sentinel-%d", i+1)
		add(&Member{Name: name, Kind: "sentinel", Bin: sentinelBin(),
			Args:  []string{l.path("data", name, "sentinel.conf"), "--sentinel"},
			Ready: "tcp://" + l.addr(offSentinel+i), Addr: l.addr(offSentinel + i)})
	}
	add(&Member{Name: "rps-fakes", Kind: "rps-fakes", Bin: b.path("rps-fakes"),
		Args:  []string{"--addr", l.FakesAddr(), "--credentials-dir", l.path("rps-credentials"), "--state", l.path("data", "rps-fakes.json")},
		Ready: "http://" + l.FakesAddr() + "/_fakes/counts", Addr: l.FakesAddr()})

	common := func(svc string, i, off int) []string {
		return []string{"--admin-addr", l.addr(off + adminOff + i), "--log-format", "json", "--log-level", "info"}
	}
	for i := range 2 {
		add(&Member{Name: fmt.Sprintf("inventory-%d", i+1), Kind: "inventory", Bin: b.path("inventory"),
			Args: append(common("inventory", i, offInventory), "--grpc-addr", l.addr(offInventory+i),
				"--redis-sentinel-addrs", l.SentinelAddrs(), "--redis-master-name", SentinelMaster,
				"--nats-url", l.NATSURLs(), "--edge-http-base", l.EdgeURL(), "--tokens-file", tokensFile),
			Ready: "http://" + l.addr(offInventory+adminOff+i) + "/readyz", Addr: l.addr(offInventory + i)})
	}
	for i := range 2 {
		add(&Member{Name: fmt.Sprintf("config-renderer-%d", i+1), Kind: "config-renderer", Bin: b.path("config-renderer"),
			Args: append(common("config-renderer", i, offRenderer), "--grpc-addr", l.addr(offRenderer+i),
				"--tokens-file", tokensFile, "--templates-dir", l.path("data", "templates")),
			Ready: "http://" + l.addr(offRenderer+adminOff+i) + "/readyz", Addr: l.addr(offRenderer + i)})
	}
	for i := range 2 {
		add(&Member{Name: fmt.Sprintf("provision-http-%d", i+1), Kind: "provision-http", Bin: b.path("provision-http"),
			Args: append(common("provision-http", i, offEdge), "--http-addr", l.addr(offEdge+i), "--https-addr", "",
				"--inventory-addr", l.InventoryAddr(), "--renderer-addr", l.addr(offRendererFront),
				// The edge front is the trusted proxy: the per-source failure
				// throttle sees the phones' address (one for the whole storm,
				// like a NAT). It stays on: misses of a known token, such as
				// Yealink's optional .boot files, do not count against it.
				"--inventory-token-file", tok("edge"), "--nats-url", l.NATSURLs(), "--trusted-proxies", l.Host+"/32"),
			Ready: "http://" + l.addr(offEdge+adminOff+i) + "/readyz", Addr: l.addr(offEdge + i)})
	}
	for i := range 2 {
		add(&Member{Name: fmt.Sprintf("rps-client-%d", i+1), Kind: "rps-client", Bin: b.path("rps-client"),
			Args: append(common("rps-client", i, offRPS), "--grpc-addr", l.addr(offRPS+i), "--redis-url", "",
				"--redis-sentinel-addrs", l.SentinelAddrs(), "--redis-master-name", SentinelMaster,
				"--nats-url", l.NATSURLs(), "--inventory-addr", l.InventoryAddr(), "--inventory-token-file", tok("service"),
				"--tokens-file", tokensFile, "--credentials-dir", l.path("rps-credentials"), "--credentials-poll", "1s",
				"--vendor-timeout", "2s", "--vendor-rate", "0", "--lock-ttl", "10s", "--retry-base", "200ms", "--retry-max", "2s"),
			Ready: "http://" + l.addr(offRPS+adminOff+i) + "/readyz", Addr: l.addr(offRPS + i)})
	}
	pnp := &Member{Name: "pnp-listener", Kind: "pnp-listener", Bin: b.path("pnp-listener"),
		Args: []string{"--admin-addr", l.addr(offPNPAdmin), "--log-format", "json", "--log-level", "info",
			"--sip-addr", l.SIPAddr(), "--nats-url", l.NATSURLs(), "--inventory-addr", l.InventoryAddr(),
			"--inventory-token-file", tok("listener"), "--listener", "cluster",
			// Discoveries still unpublished when it is restarted during a
			// stream's outage are kept for the next start (chaos test).
			"--outbox-file", l.path("data", "pnp-listener-outbox.jsonl")},
		Ready: "http://" + l.addr(offPNPAdmin) + "/readyz"}
	if l.LAN {
		// The admin port stays on the host side: the listener reaches it
		// through the LAN as the host's address is HostLANAddr.
		pnp.Netns = PBXNetns
		pnp.Args[1] = PBXAddr + ":" + strconv.Itoa(l.port(offPNPAdmin))
		pnp.Ready = "http://" + pnp.Args[1] + "/readyz"
		// Bound to the wildcard address: a socket bound to the unicast
		// address would not receive the multicast SUBSCRIBEs.
		pnp.Args = append(pnp.Args, "--sip-interfaces", "eth0", "--sip-addr", ":5060",
			// The storm's thousands of phones share one simulated host (a /24
			// cannot give each its own link layer), so the link-layer proof is
			// off here; link_test.go and bench/storm.sh test it on.
			"--pnp-link-check", "off",
			// For the same reason the per-source datagram limit (50/s, for a
			// flooding host) is off: at 50/s, the storm's SUBSCRIBEs and
			// NOTIFY answers from the one phone host were dropped, and
			// phones waited out their 30 s SUBSCRIBE timeouts. The global
			// limit stays.
			"--rate-per-source", "0")
	}
	// 18 processes on the 2 cores of a test machine answer a quarter of
	// the storm's look-ups in more than 100 ms; at the default 150 ms
	// deadline (and one retry) those phones got no NOTIFY and waited
	// out their 30 s. A dedicated inventory answers in a few ms.
	pnp.Args = append(pnp.Args, "--inventory-timeout", "1s")
	add(pnp)
	return ms
}

// sentinelBin is Debian's redis-sentinel (package redis-sentinel) when
// installed, else redis-server, which is the same program: --sentinel
// selects the mode either way.
func sentinelBin() string {
	if p, err := exec.LookPath("redis-sentinel"); err == nil {
		return p
	}
	return "redis-server"
}

func writeSentinelConf(l Layout, i int) error {
	dir := l.path("data", fmt.Sprintf("sentinel-%d", i+1))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Quorum 2 of 3; a primary is declared down after 1.5s (tests and
	// demos want quick failovers; production keeps Redis's 30s default).
	body := fmt.Sprintf("bind %s\nport %d\ndir %s\nprotected-mode no\nsentinel announce-ip %s\n"+
		"sentinel monitor %s %s %d 2\nsentinel down-after-milliseconds %[5]s 1500\nsentinel failover-timeout %[5]s 6000\nsentinel parallel-syncs %[5]s 1\n",
		l.Host, l.port(offSentinel+i), dir, l.Host, SentinelMaster, l.Host, l.port(offRedis))
	return os.WriteFile(filepath.Join(dir, "sentinel.conf"), []byte(body), 0o600)
}

// Start lays out l.Dir and starts every member, waiting until each is
// ready. On error what was started is stopped again.
func Start(ctx context.Context, l Layout, b Binaries, log *slog.Logger) (c *Cluster, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{"logs", "data/templates", "data/redis-a", "data/redis-b", "rps-credentials"} {
		if err := os.MkdirAll(l.path(d), 0o755); err != nil {
			return nil, err
		}
	}
	if _, err := writeTokens(l); err != nil {
		return nil, err
	}
	for i := range 3 {
		if err := writeSentinelConf(l, i); err != nil {
			return nil, err
		}
	}
	c = &Cluster{Layout: l, byName: map[string]*Member{}, log: log, stopCh: make(chan struct{})}
	c.Members = members(l, b)
	for _, m := range c.Members {
		c.byName[m.Name] = m
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if l.LAN {
		if err := setupLAN(); err != nil {
			return c, err
		}
	}
	for _, f := range []struct {
		off  int
		kind string
	}{{offInventoryFront, "inventory"}, {offRendererFront, "config-renderer"}, {offRPSFront, "rps-client"}} {
		fr, err := startFront(l.addr(f.off), c.byKind(f.kind), log)
		if err != nil {
			return c, err
		}
		c.fronts = append(c.fronts, fr)
	}
	if c.edge, err = startEdgeFront(l.addr(offEdgeFront), c.byKind("provision-http"), log); err != nil {
		return c, err
	}
	// Order: brokers and stores, then the services that need them.
	for _, phase := range [][]string{{"nats", "redis", "rps-fakes"}, {"sentinel"}, {"inventory", "config-renderer"}, {"provision-http", "rps-client", "pnp-listener"}} {
		for _, m := range c.Members {
			if contains(phase, m.Kind) {
				if err := c.launch(m); err != nil {
					return c, err
				}
			}
		}
		for _, m := range c.Members {
			if contains(phase, m.Kind) {
				if err := c.WaitReady(ctx, m.Name, 60*time.Second); err != nil {
					return c, err
				}
			}
		}
		if contains(phase, "nats") {
			if err := ensureReplicatedStreams(ctx, l, log); err != nil {
				return c, err
			}
		}
		if contains(phase, "inventory") {
			pbx := l.Host
			if l.LAN {
				pbx = PBXAddr
			}
			if err := ensureDefaults(ctx, l, pbx); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (c *Cluster) byKind(kind string) []*Member {
	var ms []*Member
	for _, m := range c.Members {
		if m.Kind == kind {
			ms = append(ms, m)
		}
	}
	return ms
}

// EdgeRequests is how many requests the provisioning edge's front has
// received: phones' downloads, a measure of a storm's progress that
// survives replica restarts.
func (c *Cluster) EdgeRequests() uint64 {
	if c.edge == nil {
		return 0
	}
	return c.edge.accepted.Load()
}

// Member returns the member called name, or nil.
func (c *Cluster) Member(name string) *Member { return c.byName[name] }

func (c *Cluster) launch(m *Member) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return c.launchLocked(m)
}

// launchLocked starts m's process; m.mu is held.
func (c *Cluster) launchLocked(m *Member) error {
	logf, err := os.OpenFile(c.Layout.path("logs", m.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	name, args := m.Bin, m.Args
	if m.Netns != "" {
		name, args = "ip", append([]string{"netns", "exec", m.Netns, m.Bin}, m.Args...)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a Ctrl-C at the terminal reaches only the
	// supervisor, which then stops the members in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(logf, "=== start %s %v\n", time.Now().UTC().Format(time.RFC3339Nano), args)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", m.Name, err)
	}
	m.cmd, m.exited, m.started = cmd, make(chan struct{}), time.Now()
	m.starts++
	go func(cmd *exec.Cmd, done chan struct{}) {
		err := cmd.Wait()
		logf.Close()
		// Decided before done is closed: whoever sees the member gone also
		// sees whether a restart is scheduled.
		c.onExit(m, cmd, err)
		close(done)
	}(cmd, m.exited)
	c.log.Info("started", "member", m.Name, "pid", cmd.Process.Pid)
	return nil
}

// WaitReady waits until member name answers its readiness check.
func (c *Cluster) WaitReady(ctx context.Context, name string, timeout time.Duration) error {
	m := c.byName[name]
	if m == nil {
		return fmt.Errorf("no member %q", name)
	}
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: time.Second}
	for {
		m.mu.Lock()
		exited := m.exited
		m.mu.Unlock()
		select {
		case <-exited:
			return fmt.Errorf("%s exited; see %s", name, c.Layout.path("logs", name+".log"))
		default:
		}
		if probe(hc, m.Ready) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v; see %s", name, timeout, c.Layout.path("logs", name+".log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Kill sends SIGKILL to member name and waits until it is gone. Under
// Supervise the member is restarted like after a crash unless it was held
// (Hold) first.
func (c *Cluster) Kill(name string) error {
	return c.signal(name, syscall.SIGKILL, 5*time.Second)
}

// Restart stops member name if it runs (SIGTERM), starts it again, ends
// a Hold and waits until it is ready.
func (c *Cluster) Restart(ctx context.Context, name string) error {
	m := c.byName[name]
	if m == nil {
		return fmt.Errorf("no member %q", name)
	}
	// Held while it is stopped, so the supervisor does not race to start
	// it; the hold ends with the new process (Restart also ends a Hold).
	m.mu.Lock()
	m.held = true
	m.mu.Unlock()
	if m.Pid() != 0 {
		if err := c.signal(name, syscall.SIGTERM, 10*time.Second); err != nil {
			return err
		}
	}
	m.mu.Lock()
	err := c.launchLocked(m)
	m.held, m.crashes = false, 0
	m.mu.Unlock()
	if err != nil {
		return err
	}
	c.changed()
	return c.WaitReady(ctx, name, 60*time.Second)
}

func (c *Cluster) signal(name string, sig syscall.Signal, wait time.Duration) error {
	m := c.byName[name]
	if m == nil {
		return fmt.Errorf("no member %q", name)
	}
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	cmd.Process.Signal(sig)
	// Redis refuses a shutdown while it writes its first AOF after a full
	// sync ("Writing initial AOF, can't exit") and keeps running; the
	// signal is sent again until it goes. Our services take the first
	// SIGTERM as the start of a drain, so they get it once.
	var again <-chan time.Time
	if sig == syscall.SIGTERM && (m.Kind == "redis" || m.Kind == "sentinel") {
		t := time.NewTicker(redisTermRetry)
		defer t.Stop()
		again = t.C
	}
	deadline := time.After(wait)
	for {
		select {
		case <-exited:
			return nil
		case <-again:
			cmd.Process.Signal(sig)
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("%s did not stop within %v of %v; killed", name, wait, sig)
		}
	}
}

// redisTermRetry is how often a Redis member that outlived a SIGTERM
// gets it again.
const redisTermRetry = 500 * time.Millisecond

// Stop ends every member (SIGTERM, services before brokers), closes the
// fronts and removes the namespaces. It is safe to call twice.
func (c *Cluster) Stop() error {
	c.supMu.Lock()
	if !c.stopping {
		c.stopping = true
		close(c.stopCh)
	}
	c.supMu.Unlock()
	var errs []error
	order := map[string]int{"pnp-listener": 0, "provision-http": 1, "rps-client": 1, "config-renderer": 2, "inventory": 2, "rps-fakes": 3, "sentinel": 3, "redis": 4, "nats": 5}
	ms := append([]*Member(nil), c.Members...)
	sort.SliceStable(ms, func(i, j int) bool { return order[ms[i].Kind] < order[ms[j].Kind] })
	for _, m := range ms {
		if err := c.signal(m.Name, syscall.SIGTERM, 15*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range c.fronts {
		f.close()
	}
	c.fronts = nil
	if c.edge != nil {
		c.edge.close()
		c.edge = nil
	}
	if c.Layout.LAN {
		if err := teardownLAN(); err != nil {
			errs = append(errs, err)
		}
	}
	c.bg.Wait()
	return errors.Join(errs...)
}
