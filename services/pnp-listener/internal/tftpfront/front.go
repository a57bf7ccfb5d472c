package tftpfront

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Errors Identify returns.
var (
	// ErrNotLAN: the source is not on a LAN the listener serves directly,
	// so its link-layer address cannot be known.
	ErrNotLAN = errors.New("tftpfront: source not on a served LAN")
	// ErrUnresolved: the kernel has no neighbour entry for the source.
	ErrUnresolved = errors.New("tftpfront: source's link-layer address unresolved")
)

// Request outcomes (dialtone_pnp_listener_tftp_requests_total{outcome}).
// Every one but served answers the phone TFTP error 1 "file not found".
const (
	OutServed         = "served"
	OutBadName        = "bad_name"
	OutMACMismatch    = "mac_mismatch"
	OutNotLAN         = "not_lan"
	OutLinkUnresolved = "link_unresolved"
	OutLimitSource    = "limit_source"
	OutLimitTotal     = "limit_total"
	OutUnknownPhone   = "unknown_phone"
	OutNoURL          = "no_url"
	OutInventoryError = "inventory_error"
	OutEdgeNotFound   = "edge_not_found"
	OutEdgeError      = "edge_error"
	OutTooLarge       = "too_large"
	OutSendError      = "send_error"
	// OutWriteRefused: a write request (the front is read-only).
	OutWriteRefused = "write_refused"
	// OutMalformed: a datagram on the server port that is no request
	// (truncated, unknown opcode, no NUL-terminated name and mode):
	// dropped without an answer.
	OutMalformed = "malformed"
)

var outcomes = []string{OutServed, OutBadName, OutMACMismatch, OutNotLAN, OutLinkUnresolved, OutLimitSource,
	OutLimitTotal, OutUnknownPhone, OutNoURL, OutInventoryError, OutEdgeNotFound, OutEdgeError, OutTooLarge, OutSendError,
	OutWriteRefused, OutMalformed}

// ErrUnknownPhone is what URL returns for a MAC inventory does not know.
var ErrUnknownPhone = errors.New("tftpfront: unknown phone")

// errNotFound is the only thing a refused phone is told (TFTP error 1): the
// reason is counted and logged, never sent.
var errNotFound = errors.New("file not found")

// Options configure a Front.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Identify returns the MAC (12 lowercase hex digits) the kernel's
	// neighbour table holds for src, the request's source, or ErrNotLAN /
	// ErrUnresolved.
	Identify func(ctx context.Context, src netip.Addr) (string, error)
	// URL returns the phone's provisioning URL ("" when it gets nothing),
	// or ErrUnknownPhone.
	URL func(ctx context.Context, mac string) (string, error)
	// Client fetches from the edge; nil is a client with Timeout
	// FetchTimeout.
	Client *http.Client
	// MaxPerSource and MaxTotal bound concurrent transfers (defaults 2, 64).
	MaxPerSource, MaxTotal int
	// MaxFileSize bounds a relayed file (default 1 MiB): the file is read
	// whole before the first block goes out.
	MaxFileSize int64
	// FetchTimeout bounds identification, lookup and the edge fetch
	// together (default 5 s).
	FetchTimeout time.Duration
	// Timeout and Retries are the TFTP retransmission settings (defaults
	// 2 s, 5).
	Timeout time.Duration
	Retries int
	// RelayToken is the listener's relay credential at the edge
	// (provision-http --relay-tokens-file, role listener). When set, every
	// relayed fetch asserts the link proof: LinkProofHeader names the MAC
	// identified at the link layer, with "Authorization: Bearer
	// RelayToken", and the edge records the fetch as FETCH_PROOF_LINK.
	// Empty: no assertion (the fetch proves the token alone).
	RelayToken string
}

// LinkProofHeader carries the link assertion of a relayed fetch; it is
// provision-http's LinkProofHeader (the edge honours it only with a
// listener's relay credential, so a phone cannot send it to effect).
const LinkProofHeader = "Dialtone-Link-Proof"

// UserAgent is the User-Agent of the relayed fetch. It names the phone's
// MAC, as Cisco's HTTP-capable firmware does, so the edge's User-Agent rule
// holds for models that have it.
func UserAgent(mac string) string {
	return "dialtone-pnp-listener-tftp (MAC:" + strings.ToUpper(mac) + ")"
}

// Front is the TFTP server.
type Front struct {
	o   Options
	log *slog.Logger
	srv *tftp.Server

	requests *prometheus.CounterVec
	bytes    prometheus.Counter
	inflight prometheus.Gauge
	srcPeak  prometheus.Gauge
	fetchDur prometheus.Histogram

	mu       sync.Mutex
	total    int
	perSrc   map[netip.Addr]int
	warnNext time.Time
}

// New builds a Front; Serve runs it.
func New(o Options) (*Front, error) {
	if o.Identify == nil || o.URL == nil {
		return nil, errors.New("tftpfront: Identify and URL are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxPerSource <= 0 {
		o.MaxPerSource = 2
	}
	if o.MaxTotal <= 0 {
		o.MaxTotal = 64
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = 1 << 20
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Retries <= 0 {
		o.Retries = 5
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.FetchTimeout}
	}
	f := &Front{
		o: o, log: o.Logger, perSrc: map[netip.Addr]int{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dialtone_pnp_listener_tftp_requests_total",
			Help: "TFTP read requests by outcome; every outcome but served answers \"file not found\".",
		}, []string{"outcome"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dialtone_pnp_listener_tftp_bytes_total", Help: "File bytes sent over TFTP.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dialtone_pnp_listener_tftp_transfers_inflight", Help: "TFTP transfers being served.",
		}),
		srcPeak: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dialtone_pnp_listener_tftp_source_transfers_max",
			Help: "Most TFTP transfers being served to one source address (bounded by --tftp-max-per-source).",
		}),
		fetchDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dialtone_pnp_listener_tftp_fetch_seconds", Help: "Read request to file in hand (identification, lookup, edge fetch).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	for _, o := range outcomes {
		f.requests.WithLabelValues(o)
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{f.requests, f.bytes, f.inflight, f.srcPeak, f.fetchDur} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("tftpfront: metrics: %w", err)
			}
		}
	}
	f.srv = tftp.NewServer(f.read, f.write)
	f.srv.SetTimeout(o.Timeout)
	f.srv.SetRetries(o.Retries)
	f.srv.SetHook(hook{f})
	return f, nil
}

// write refuses every write request: the front is read-only.
func (f *Front) write(string, io.WriterTo) error {
	f.requests.WithLabelValues(OutWriteRefused).Inc()
	return errNotFound
}

// hook counts the datagrams pin/tftp drops before any handler runs: it
// reports them as failures without a transfer (no remote address, no
// name). Failures of transfers are counted by read and write.
type hook struct{ f *Front }

func (hook) OnSuccess(tftp.TransferStats) {}

func (h hook) OnFailure(st tftp.TransferStats, err error) {
	if st.RemoteAddr == nil && st.Filename == "" {
		h.f.requests.WithLabelValues(OutMalformed).Inc()
	}
}

// Serve answers read requests arriving on conn until Shutdown. pin/tftp
// opens one socket per transfer from the goroutine that calls Serve, so a
// caller serving a network namespace calls Serve on a thread inside it.
func (f *Front) Serve(conn net.PacketConn) error { return f.srv.Serve(conn) }

// Shutdown stops Serve and waits for running transfers.
func (f *Front) Shutdown() { f.srv.Shutdown() }

// Count returns how many requests ended with outcome (for tests).
func (f *Front) Count(outcome string) float64 {
	var m dto.Metric
	if err := f.requests.WithLabelValues(outcome).Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

func (f *Front) read(name string, rf io.ReaderFrom) error {
	ot, ok := rf.(tftp.OutgoingTransfer)
	if !ok {
		return errNotFound
	}
	ra := ot.RemoteAddr()
	src, ok := netip.AddrFromSlice(ra.IP)
	if !ok {
		return f.refuse(OutNotLAN, netip.Addr{}, name, "", "")
	}
	src = src.Unmap()
	n, err := ParseName(name)
	if err != nil {
		return f.refuse(OutBadName, src, name, "", "")
	}
	if out := f.acquire(src); out != "" {
		return f.refuse(out, src, n.File, "", "")
	}
	defer f.release(src)

	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), f.o.FetchTimeout)
	defer cancel()
	mac, err := f.o.Identify(ctx, src)
	switch {
	case errors.Is(err, ErrNotLAN):
		return f.refuse(OutNotLAN, src, n.File, "", "")
	case err != nil || mac == "":
		return f.refuse(OutLinkUnresolved, src, n.File, "", "")
	}
	if !n.NamesOnly(mac) {
		return f.refuse(OutMACMismatch, src, n.File, mac, strings.Join(n.MACs, ","))
	}
	base, err := f.o.URL(ctx, mac)
	switch {
	case errors.Is(err, ErrUnknownPhone):
		return f.refuse(OutUnknownPhone, src, n.File, mac, "")
	case err != nil:
		f.log.Warn("tftp: inventory lookup failed", "mac", mac, "error", err)
		return f.refuse(OutInventoryError, src, n.File, mac, "")
	case base == "":
		return f.refuse(OutNoURL, src, n.File, mac, "")
	}
	body, out := f.fetch(ctx, base, n.File, mac)
	f.fetchDur.Observe(time.Since(t0).Seconds())
	if out != "" {
		return f.refuse(out, src, n.File, mac, "")
	}
	ot.SetSize(int64(len(body)))
	if _, err := rf.ReadFrom(bytes.NewReader(body)); err != nil {
		f.requests.WithLabelValues(OutSendError).Inc()
		f.log.Debug("tftp: transfer failed", "source", src.String(), "mac", mac, "file", n.File, "error", err)
		return nil // the transfer already ended; nothing more to send
	}
	f.requests.WithLabelValues(OutServed).Inc()
	f.bytes.Add(float64(len(body)))
	f.log.Info("tftp: file served", "source", src.String(), "mac", mac, "file", n.File, "bytes", len(body))
	return nil
}

// fetch GETs base/file from the edge as the phone would. The URL (it holds
// the phone's token) is never logged.
func (f *Front) fetch(ctx context.Context, base, file, mac string) ([]byte, string) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		f.log.Warn("tftp: inventory gave a provisioning URL that is not http(s)", "mac", mac)
		return nil, OutEdgeError
	}
	// The provisioning URL names a directory; a template may already end in '/'.
	target := strings.TrimSuffix(base, "/") + "/" + url.PathEscape(file)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, OutEdgeError
	}
	req.Header.Set("User-Agent", UserAgent(mac))
	if f.o.RelayToken != "" {
		// The MAC is the one Identify proved for this request's source
		// (read checked that the name names no other).
		req.Header.Set(LinkProofHeader, mac)
		req.Header.Set("Authorization", "Bearer "+f.o.RelayToken)
	}
	resp, err := f.o.Client.Do(req)
	if err != nil {
		f.log.Warn("tftp: edge fetch failed", "mac", mac, "file", file, "error", redact(err))
		return nil, OutEdgeError
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, OutEdgeNotFound
	case resp.StatusCode != http.StatusOK:
		f.log.Warn("tftp: edge answered", "mac", mac, "file", file, "status", resp.StatusCode)
		return nil, OutEdgeError
	case resp.ContentLength > f.o.MaxFileSize:
		return nil, OutTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.o.MaxFileSize+1))
	switch {
	case err != nil:
		f.log.Warn("tftp: reading the edge's answer failed", "mac", mac, "file", file, "error", redact(err))
		return nil, OutEdgeError
	case int64(len(body)) > f.o.MaxFileSize:
		return nil, OutTooLarge
	}
	return body, ""
}

// redact drops the URL (with the token) from an *url.Error.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func (f *Front) acquire(src netip.Addr) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.total >= f.o.MaxTotal:
		return OutLimitTotal
	case f.perSrc[src] >= f.o.MaxPerSource:
		return OutLimitSource
	}
	f.total++
	f.perSrc[src]++
	f.inflight.Set(float64(f.total))
	f.setSourcePeak()
	return ""
}

// setSourcePeak sets the per-source gauge; the map holds at most MaxTotal
// sources. f.mu is held.
func (f *Front) setSourcePeak() {
	peak := 0
	for _, n := range f.perSrc {
		peak = max(peak, n)
	}
	f.srcPeak.Set(float64(peak))
}

func (f *Front) release(src netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total--
	if f.perSrc[src]--; f.perSrc[src] <= 0 {
		delete(f.perSrc, src)
	}
	f.inflight.Set(float64(f.total))
	f.setSourcePeak()
}

// refuse counts a refusal and logs it (a MAC mismatch at WARN, at most one
// a second: a flood of forged names must not flood the log).
func (f *Front) refuse(outcome string, src netip.Addr, file, mac, named string) error {
	f.requests.WithLabelValues(outcome).Inc()
	if outcome == OutMACMismatch {
		f.mu.Lock()
		now := time.Now()
		warn := !now.Before(f.warnNext)
		if warn {
			f.warnNext = now.Add(time.Second)
		}
		f.mu.Unlock()
		if warn {
			f.log.Warn("tftp: refused a file naming another MAC than the sender's link-layer address",
				"source", src.String(), "link_mac", mac, "named_mac", named, "file", file)
		}
		return errNotFound
	}
	f.log.Debug("tftp: refused", "outcome", outcome, "source", src.String(), "file", file, "mac", mac)
	return errNotFound
}
