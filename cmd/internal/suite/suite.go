// Package suite runs every Dialtone service in one process: an embedded NATS
// JetStream server and embedded stores under one data directory, inventory,
// config-renderer and rps-client on one gRPC listener, provision-http on the
// phone-facing HTTP(S) ports and pnp-listener on the SIP port. It is what
// `dialtone` runs, for a newcomer's first try and for a small site.
package suite

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dialtone-voip/dialtone/platform/adminhttp"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/config"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/dialtone-voip/dialtone/services/config-renderer"
	"github.com/dialtone-voip/dialtone/services/inventory"
	"github.com/dialtone-voip/dialtone/services/pnp-listener"
	"github.com/dialtone-voip/dialtone/services/provision-http"
)

// Config is the one-process configuration. Every flag --foo-bar is also the
// environment variable DIALTONE_FOO_BAR.
type Config struct {
	DataDir       string
	SIPAddr       string
	SIPInterfaces string
	SIPBindMode   string
	SIPReplyPort  int
	HTTPAddr      string
	HTTPSAddr     string
	TLSCert       string
	DeviceCADir   string
	TLSKey        string
	GRPCAddr      string
	AdminAddr     string
	// AdminPprof serves net/http/pprof on the admin listener (off by default).
	AdminPprof bool
	// MaxConnsPerSource: provision-http's --max-conns-per-source (0: its default).
	MaxConnsPerSource int
	NATSAddr          string
	PublicHost        string
	PBXHost           string
	// PBXHostExplicit: --pbx-host (or DIALTONE_PBX_HOST) was given, so it
	// replaces the default SIP interface's host; see MarkExplicit.
	PBXHostExplicit bool
	Listener        string
	Bootstrap       bool
	SIPRatePerSrc   float64
	PnPLinkCheck    string
	// TFTPAddr: pnp-listener's read-only TFTP front (Cisco 79xx); "" = off.
	TFTPAddr string
	// Discovered phones: see inventory's --discovered-ttl and --discovered-max.
	DiscoveredTTL time.Duration
	DiscoveredMax int
	LogFormat     string
	LogLevel      string
	BackupConfig
	Console ConsoleConfig
}

// RegisterFlags registers the flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "./dialtone-data", "directory for the embedded store, NATS JetStream files and the admin token")
	fs.StringVar(&c.SIPAddr, "sip-addr", ":5060", "UDP address of the SIP PnP listener (multicast group 224.0.1.75 is joined on this port)")
	fs.StringVar(&c.SIPInterfaces, "sip-interfaces", "", "comma-separated interfaces to join the PnP multicast group on (default: every multicast-capable interface)")
	fs.StringVar(&c.SIPBindMode, "sip-bind-mode", string(pnplistener.BindAlone), "alone (bind --sip-addr) or beside-pbx (a PBX on this host holds UDP 5060: bind 224.0.1.75 so the PBX keeps its unicast; replies from --sip-reply-port)")
	fs.IntVar(&c.SIPReplyPort, "sip-reply-port", 5062, "UDP port our NOTIFYs leave from in beside-pbx mode (0 = ephemeral)")
	fs.StringVar(&c.HTTPAddr, "http-addr", ":8080", "phone-facing HTTP address of the provisioning edge")
	fs.StringVar(&c.HTTPSAddr, "https-addr", "", "phone-facing HTTPS address (needs --tls-cert and --tls-key)")
	fs.StringVar(&c.DeviceCADir, "device-ca-dir", "", "directory of per-vendor CA bundles (<vendor>.pem) that verify phones' factory certificates on --https-addr; reloaded when they change")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM) for --https-addr; reloaded when it changes")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM) for --https-addr")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", "127.0.0.1:9090", "gRPC address of the admin API (inventory, renderer, rps-client)")
	fs.StringVar(&c.AdminAddr, "admin-addr", "127.0.0.1:9190", "address of /healthz, /readyz and /metrics (empty: off)")
	fs.IntVar(&c.MaxConnsPerSource, "max-conns-per-source", provisionhttp.Defaults().MaxConnsPerSource, "open phone connections to the provisioning edge from one IPv4 address or IPv6 /64 (raise it for sites with many phones behind one NAT address)")
	fs.BoolVar(&c.AdminPprof, "admin-pprof", false, "also serve net/http/pprof under /debug/pprof/ on --admin-addr, and sample mutex and blocking events (for profiling a storm; keep --admin-addr on loopback)")
	fs.StringVar(&c.NATSAddr, "nats-addr", "", "also serve the embedded NATS to other processes on this address (default: in-process only)")
	fs.StringVar(&c.PublicHost, "public-host", "", "host name or address phones use to reach the provisioning edge (default: the primary interface's address)")
	fs.StringVar(&c.PBXHost, "pbx-host", "", "SIP server phones register to: the default SIP interface's host, set on first run and changed whenever the flag is given (default: the public host)")
	fs.StringVar(&c.Listener, "listener", "local", "name of this site's PnP listener")
	fs.Float64Var(&c.SIPRatePerSrc, "sip-rate-per-source", 50, "SIP datagrams per second accepted from one address (0 = unlimited; raise it for phones behind one NAT address)")
	fs.StringVar(&c.PnPLinkCheck, "pnp-link-check", pnplistener.LinkRequire, "require: a PnP SUBSCRIBE counts as from a MAC only when the sender's link-layer address is that MAC, and NOTIFYs go only to the phone's; off: believe the MAC a phone names (only where this host cannot see the phones' L2)")
	fs.StringVar(&c.TFTPAddr, "tftp-addr", "", "read-only TFTP front for phones that fetch bare file names (Cisco 79xx) from DHCP option 150, e.g. :69: the phone is the link-layer MAC of the request's source, files come from the edge (empty: off)")
	fs.BoolVar(&c.Bootstrap, "bootstrap", true, "give discovered, unassigned phones a secret-free bootstrap configuration that keeps them polling")
	fs.DurationVar(&c.DiscoveredTTL, "discovered-ttl", 720*time.Hour, "remove discovered, never-assigned PnP phones unseen this long (0: never)")
	fs.IntVar(&c.DiscoveredMax, "discovered-max", 50000, "discovered, never-assigned PnP phones kept per tenant (the one whose pnp_listeners saw them; unclaimed listeners share one pool); the longest unseen are removed first (0: no cap)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	c.BackupConfig.register(fs)
	c.Console.registerFlags(fs)
}

// MarkExplicit records which flags fs was given, on the command line or
// from the environment (call it after config.ApplyEnv).
func (c *Config) MarkExplicit(fs *flag.FlagSet) {
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "pbx-host" {
			c.PBXHostExplicit = true
		}
	})
}

// Validate checks the configuration before anything starts.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.DataDir) == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	for name, addr := range map[string]string{
		"sip-addr": c.SIPAddr, "http-addr": c.HTTPAddr, "https-addr": c.HTTPSAddr,
		"grpc-addr": c.GRPCAddr, "admin-addr": c.AdminAddr, "nats-addr": c.NATSAddr,
	} {
		if addr == "" {
			continue
		}
		if err := config.HostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", name, err))
		}
	}
	if c.GRPCAddr == "" {
		errs = append(errs, errors.New("--grpc-addr must not be empty"))
	}
	if c.HTTPAddr == "" && c.HTTPSAddr == "" {
		errs = append(errs, errors.New("set --http-addr and/or --https-addr"))
	}
	if c.DiscoveredTTL < 0 || c.DiscoveredMax < 0 {
		errs = append(errs, errors.New("--discovered-ttl and --discovered-max must not be negative (0 switches them off)"))
	}
	if c.HTTPSAddr != "" && (c.TLSCert == "" || c.TLSKey == "") {
		errs = append(errs, errors.New("--https-addr needs --tls-cert and --tls-key"))
	}
	if strings.ContainsAny(c.PublicHost+c.PBXHost, "/ @?#") {
		errs = append(errs, errors.New("--public-host and --pbx-host take a bare host name or address"))
	}
	if err := config.OneOf(c.SIPBindMode, string(pnplistener.BindAlone), string(pnplistener.BindBesidePBX)); err != nil {
		errs = append(errs, fmt.Errorf("--sip-bind-mode: %w", err))
	}
	if c.SIPReplyPort < 0 || c.SIPReplyPort > 65535 {
		errs = append(errs, fmt.Errorf("--sip-reply-port: %d is not a port", c.SIPReplyPort))
	}
	if c.PBXHostExplicit && strings.TrimSpace(c.PBXHost) == "" {
		errs = append(errs, errors.New("--pbx-host must not be empty when given"))
	}
	if c.SIPRatePerSrc < 0 {
		errs = append(errs, errors.New("--sip-rate-per-source must not be negative"))
	}
	if err := config.OneOf(c.PnPLinkCheck, pnplistener.LinkRequire, pnplistener.LinkOff); err != nil {
		errs = append(errs, fmt.Errorf("--pnp-link-check: %w", err))
	}
	errs = append(errs, c.Console.validate())
	if err := config.OneOf(c.LogFormat, "text", "json"); err != nil {
		errs = append(errs, fmt.Errorf("--log-format: %w", err))
	}
	errs = append(errs, c.BackupConfig.validate()...)
	return errors.Join(errs...)
}

// roles are the internal principals the services use to call each other.
var internalRoles = []struct {
	name string
	role auth.Role
}{
	{"edge", auth.RoleEdge},
	{"listener", auth.RoleListener},
	{"service", auth.RoleService},
	// The web console enforces its users' roles itself (services/console).
	{"console", auth.RoleAdmin},
}

// Run starts the suite and blocks until ctx ends or a component fails; out
// receives the banner.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, out io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	adminTok, created, err := adminToken(cfg.DataDir)
	if err != nil {
		return err
	}

	// Tokens: the admin's (persistent) and one per internal role (new each start).
	entries := []auth.TokenEntry{{Name: "admin", Role: auth.RoleAdmin, SHA256: auth.HashToken(adminTok)}}
	roleTokens := map[string]string{}
	for _, r := range internalRoles {
		tok, err := auth.GenerateToken()
		if err != nil {
			return err
		}
		roleTokens[r.name] = tok
		entries = append(entries, auth.TokenEntry{Name: "internal-" + r.name, Role: r.role, SHA256: auth.HashToken(tok)})
	}
	tokensJSON, err := json.Marshal(auth.TokensFile{Tokens: entries})
	if err != nil {
		return err
	}
	tokens, err := auth.ParseTokens(tokensJSON)
	if err != nil {
		return err
	}
	// The TFTP front's relay credential at the edge (its link assertion),
	// a token of its own: the edge never sees one that inventory accepts.
	relayTok, err := auth.GenerateToken()
	if err != nil {
		return err
	}
	relayJSON, err := json.Marshal(auth.TokensFile{Tokens: []auth.TokenEntry{{Name: "relay-" + cfg.Listener, Role: auth.RoleListener, SHA256: auth.HashToken(relayTok)}}})
	if err != nil {
		return err
	}
	relays, err := auth.ParseTokens(relayJSON)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	serviceReg := func(name string) prometheus.Registerer {
		return prometheus.WrapRegistererWith(prometheus.Labels{"service": name}, reg)
	}

	// NATS JetStream, embedded, files under the data directory.
	nopts := natsjs.EmbeddedOptions{StoreDir: filepath.Join(cfg.DataDir, "nats"), DontListen: cfg.NATSAddr == "", ServerName: "dialtone", Logger: slog.New(minLevel{logger.Handler(), slog.LevelWarn}).With("component", "nats")}
	if cfg.NATSAddr != "" {
		host, port, err := splitPort(cfg.NATSAddr)
		if err != nil {
			return fmt.Errorf("--nats-addr: %w", err)
		}
		nopts.Host, nopts.Port = host, port
	}
	ns, err := natsjs.StartEmbedded(nopts)
	if err != nil {
		return err
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, js, err := natsjs.Connect(ctx, "", logger.With("component", "nats-client"), natsjs.InProcess(ns))
	if err != nil {
		return err
	}
	defer nc.Close()

	// Where phones reach us.
	publicHost := cfg.PublicHost
	if publicHost == "" {
		publicHost = primaryAddress()
	}
	pbxHost := cfg.PBXHost
	if pbxHost == "" {
		pbxHost = publicHost
	}
	var httpBase, httpsBase string
	if cfg.HTTPAddr != "" {
		if httpBase, err = baseURL("http", publicHost, cfg.HTTPAddr); err != nil {
			return err
		}
	}
	if cfg.HTTPSAddr != "" {
		if httpsBase, err = baseURL("https", publicHost, cfg.HTTPSAddr); err != nil {
			return err
		}
	}

	// The gRPC listener is opened first: the services dial it on loopback.
	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("--grpc-addr: %w", err)
	}
	dialAddr := loopbackDialAddr(grpcLis.Addr())

	store, err := inventory.OpenBoltStore(filepath.Join(cfg.DataDir, "inventory.db"))
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("inventory store: %w", err)
	}
	defer store.Close()

	rend, err := renderer.New(renderer.Config{TemplatesDir: filepath.Join(cfg.DataDir, "templates")},
		renderer.Deps{Logger: logger.With("service", "config-renderer"), Registerer: serviceReg("config-renderer")})
	if err != nil {
		grpcLis.Close()
		return err
	}
	// Inventory asks the catalog (in process) for every phone's vendor, model and family.
	invCfg := inventory.Config{
		EdgeHTTPBase: httpBase, EdgeHTTPSBase: httpsBase, Bootstrap: cfg.Bootstrap, TokenGrace: 24 * time.Hour,
		HTTPSHint:     "--https-addr with --tls-cert and --tls-key when starting dialtone",
		DiscoveredTTL: cfg.DiscoveredTTL, DiscoveredMax: cfg.DiscoveredMax, DiscoveredSweep: time.Minute,
	}
	cfg.BackupConfig.apply(&invCfg)
	inv, err := inventory.New(invCfg, inventory.Deps{Logger: logger.With("service", "inventory"), Registerer: serviceReg("inventory"), Store: store, JetStream: js,
		Models: localResolver{rend}})
	if err != nil {
		grpcLis.Close()
		return err
	}

	gs := grpcserver.New(grpcserver.Options{
		Logger: logger.With("component", "grpc"), Auth: tokens, Registerer: serviceReg("grpc"),
		Limits:        grpcserver.Limits{MethodMaxRecvMsgSize: inventory.GRPCRecvLimits()},
		ServerOptions: []grpc.ServerOption{grpc.NumStreamWorkers(inventory.GRPCStreamWorkers)},
	})
	inv.RegisterGRPC(gs.GRPC())
	rend.RegisterGRPC(gs.GRPC())

	conns := map[string]*grpc.ClientConn{}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, r := range internalRoles {
		c, err := grpc.NewClient(dialAddr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(auth.BearerToken(roleTokens[r.name], false)))
		if err != nil {
			grpcLis.Close()
			return err
		}
		conns[r.name] = c
	}

	rps, err := newRPS(cfg, logger.With("service", "rps-client"), serviceReg("rps-client"), js,
		inventoryv1.NewInventoryServiceClient(conns["service"]))
	if err != nil {
		grpcLis.Close()
		return err
	}
	defer rps.close()
	rps.svc.RegisterGRPC(gs.GRPC())

	var ifaces []string
	for _, s := range strings.Split(cfg.SIPInterfaces, ",") {
		if s = strings.TrimSpace(s); s != "" {
			ifaces = append(ifaces, s)
		}
	}
	pcfg := pnplistener.DefaultConfig()
	pcfg.SIPAddr, pcfg.SIPInterfaces, pcfg.Listener, pcfg.AdminAddr = cfg.SIPAddr, ifaces, cfg.Listener, ""
	pcfg.BindMode, pcfg.ReplyPort = cfg.SIPBindMode, cfg.SIPReplyPort
	if !cfg.Bootstrap {
		pcfg.UnknownPhones = pnplistener.UnknownNothing
	}
	pcfg.RatePerSource = cfg.SIPRatePerSrc
	pcfg.LinkCheck = cfg.PnPLinkCheck
	pcfg.TFTPAddr = cfg.TFTPAddr
	pnp, err := pnplistener.New(pcfg, pnplistener.Deps{
		Logger: logger.With("service", "pnp-listener"), Registerer: serviceReg("pnp-listener"), JetStream: js,
		Inventory:      inventoryv1.NewInventoryServiceClient(conns["listener"]),
		TFTPRelayToken: relayTok,
	})
	if err != nil {
		grpcLis.Close()
		return err
	}

	hcfg := provisionhttp.Defaults()
	hcfg.HTTPAddr, hcfg.HTTPSAddr, hcfg.TLSCert, hcfg.TLSKey, hcfg.AdminAddr = cfg.HTTPAddr, cfg.HTTPSAddr, cfg.TLSCert, cfg.TLSKey, ""
	hcfg.DeviceCADir = cfg.DeviceCADir
	if cfg.MaxConnsPerSource > 0 {
		hcfg.MaxConnsPerSource = cfg.MaxConnsPerSource
	}
	edge, err := provisionhttp.New(hcfg, provisionhttp.Deps{
		Logger: logger.With("service", "provision-http"), Registerer: serviceReg("provision-http"), JetStream: js,
		Inventory: inventoryv1.NewInventoryServiceClient(conns["edge"]),
		Renderer:  rendererv1.NewConfigRendererServiceClient(conns["edge"]),
		Relays:    relays,
	})
	if err != nil {
		grpcLis.Close()
		return err
	}

	ready := func() error {
		for name, f := range map[string]func() error{
			"inventory": inv.Ready, "config-renderer": rend.Ready, "rps-client": rps.svc.Ready,
			"pnp-listener": pnp.Ready, "provision-http": edge.Ready,
		} {
			if err := f(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return nil
	}

	// Components stop in reverse order: the phone-facing edges first, the
	// gRPC server and the broker last.
	var g lifecycle.Group
	g.Add("grpc", func(ctx context.Context) error { return gs.Serve(ctx, grpcLis) })
	g.Add("inventory", inv.Run)
	g.Add("config-renderer", rend.Run)
	g.Add("rps-client", rps.svc.Run)
	site := make(chan siteState, 1)
	g.Add("first-run", func(ctx context.Context) error {
		adminConn, err := grpc.NewClient(dialAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(auth.BearerToken(adminTok, false)))
		if err != nil {
			return err
		}
		defer adminConn.Close()
		st, err := ensureDefaults(ctx, inventoryv1.NewInventoryServiceClient(adminConn), pbxHost, cfg.PBXHostExplicit, logger)
		if err != nil {
			return err
		}
		site <- st
		<-ctx.Done()
		return nil
	})
	g.Add("provision-http", func(ctx context.Context) error {
		return listenError(edge.Run(ctx), cfg)
	})
	g.Add("pnp-listener", func(ctx context.Context) error {
		err := pnp.Run(ctx)
		return sipError(err, pnp.Addr() != nil, cfg)
	})
	if cfg.Console.Addr != "" {
		runConsole, err := consoleRunner(cfg.Console, cfg.DataDir, publicHost, conns["console"], serviceReg("console"), logger.With("service", "console"), out)
		if err != nil {
			grpcLis.Close()
			return err
		}
		g.Add("console", runConsole)
	}
	if cfg.AdminAddr != "" {
		admin := adminhttp.New(adminhttp.Options{Addr: cfg.AdminAddr, Logger: logger.With("component", "admin-http"), Gatherer: reg, Ready: ready, Warnings: pnp.Warnings, Profiling: cfg.AdminPprof})
		g.Add("admin-http", admin.Run)
	}
	// The banner says "running" only once every listener has bound and the
	// store has answered; a component that failed first cancels it unsaid.
	g.Add("banner", func(ctx context.Context) error {
		var st siteState
		select {
		case st = <-site:
		case <-ctx.Done():
			return nil
		}
		if !waitReady(ctx, ready) {
			return nil
		}
		printBanner(out, bannerInfo{
			cfg: cfg, grpcAddr: grpcLis.Addr().String(), httpBase: httpBase, httpsBase: httpsBase,
			site: st, tokenCreated: created, tokenPath: filepath.Join(cfg.DataDir, AdminTokenFile),
			sipAddr: addrString(pnp.Addr()), replyAddr: addrString(pnp.ReplyAddr()),
		})
		if w := pnp.LinkCheckStatus(); w != "" {
			fmt.Fprintf(out, "  WARNING: %s\n", w)
		}
		<-ctx.Done()
		return nil
	})
	err = g.Run(ctx)
	// A start-up failure is one line of its own, without the component
	// prefixes the group adds.
	var se *startError
	if errors.As(err, &se) {
		return se
	}
	return err
}

// ensureDefaults creates the tenant "default" and its SIP interface "default"
// on first run. Later runs leave them as the administrator changed them.
func ensureDefaults(ctx context.Context, inv inventoryv1.InventoryServiceClient, pbxHost string, explicit bool, logger *slog.Logger) (siteState, error) {
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		var st siteState
		if st, err = createDefaults(ctx, inv, pbxHost, explicit, logger); err == nil || ctx.Err() != nil {
			return st, err
		}
		switch status.Code(err) {
		case codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied:
			return siteState{}, err // a refusal, not a server still starting
		}
		select {
		case <-ctx.Done():
			return siteState{}, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	return siteState{}, fmt.Errorf("creating the default tenant: %w", err)
}

// minLevel passes on records at or above min only: the embedded NATS server
// announces itself at length at INFO, which a one-process site does not need
// (with --log-level debug every record still passes).
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, l) && (l >= h.min || h.Handler.Enabled(ctx, slog.LevelDebug))
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}

// waitReady polls ready until it passes (true) or ctx ends (false).
func waitReady(ctx context.Context, ready func() error) bool {
	for ready() != nil {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return ctx.Err() == nil
}

func loopbackDialAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		port := 0
		if ok {
			port = tcp.Port
		}
		return fmt.Sprintf("127.0.0.1:%d", port)
	}
	return tcp.String()
}

func splitPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	var port int
	if _, err := fmt.Sscanf(p, "%d", &port); err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return host, port, nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// localResolver hands inventory's ResolveModel calls to the in-process renderer.
type localResolver struct{ r *renderer.Service }

func (l localResolver) ResolveModel(ctx context.Context, in *rendererv1.ResolveModelRequest, _ ...grpc.CallOption) (*rendererv1.ResolveModelResponse, error) {
	return l.r.ResolveModel(ctx, in)
}
