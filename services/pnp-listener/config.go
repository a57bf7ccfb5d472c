package pnplistener

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dialtone-voip/dialtone/platform/config"
	"github.com/dialtone-voip/dialtone/proto/vocab"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/sipmsg"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/sipsock"
)

// Policies for phones inventory has no assignment for.
const (
	// UnknownNothing: such phones get the 200 OK and no NOTIFY.
	UnknownNothing = "nothing"
	// UnknownBootstrap: they get the secret-free bootstrap URL when
	// inventory offers one.
	UnknownBootstrap = "bootstrap"
)

// Link-layer proof policies (--pnp-link-check).
const (
	// LinkRequire: a SUBSCRIBE counts as from MAC M only when the kernel's
	// neighbour entry for its source address is M, and every NOTIFY goes
	// only to a destination whose entry is the phone's MAC.
	LinkRequire = "require"
	// LinkOff: for setups where the listener cannot see the phones' L2
	// (a relay, a routed segment): the claimed MAC is believed.
	LinkOff = "off"
)

// Bind modes of the SIP socket (Config.BindMode, --sip-bind-mode), for
// programs that embed the listener.
const (
	// BindAlone binds --sip-addr: nothing else on the host uses UDP 5060.
	BindAlone = string(sipsock.ModeAlone)
	// BindBesidePBX binds the group address 224.0.1.75 so a PBX on
	// 0.0.0.0:5060 (with SO_REUSEADDR) keeps its unicast; replies leave
	// from ReplyPort.
	BindBesidePBX = string(sipsock.ModeBesidePBX)
)

// Config is pnp-listener's configuration (flags, and DIALTONE_PNP_LISTENER_*
// in the environment).
type Config struct {
	// noNeighbourWait (tests only) drops the neighbour-table waits for
	// MAC-less phones (defaultNeighbourWaits).
	noNeighbourWait bool
	// SIPAddr is the SIP UDP address; its host must be empty (every
	// address) for multicast to arrive in alone mode.
	SIPAddr string
	// SIPInterfaces are interface names; empty means every interface that
	// is up, multicast-capable, not loopback and has an IPv4 address.
	SIPInterfaces []string
	// BindMode is BindAlone or BindBesidePBX.
	BindMode string
	// ReplyPort is the UDP port our NOTIFYs leave from in beside-pbx mode.
	ReplyPort int
	// Listener is this listener's (site's) id: it names the durable
	// consumers and goes into every PhoneDiscovered.
	Listener string

	AdminAddr          string
	NATSURL            string
	InventoryAddr      string
	InventoryTokenFile string

	// AnswerVendors and AnswerOUIs restrict which phones are answered at
	// all; both empty answers every phone.
	AnswerVendors []string
	AnswerOUIs    []string
	// UnknownPhones is UnknownNothing or UnknownBootstrap.
	UnknownPhones string
	// URLTemplates adjusts the URL per vendor ("vendor={url}…").
	URLTemplates []string
	// LinkCheck is LinkRequire or LinkOff.
	LinkCheck string

	RateGlobal      float64
	RateGlobalBurst float64
	RatePerSource   float64
	RateSourceBurst float64
	MaxDatagram     int
	// Amplification bounds the bytes sent (200 OK, NOTIFY and its
	// retransmissions) to an address that never answered us, as a
	// multiple of the bytes received from it; 0 disables the bound.
	Amplification float64
	// ShedAt is the fill ratio of the NOTIFY slots (MaxInflight) from
	// which NOTIFYs to phones neither assigned nor ever answering are
	// shed, keeping the rest for the phones that matter.
	ShedAt float64

	// InventoryTimeout bounds the GetProvisioningUrl call per SUBSCRIBE.
	InventoryTimeout time.Duration
	// NotifyTimeout bounds how long a NOTIFY is retransmitted (RFC 3261
	// Timer E doubling from T1=500ms up to T2=4s) waiting for the phone's
	// answer; Timer F is 32s.
	NotifyTimeout time.Duration
	// MaxInflight bounds concurrent NOTIFY transactions (with their
	// inventory lookups); beyond it NOTIFYs are dropped and counted.
	MaxInflight int
	SeenMax     int
	SeenTTL     time.Duration
	OutboxSize  int
	// OutboxFile keeps the events still unpublished at stop (NATS down
	// longer than the drain) for the next start; empty: they are lost.
	OutboxFile string

	// TFTPAddr is the read-only TFTP front's UDP address (":69"); empty
	// leaves it off. See tftp.go and internal/tftpfront.
	TFTPAddr         string
	TFTPMaxPerSource int
	TFTPMaxTransfers int
	TFTPMaxFileSize  int64
	TFTPFetchTimeout time.Duration
	// TFTPRelayTokenFile holds the relay credential the TFTP front presents
	// to provision-http with its link assertion (the edge's
	// --relay-tokens-file, role listener); read by the command into
	// Deps.TFTPRelayToken. Empty: relayed fetches prove the token alone.
	TFTPRelayTokenFile string
}

// DefaultConfig returns the defaults the flags carry.
func DefaultConfig() Config {
	return Config{
		SIPAddr:          ":5060",
		BindMode:         string(sipsock.ModeAlone),
		ReplyPort:        5062,
		Listener:         defaultListener(),
		AdminAddr:        ":9194",
		NATSURL:          "nats://127.0.0.1:4222",
		InventoryAddr:    "127.0.0.1:9090",
		UnknownPhones:    UnknownBootstrap,
		LinkCheck:        LinkRequire,
		RateGlobal:       10000,
		RateGlobalBurst:  20000,
		RatePerSource:    50,
		RateSourceBurst:  100,
		MaxDatagram:      4096,
		Amplification:    3,
		ShedAt:           0.75,
		InventoryTimeout: 150 * time.Millisecond,
		NotifyTimeout:    32 * time.Second,
		MaxInflight:      20000,
		SeenMax:          100000,
		SeenTTL:          24 * time.Hour,
		OutboxSize:       20000,
		TFTPMaxPerSource: 2,
		TFTPMaxTransfers: 64,
		TFTPMaxFileSize:  1 << 20,
		TFTPFetchTimeout: 5 * time.Second,
	}
}

func defaultListener() string {
	h, err := os.Hostname()
	if err != nil {
		return "default"
	}
	return sanitizeID(h)
}

// sanitizeID keeps what a NATS durable name allows.
func sanitizeID(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, s)
	if s == "" {
		return "default"
	}
	return s
}

type listFlag struct{ p *[]string }

func (f listFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strings.Join(*f.p, ",")
}

func (f listFlag) Set(s string) error {
	*f.p = nil
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*f.p = append(*f.p, part)
		}
	}
	return nil
}

// RegisterFlags registers every setting on fs, defaulting to c's values.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.SIPAddr, "sip-addr", c.SIPAddr, "SIP UDP listen address (host empty = every address, needed for multicast in alone mode)")
	fs.Var(listFlag{&c.SIPInterfaces}, "sip-interfaces", "comma-separated interfaces to join 224.0.1.75 on (default: every up, multicast-capable, non-loopback interface with IPv4)")
	fs.StringVar(&c.BindMode, "sip-bind-mode", c.BindMode, "alone (bind sip-addr) or beside-pbx (bind 224.0.1.75 so a PBX on 0.0.0.0:5060 keeps its unicast; replies from --sip-reply-port)")
	fs.IntVar(&c.ReplyPort, "sip-reply-port", c.ReplyPort, "UDP port our NOTIFYs leave from in beside-pbx mode (0 = ephemeral)")
	// Node names such as "ip-10-0-1-2.ec2.internal" are accepted: every
	// character a NATS durable name cannot hold becomes '-'.
	fs.Func("listener", "this listener's (site's) id; characters outside [a-z0-9_-] become '-'; names the durable consumers (default: the host name)", func(v string) error {
		if strings.TrimSpace(v) == "" {
			return errors.New("must not be empty")
		}
		c.Listener = sanitizeID(strings.TrimSpace(v))
		return nil
	})
	fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "admin HTTP address (/healthz, /readyz, /metrics)")
	fs.StringVar(&c.NATSURL, "nats-url", c.NATSURL, "NATS server URL, or comma-separated URLs of a cluster")
	fs.StringVar(&c.InventoryAddr, "inventory-addr", c.InventoryAddr, "inventory gRPC address")
	fs.StringVar(&c.InventoryTokenFile, "inventory-token-file", c.InventoryTokenFile, "file holding the bearer token (role listener) for inventory")
	fs.Var(listFlag{&c.AnswerVendors}, "answer-vendors", "comma-separated vendor keys to answer (with --answer-ouis: either matches); empty: every phone")
	fs.Var(listFlag{&c.AnswerOUIs}, "answer-ouis", "comma-separated MAC OUIs (e.g. 00:15:65) to answer; empty: every phone")
	fs.StringVar(&c.UnknownPhones, "unknown-phones", c.UnknownPhones, "what unassigned phones get: nothing, or bootstrap (inventory's secret-free bootstrap URL)")
	fs.Var(listFlag{&c.URLTemplates}, "url-template", "comma-separated vendor={url}… templates for the NOTIFY URL (default snom={url}{mac}.xml; {mac} is filled in by the phone)")
	fs.StringVar(&c.LinkCheck, "pnp-link-check", c.LinkCheck, "require: a SUBSCRIBE counts as from a MAC only when the kernel's neighbour entry for its source is that MAC, and NOTIFYs go only to the phone's link-layer address; off: believe the MAC a phone names (only where the listener cannot see the phones' L2)")
	fs.Float64Var(&c.RateGlobal, "rate-global", c.RateGlobal, "datagrams per second accepted in total (0 = unlimited)")
	fs.Float64Var(&c.RateGlobalBurst, "rate-global-burst", c.RateGlobalBurst, "burst of --rate-global")
	fs.Float64Var(&c.RatePerSource, "rate-per-source", c.RatePerSource, "datagrams per second accepted from one IP address (0 = unlimited)")
	fs.Float64Var(&c.RateSourceBurst, "rate-per-source-burst", c.RateSourceBurst, "burst of --rate-per-source")
	fs.IntVar(&c.MaxDatagram, "max-datagram", c.MaxDatagram, "largest datagram accepted, bytes")
	fs.DurationVar(&c.InventoryTimeout, "inventory-timeout", c.InventoryTimeout, "deadline of the inventory lookup made for each SUBSCRIBE")
	fs.DurationVar(&c.NotifyTimeout, "notify-timeout", c.NotifyTimeout, "how long a NOTIFY is retransmitted waiting for the phone's answer")
	fs.Float64Var(&c.Amplification, "amplification", c.Amplification, "bytes sent to an address that never answered, at most this many times the bytes received from it (0 = unbounded)")
	fs.Float64Var(&c.ShedAt, "shed-at", c.ShedAt, "fill ratio of the NOTIFY slots from which NOTIFYs to unknown, never-answering phones are shed (0 < x <= 1)")
	fs.IntVar(&c.MaxInflight, "max-inflight-notifies", c.MaxInflight, "concurrent NOTIFY transactions; more are dropped and counted")
	fs.IntVar(&c.SeenMax, "seen-max", c.SeenMax, "phones remembered for late NOTIFYs")
	fs.DurationVar(&c.SeenTTL, "seen-ttl", c.SeenTTL, "how long a phone is remembered after its last SUBSCRIBE")
	fs.IntVar(&c.OutboxSize, "outbox-size", c.OutboxSize, "events buffered while NATS is unreachable")
	fs.StringVar(&c.OutboxFile, "outbox-file", c.OutboxFile, "file keeping the events still unpublished at stop for the next start (empty: they are lost)")
	fs.StringVar(&c.TFTPAddr, "tftp-addr", c.TFTPAddr, "read-only TFTP front for phones fetching bare file names (Cisco 79xx), e.g. :69; empty = off")
	fs.IntVar(&c.TFTPMaxPerSource, "tftp-max-per-source", c.TFTPMaxPerSource, "concurrent TFTP transfers to one address")
	fs.IntVar(&c.TFTPMaxTransfers, "tftp-max-transfers", c.TFTPMaxTransfers, "concurrent TFTP transfers in total")
	fs.Int64Var(&c.TFTPMaxFileSize, "tftp-max-file-size", c.TFTPMaxFileSize, "largest file relayed over TFTP, bytes")
	fs.StringVar(&c.TFTPRelayTokenFile, "tftp-relay-token-file", c.TFTPRelayTokenFile, "file holding the bearer token (role listener in provision-http's --relay-tokens-file) with which relayed TFTP fetches assert the link proof, so the phone's release binds link:{mac}; empty = no assertion (or DIALTONE_PNP_LISTENER_TFTP_RELAY_TOKEN)")
	fs.DurationVar(&c.TFTPFetchTimeout, "tftp-fetch-timeout", c.TFTPFetchTimeout, "deadline of a TFTP request's link check, inventory lookup and edge fetch")
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := config.HostPort(c.SIPAddr); err != nil {
		add("--sip-addr: %w", err)
	}
	if err := config.OneOf(c.BindMode, string(sipsock.ModeAlone), string(sipsock.ModeBesidePBX)); err != nil {
		add("--sip-bind-mode: %w", err)
	}
	if c.ReplyPort < 0 || c.ReplyPort > 65535 {
		add("--sip-reply-port: %d is not a port", c.ReplyPort)
	}
	if c.Listener == "" || sanitizeID(c.Listener) != c.Listener {
		add("--listener: %q must be 1 or more of [a-z0-9_-]", c.Listener)
	}
	if c.AdminAddr != "" {
		if err := config.HostPort(c.AdminAddr); err != nil {
			add("--admin-addr: %w", err)
		}
	}
	if c.NATSURL != "" {
		if err := config.URLList(c.NATSURL, "nats", "tls", "ws", "wss"); err != nil {
			add("--nats-url: %w", err)
		}
	}
	if c.InventoryAddr != "" {
		if err := config.HostPort(c.InventoryAddr); err != nil {
			add("--inventory-addr: %w", err)
		}
	}
	for _, v := range c.AnswerVendors {
		if !vocab.IsVendor(v) {
			add("--answer-vendors: unknown vendor %q (known: %s)", v, strings.Join(vocab.Vendors, ", "))
		}
	}
	for _, o := range c.AnswerOUIs {
		if _, err := parseOUI(o); err != nil {
			add("--answer-ouis: %w", err)
		}
	}
	if err := config.OneOf(c.UnknownPhones, UnknownNothing, UnknownBootstrap); err != nil {
		add("--unknown-phones: %w", err)
	}
	if err := config.OneOf(c.LinkCheck, LinkRequire, LinkOff); err != nil {
		add("--pnp-link-check: %w", err)
	}
	for _, t := range c.URLTemplates {
		if _, _, err := sipmsg.ParseURLTemplate(t); err != nil {
			add("--url-template: %w", err)
		}
	}
	if c.RateGlobal < 0 || c.RatePerSource < 0 || c.RateGlobalBurst < 0 || c.RateSourceBurst < 0 {
		add("rates must not be negative")
	}
	if c.MaxDatagram < 512 || c.MaxDatagram > 65535 {
		add("--max-datagram: %d not in 512-65535", c.MaxDatagram)
	}
	if c.InventoryTimeout <= 0 || c.NotifyTimeout <= 0 || c.SeenTTL <= 0 {
		add("--inventory-timeout, --notify-timeout and --seen-ttl must be positive")
	}
	if c.Amplification < 0 {
		return fmt.Errorf("pnplistener: amplification %v must be >= 0", c.Amplification)
	}
	if c.ShedAt <= 0 || c.ShedAt > 1 {
		return fmt.Errorf("pnplistener: shed-at %v must be in (0, 1]", c.ShedAt)
	}
	if c.TFTPAddr != "" {
		if err := config.HostPort(c.TFTPAddr); err != nil {
			add("--tftp-addr: %w", err)
		}
	}
	if c.TFTPMaxPerSource < 1 || c.TFTPMaxTransfers < 1 || c.TFTPMaxFileSize < 1 || c.TFTPFetchTimeout <= 0 {
		add("--tftp-max-per-source, --tftp-max-transfers, --tftp-max-file-size and --tftp-fetch-timeout must be positive")
	}
	if c.MaxInflight < 1 || c.SeenMax < 1 || c.OutboxSize < 1 {
		add("--max-inflight-notifies, --seen-max and --outbox-size must be at least 1")
	}
	return errors.Join(errs...)
}

// parseOUI accepts 001565, 00:15:65, 00-15-65 (any case).
func parseOUI(s string) (string, error) {
	clean := strings.ToLower(strings.NewReplacer(":", "", "-", "", ".", "").Replace(strings.TrimSpace(s)))
	if len(clean) != 6 || strings.Trim(clean, "0123456789abcdef") != "" {
		return "", fmt.Errorf("OUI %q: want 6 hex digits, e.g. 00:15:65", s)
	}
	return clean, nil
}

// policy decides which phones are answered.
type policy struct {
	vendors []string
	ouis    []string
}

func newPolicy(c Config) policy {
	p := policy{vendors: c.AnswerVendors}
	for _, o := range c.AnswerOUIs {
		oui, _ := parseOUI(o)
		p.ouis = append(p.ouis, oui)
	}
	return p
}

func (p policy) open() bool { return len(p.vendors) == 0 && len(p.ouis) == 0 }

// allow reports whether a phone is answered. decided is false when the MAC
// is still unknown and only an OUI could admit it.
func (p policy) allow(vendor, mac string) (ok, decided bool) {
	if p.open() || (vendor != "" && slices.Contains(p.vendors, vendor)) {
		return true, true
	}
	if mac == "" {
		return false, len(p.ouis) == 0
	}
	return len(mac) == 12 && slices.Contains(p.ouis, mac[:6]), true
}
