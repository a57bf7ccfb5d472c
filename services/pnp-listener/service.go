// Package pnplistener is Dialtone's SIP multicast Plug-and-Play responder.
//
// IP phones booting on the LAN send a SUBSCRIBE (Event: ua-profile) to
// 224.0.1.75:5060. The listener answers 200 OK at once, publishes a
// PhoneDiscovered event, asks inventory for the phone's provisioning URL and
// hands it over in a NOTIFY (Content-Type: application/url). It remembers
// the phones it heard so that a later assignment (PhoneChanged) reaches the
// phone without a reboot, and it turns ReprovisionRequested into a
// check-sync NOTIFY in the vendor's dialect.
//
// The SIP loop never waits for NATS or inventory: events go through a
// bounded outbox, and lookups and NOTIFY transactions run beside the 200 OK
// with a short deadline and a bound on concurrency.
package pnplistener

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/neigh"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/outbox"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/seen"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/sipmsg"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/sipsock"
)

// Deps is what the process wires in.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// JetStream carries the events. Nil runs the listener without events
	// (no PhoneDiscovered, no late NOTIFY, no check-sync): for tests and
	// benchmarks of the SIP path only.
	JetStream jetstream.JetStream
	// Inventory answers GetProvisioningUrl (role listener).
	Inventory inventoryv1.InventoryServiceClient
	// InNetns, when set, runs fn on an OS thread inside the network
	// namespace the listener serves: the listener opens its sockets, lists
	// interfaces and reads the neighbour table through it. Nil serves the
	// process's own namespace (tests run a listener in a namespace with
	// platform/testenv/lantest's Host.Run).
	InNetns func(fn func() error) error
	// LinkLayer, when set, replaces the kernel's neighbour table: it
	// returns the MAC the host at ip on interface ifindex really has, or
	// "". For tests on loopback, where the kernel keeps no entries.
	LinkLayer func(ifindex int, ip netip.Addr) (string, error)
	// HTTPClient fetches the files the TFTP front relays from the edge;
	// nil is a plain client with --tftp-fetch-timeout.
	HTTPClient *http.Client
	// TFTPRelayToken is the TFTP front's relay credential at the edge
	// (Config.TFTPRelayTokenFile); empty: no link assertion.
	TFTPRelayToken string
}

// Service is one running listener.
type Service struct {
	// neighbourWaits: see defaultNeighbourWaits.
	neighbourWaits []time.Duration
	cfg            Config
	deps           Deps
	log            *slog.Logger
	m              *metrics
	policy         policy
	templates      sipmsg.URLTemplates
	seen           *seen.Cache
	out            *outbox.Outbox
	sem            chan struct{}
	// known and unknown are the workers' two lanes (admit).
	known   chan job
	unknown chan job
	flows   *flows
	tagSeed maphash.Seed

	// Set by Run.
	runCtx    context.Context
	sock      *sipsock.Listener
	ua        *sipgo.UserAgent
	replyPort int
	replyAddr sip.Addr
	neigh     *neigh.Table
	linkWarn  warnLimit
	ready     atomic.Bool
	readyErr  atomic.Pointer[error]
	wg        sync.WaitGroup
}

// New validates cfg and builds the listener; Run opens the sockets.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Inventory == nil {
		return nil, errors.New("pnplistener: Deps.Inventory is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		neighbourWaits: defaultNeighbourWaits,
		cfg:            cfg,
		deps:           deps,
		log:            deps.Logger,
		policy:         newPolicy(cfg),
		templates:      sipmsg.DefaultURLTemplates(),
		seen:           seen.New(cfg.SeenMax, cfg.SeenTTL),
		sem:            make(chan struct{}, cfg.MaxInflight),
		known:          make(chan job, cfg.MaxInflight),
		unknown:        make(chan job, cfg.MaxInflight),
		flows:          newFlows(2 * cfg.MaxInflight),
		tagSeed:        maphash.MakeSeed(),
		runCtx:         context.Background(),
	}
	if cfg.noNeighbourWait {
		s.neighbourWaits = nil
	}
	for _, t := range cfg.URLTemplates {
		v, tmpl, _ := sipmsg.ParseURLTemplate(t)
		s.templates[v] = tmpl
	}
	s.out = outbox.New(cfg.OutboxSize, 4, s.publish, func(err error) {
		s.log.Warn("publishing an event failed; will retry", "error", err)
	})
	notReady := errors.New("pnp-listener: SIP socket not open yet")
	s.readyErr.Store(&notReady)
	s.m = newMetrics(deps.Registerer, map[string]func() float64{
		"dialtone_pnp_listener_seen_phones":            func() float64 { return float64(s.seen.Len()) },
		"dialtone_pnp_listener_outbox_depth":           func() float64 { return float64(s.out.Len()) },
		"dialtone_pnp_listener_outbox_published_total": func() float64 { return float64(s.out.Stats().Published) },
		"dialtone_pnp_listener_outbox_retries_total":   func() float64 { return float64(s.out.Stats().Retries) },
		"dialtone_pnp_listener_outbox_dropped_total":   func() float64 { return float64(s.out.Stats().Dropped) },
		"dialtone_pnp_listener_notifies_inflight":      func() float64 { return float64(len(s.sem)) },
		"dialtone_pnp_listener_notify_flows":           func() float64 { return float64(s.flows.Len()) },
		"dialtone_pnp_listener_notify_queued_known":    func() float64 { return float64(len(s.known)) },
		"dialtone_pnp_listener_notify_queued_unknown":  func() float64 { return float64(len(s.unknown)) },
		"dialtone_pnp_listener_interfaces": func() float64 {
			if l := s.sockets(); l != nil {
				return float64(len(l.Interfaces()))
			}
			return 0
		},
	})
	return s, nil
}

func (s *Service) sockets() *sipsock.Listener {
	if !s.ready.Load() {
		return nil
	}
	return s.sock
}

// Ready is nil while the SIP sockets are serving.
func (s *Service) Ready() error {
	if p := s.readyErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Addr returns the address of the SIP listen socket (after Run started).
func (s *Service) Addr() net.Addr {
	if l := s.sockets(); l != nil {
		return l.Main.LocalAddr()
	}
	return nil
}

// ReplyAddr returns the address our NOTIFYs leave from (after Run
// started): the listen socket's in alone mode, the reply socket's in
// beside-pbx mode.
func (s *Service) ReplyAddr() net.Addr {
	if l := s.sockets(); l != nil {
		return l.Reply.LocalAddr()
	}
	return nil
}

// Run serves until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.runCtx = ctx

	var sock *sipsock.Listener
	err := s.inNetns(func() (err error) {
		sock, err = sipsock.Listen(sipsock.Options{
			Mode:        sipsock.Mode(s.cfg.BindMode),
			Addr:        s.cfg.SIPAddr,
			ReplyPort:   s.cfg.ReplyPort,
			Interfaces:  s.cfg.SIPInterfaces,
			MaxDatagram: s.cfg.MaxDatagram,
			Limits: sipsock.Limits{
				GlobalRate: s.cfg.RateGlobal, GlobalBurst: s.cfg.RateGlobalBurst,
				PerSourceRate: s.cfg.RatePerSource, PerSourceBurst: s.cfg.RateSourceBurst,
			},
			Amplification: s.cfg.Amplification,
			OnDrop:        s.m.drop,
			Logger:        s.log,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("pnp-listener: %w", err)
	}
	if s.deps.LinkLayer == nil {
		// Opened inside the namespace the listener serves: the socket
		// keeps reading that namespace's table from any thread.
		if err := s.inNetns(func() (err error) { s.neigh, err = neigh.Open(); return err }); err != nil {
			sock.Close()
			return fmt.Errorf("pnp-listener: %w", err)
		}
		defer s.neigh.Close()
	}
	s.sock = sock
	s.replyPort = sock.Reply.LocalPort()
	la := sock.Reply.LocalAddr().(*net.UDPAddr)
	s.replyAddr = sip.Addr{IP: la.IP, Port: la.Port}

	sipLog := slog.New(sipgoHandler{next: s.log.Handler(), onDrop: s.m.drop, warn: &warnLimit{}})
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(sipmsg.UserAgent),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) { s.m.drop(dropUnmatchedResponse) }),
		),
	)
	if err != nil {
		sock.Close()
		return fmt.Errorf("pnp-listener: sip user agent: %w", err)
	}
	s.ua = ua
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		sock.Close()
		return fmt.Errorf("pnp-listener: sip server: %w", err)
	}
	srv.OnSubscribe(s.onSubscribe)
	srv.OnNoRoute(s.onOther)

	serveErr := make(chan error, 2)
	serve := func(c *sipsock.Conn) {
		s.wg.Go(func() {
			if err := srv.ServeUDP(c); err != nil && ctx.Err() == nil {
				serveErr <- err
			}
		})
	}
	serve(sock.Main)
	if sock.Reply != sock.Main {
		serve(sock.Reply)
	}
	if s.cfg.OutboxFile != "" {
		// Events a previous run could not publish before it stopped.
		msgs, bad, err := outbox.Load(s.cfg.OutboxFile)
		if err != nil {
			s.log.Warn("cannot restore the saved outbox", "file", s.cfg.OutboxFile, "error", err)
		}
		for _, m := range msgs {
			s.out.Offer(m)
		}
		if len(msgs) > 0 || bad > 0 {
			s.log.Info("outbox restored", "file", s.cfg.OutboxFile, "events", len(msgs), "unreadable", bad)
		}
	}
	s.wg.Go(func() { s.out.Run(ctx) })
	s.runWorkers(ctx)
	if s.deps.JetStream != nil {
		s.wg.Go(func() { s.consume(ctx) })
	}
	s.wg.Go(func() { s.refreshInterfaces(ctx) })
	if s.cfg.TFTPAddr != "" {
		if err := s.startTFTP(ctx); err != nil {
			cancel()
			sock.Close()
			ua.Close()
			s.wg.Wait()
			return err
		}
	}

	if s.cfg.LinkCheck == LinkOff {
		s.log.Warn("pnp link-layer check is OFF: any host on the LAN that names an assigned phone's MAC in a SUBSCRIBE gets that phone's provisioning URL; use --pnp-link-check=off only where the listener cannot see the phones' link layer")
	}
	s.ready.Store(true)
	s.readyErr.Store(nil)
	s.log.Info("pnp-listener serving", "addr", sock.Main.LocalAddr().String(), "reply_port", s.replyPort,
		"bind_mode", s.cfg.BindMode, "interfaces", sock.Interfaces(), "listener", s.cfg.Listener, "pnp_link_check", s.cfg.LinkCheck)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("pnp-listener: SIP socket: %w", err)
	}
	stopped := errors.New("pnp-listener: stopped")
	s.readyErr.Store(&stopped)
	cancel()
	sock.Close()
	ua.Close()
	s.wg.Wait()
	// The discoveries of phones already answered: lost, their next boot's
	// proof would come after the binding their fetch made (outbox.Drain).
	if n := s.out.Len(); n > 0 {
		dctx, dcancel := context.WithTimeout(context.Background(), outboxDrain)
		left := s.out.Drain(dctx)
		dcancel()
		saved := 0
		if len(left) > 0 && s.cfg.OutboxFile != "" {
			if err := outbox.Save(s.cfg.OutboxFile, left); err != nil {
				s.log.Warn("cannot save the unpublished events", "file", s.cfg.OutboxFile, "error", err)
			} else {
				saved = len(left)
			}
		}
		s.out.Lose(len(left) - saved)
		s.log.Info("outbox drained at stop", "events", n, "saved", saved, "lost", len(left)-saved)
	}
	return runErr
}

// outboxDrain bounds the publishing of the events queued at stop; below
// the supervisors' grace (Kubernetes: 10 s, the DaemonSet's
// terminationGracePeriodSeconds; dialtone-cluster: 10 s).
const outboxDrain = 5 * time.Second

func (s *Service) refreshInterfaces(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.inNetns(s.sock.Refresh); err != nil {
				s.log.Warn("refreshing interfaces failed", "error", err)
			}
		}
	}
}

func (s *Service) inNetns(fn func() error) error {
	if s.deps.InNetns == nil {
		return fn()
	}
	return s.deps.InNetns(fn)
}

// neighbour returns the MAC the kernel's neighbour table holds for ip on
// interface ifindex, or "".
func (s *Service) neighbour(ifindex int, ip netip.Addr) string {
	var mac string
	var err error
	switch {
	case s.deps.LinkLayer != nil:
		mac, err = s.deps.LinkLayer(ifindex, ip)
	case s.neigh != nil:
		mac, err = s.neigh.Lookup(ifindex, ip)
	default:
		err = s.inNetns(func() (err error) {
			mac, err = neigh.Lookup(ip)
			return err
		})
	}
	if err != nil {
		s.log.Debug("neighbour lookup failed", "address", ip.String(), "error", err)
	}
	return mac
}

// Warnings are the lines /readyz adds while ready (adminhttp.Options).
func (s *Service) Warnings() []string {
	if w := s.LinkCheckStatus(); w != "" {
		return []string{w}
	}
	return nil
}

// LinkCheckStatus is the link-layer policy as /readyz and the suite's
// banner show it: "" when the check is on, a warning when it is off.
func (s *Service) LinkCheckStatus() string {
	if s.cfg.LinkCheck == LinkOff {
		return "pnp link-layer check off (--pnp-link-check=off): a host naming a phone's MAC is believed"
	}
	return ""
}

// tag is our To-tag for a SUBSCRIBE dialog: the same for every
// retransmission, unguessable across restarts.
func (s *Service) tag(callID, fromTag string) string {
	var h maphash.Hash
	h.SetSeed(s.tagSeed)
	h.WriteString(callID)
	h.WriteByte(0)
	h.WriteString(fromTag)
	return strconv.FormatUint(h.Sum64(), 36)
}

// dest is where replies to req physically go: its source address, and the
// source port when the Via asks for rport, else the Via's port (RFC 3261
// §18.2.2, RFC 3581).
func dest(req *sip.Request, src netip.AddrPort) netip.AddrPort {
	via := req.Via()
	if via == nil {
		return src
	}
	if _, ok := via.Params.Get("rport"); ok {
		return src
	}
	port := via.Port
	if port <= 0 || port > 65535 {
		port = 5060
	}
	return netip.AddrPortFrom(src.Addr(), uint16(port))
}
