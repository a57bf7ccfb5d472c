package provisionhttp

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/provision-http/internal/route"
	"github.com/dialtone-voip/dialtone/services/provision-http/internal/uafw"
	"github.com/dialtone-voip/dialtone/services/provision-http/internal/uamac"
)

var (
	hdrNoStore     = []string{"no-store"}
	hdrNosniff     = []string{"nosniff"}
	notFoundBody   = []byte("404 not found\n")
	tooManyBody    = []byte("429 too many requests\n")
	unavailBody    = []byte("503 service unavailable\n")
	maxUserAgent   = 256 // bytes of User-Agent kept in events and logs
	standardMethod = map[string]bool{
		http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true, http.MethodDelete: true,
		http.MethodOptions: true, http.MethodTrace: true, http.MethodConnect: true,
	}
)

// recorder remembers what was answered, for the access log and metrics.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// request is one phone request on its way through the pipeline.
type request struct {
	r       *http.Request
	w       *recorder
	start   time.Time
	src     netip.AddrPort
	srcStr  string
	rt      route.Result
	blocked bool
	retry   time.Duration
	proof   inventoryv1.FetchProof // set once the request is served
}

// source is the client's "ip:port", formatted once.
func (q *request) source() string {
	if q.srcStr == "" {
		q.srcStr = q.src.String()
	}
	return q.srcStr
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	q := &request{r: r, w: &recorder{ResponseWriter: w}, start: s.now(), src: s.clientAddr(r)}
	q.rt = route.Parse(r.RequestURI)
	out := outPanic
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			// The stack holds no request data; the panic value may, so it is not logged.
			s.log.Error("panic serving a phone request", "path", q.rt.LogPath(), "stack", string(debug.Stack()))
			if q.w.status == 0 {
				writeText(q.w, r, http.StatusInternalServerError, []byte("500 internal server error\n"))
			}
		}
		s.finish(q, out)
	}()
	out = s.handle(q)
}

func (s *Service) handle(q *request) string {
	q.blocked, q.retry = s.thr.Blocked(q.src.Addr(), q.start)
	if m := q.r.Method; m != http.MethodGet && m != http.MethodHead {
		code := http.StatusNotImplemented
		if standardMethod[m] {
			code = http.StatusMethodNotAllowed
			q.w.Header().Set("Allow", "GET, HEAD")
		}
		return s.refuse(q, code, outBadMethod)
	}
	if q.rt.Status != 0 {
		if q.rt.Status == http.StatusNotFound {
			return s.notFound(q, true, outBadPath)
		}
		return s.refuse(q, q.rt.Status, outBadPath)
	}

	// The same three steps for every well-formed request, known token or not:
	// unknown tokens carry the decoy profile, so the work (and which caches
	// hit) does not tell them apart from a known token with a wrong file.
	ctx := q.r.Context()
	linkMAC := s.linkAssertion(q.r)
	sum := sha256.Sum256([]byte(q.rt.Token))
	te, admitted, err := s.lookupToken(ctx, q.start, q.rt.Token, sum, q.blocked)
	if err != nil {
		if isSealed(err) {
			return s.sealed(q)
		}
		return s.unavailable(q, "inventory", err)
	}
	if !admitted {
		return s.notFound(q, true, outUnknownToken)
	}
	prof := te.profile
	model, err := s.lookupModel(ctx, q.start, prof.GetVendor(), prof.GetModel())
	if err != nil {
		return s.unavailable(q, "renderer", err)
	}
	fe, err := s.render(ctx, q.start, te, q.rt.File)
	if err != nil {
		return s.unavailable(q, "renderer", err)
	}
	ua := q.r.UserAgent()
	uaOK := model == nil || !model.GetUserAgentHasMac() || uamac.Contains(ua, prof.GetMac())
	isTLS := s.isTLS(q.r)
	secretsOK := !fe.secrets || (!prof.GetBootstrap() && (isTLS || !te.httpsRequired))

	switch {
	case !te.valid:
		return s.notFound(q, true, outUnknownToken)
	case !uaOK:
		return s.notFound(q, true, outWrongUA)
	case fe.invalid:
		s.log.Error("config-renderer cannot render this phone's file", "mac", prof.GetMac(), "file", q.rt.File)
		return s.notFound(q, false, outRenderInvalid)
	case !fe.found:
		return s.notFound(q, false, outWrongFile)
	case !secretsOK:
		if prof.GetBootstrap() {
			s.log.Error("renderer put secrets into a bootstrap file; not served", "mac", prof.GetMac(), "file", q.rt.File)
		}
		return s.notFound(q, false, outHTTPSRequired)
	}

	// How the request proved the phone, and whether inventory's release
	// rule lets this proof have the secrets (docs/SECURITY.md).
	proof := inventoryv1.FetchProof_FETCH_PROOF_TOKEN
	if model != nil && model.GetUserAgentHasMac() {
		proof = inventoryv1.FetchProof_FETCH_PROOF_TOKEN_UA
	}
	dc := deviceCert{result: certNone}
	if s.cas != nil {
		dc = s.checkDeviceCert(q.r.TLS, prof.GetVendor(), prof.GetMac(), q.start)
	}
	switch {
	case dc.result == certVerified:
		proof = inventoryv1.FetchProof_FETCH_PROOF_TOKEN_CERTIFICATE
	case linkMAC == "":
	case linkMAC == prof.GetMac():
		// A pnp-listener proved this requester's link-layer address is the
		// phone's (linkAssertion checked its credential).
		proof = inventoryv1.FetchProof_FETCH_PROOF_LINK
		s.met.linkAssertions.WithLabelValues(linkHonoured).Inc()
	default:
		s.met.linkAssertions.WithLabelValues(linkMACMismatch).Inc()
		s.log.Warn("link assertion for another MAC than the token's phone ignored", "mac", prof.GetMac(), "asserted", linkMAC, "file", q.rt.File, "source", q.source())
	}
	if fe.secrets {
		s.met.deviceCerts.WithLabelValues(dc.result).Inc()
		ok, err := s.authorizeRelease(ctx, q, te, proof, dc)
		if err != nil {
			return s.unavailable(q, "inventory", err)
		}
		if !ok {
			return s.notFound(q, true, outRelease)
		}
	}
	q.proof = proof

	// Canonical keys and shared, never-modified value slices: no allocation.
	h := q.w.Header()
	h["Content-Type"] = fe.hdrType
	h["Cache-Control"] = hdrNoStore
	h["Etag"] = fe.hdrETag
	h["X-Content-Type-Options"] = hdrNosniff
	out := outServed
	if etagMatch(q.r.Header.Values("If-None-Match"), fe.etag) {
		q.w.WriteHeader(http.StatusNotModified)
		out = outNotModified
	} else {
		h["Content-Length"] = fe.hdrLength
		q.w.WriteHeader(http.StatusOK)
		if q.r.Method != http.MethodHead {
			_, _ = q.w.Write(fe.content)
		}
	}
	if q.r.Method == http.MethodGet && s.js != nil {
		s.enqueue(&eventsv1.ConfigFetched{
			Mac:           prof.GetMac(),
			FileName:      q.rt.File,
			UserAgent:     strings.ToValidUTF8(truncate(ua, maxUserAgent), "\uFFFD"), // proto strings must be UTF-8
			SourceAddress: q.source(),
			Etag:          fe.etag,
			Revision:      prof.GetRevision(),
			Bootstrap:     prof.GetBootstrap(),
			Https:         isTLS,
			FetchTime:     timestamppb.New(q.start),
			// The file with the account (the catalog's secrets file) is the
			// one that makes the phone provisioned.
			AccountFile:       proto.Bool(fe.secrets),
			Firmware:          uafw.Firmware(prof.GetVendor(), ua),
			Proof:             proof,
			CertificateSha256: dc.sha256,
		})
	}
	return out
}

// failed records a failure of q's source. It reports whether the answer
// must be 429 (the source was already blocked when q arrived).
func (s *Service) failed(q *request) bool {
	nowBlocked, d := s.thr.Fail(q.src.Addr(), s.now())
	if nowBlocked && !q.blocked {
		s.met.blocks.Inc()
		s.log.Warn("source blocked after repeated failures", "source", q.src.Addr().String(), "for", d.Round(time.Millisecond))
	}
	if q.blocked {
		q.retry = max(q.retry, d)
	}
	return q.blocked
}

// notFound answers the one 404 every miss gets, no sooner than
// NotFoundMinLatency after the request arrived. count says whether the miss
// counts against the source (misses of a known token do not: its fallback
// chain of files is normal phone behaviour).
func (s *Service) notFound(q *request, count bool, out string) string {
	if count && s.failed(q) {
		return s.tooMany(q)
	}
	if d := s.cfg.NotFoundMinLatency - s.now().Sub(q.start); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-q.r.Context().Done():
			t.Stop()
		}
	}
	writeText(q.w, q.r, http.StatusNotFound, notFoundBody)
	return out
}

// refuse answers a malformed request (400, 405, 414, 501); it counts as a failure.
func (s *Service) refuse(q *request, code int, out string) string {
	if s.failed(q) {
		return s.tooMany(q)
	}
	writeText(q.w, q.r, code, []byte(strconv.Itoa(code)+" "+strings.ToLower(http.StatusText(code))+"\n"))
	return out
}

func (s *Service) tooMany(q *request) string {
	secs := int((q.retry + time.Second - 1) / time.Second)
	q.w.Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
	writeText(q.w, q.r, http.StatusTooManyRequests, tooManyBody)
	return outThrottled
}

func (s *Service) unavailable(q *request, upstream string, err error) string {
	s.log.Warn("upstream call failed", "upstream", upstream, "error", err)
	q.w.Header().Set("Retry-After", "30")
	writeText(q.w, q.r, http.StatusServiceUnavailable, unavailBody)
	return outUpstream
}

func writeText(w http.ResponseWriter, r *http.Request, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// etagMatch implements If-None-Match's weak comparison (RFC 9110 13.1.2).
func etagMatch(values []string, etag string) bool {
	strip := func(t string) string { return strings.TrimPrefix(strings.TrimSpace(t), "W/") }
	e := strip(etag)
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t == "*" || strip(t) == e {
				return true
			}
		}
	}
	return false
}

// clientAddr is the peer address, or, when the peer is a trusted proxy, the
// first untrusted address in X-Forwarded-For counted from the right (port 0:
// unknown).
func (s *Service) clientAddr(r *http.Request) netip.AddrPort {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if !s.trusted(ap.Addr()) {
		return ap
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i, n := len(hops)-1, 0; i >= 0 && n < 32; i, n = i-1, n+1 {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		ap = netip.AddrPortFrom(a.Unmap(), 0)
		if !s.trusted(ap.Addr()) {
			break
		}
	}
	return ap
}

// isTLS reports whether the phone's request came over TLS: to this server,
// or to a trusted proxy that says so in X-Forwarded-Proto (the last value,
// which the proxy itself set).
func (s *Service) isTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if len(s.cfg.TrustedProxies) == 0 {
		return false
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !s.trusted(peer.Addr().Unmap()) {
		return false
	}
	vals := r.Header.Values("X-Forwarded-Proto")
	if len(vals) == 0 {
		return false
	}
	last := vals[len(vals)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.EqualFold(strings.TrimSpace(last), "https")
}

func (s *Service) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s *Service) finish(q *request, out string) {
	d := s.now().Sub(q.start)
	code := q.w.status
	if code == 0 {
		code = http.StatusOK
	}
	s.met.observe(code, out, d)
	if !s.cfg.AccessLog {
		return
	}
	// Never the raw target (it holds the token) and never a body.
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("method", truncate(q.r.Method, 16)),
		slog.String("path", q.rt.LogPath()),
		slog.Int("status", code),
		slog.Int64("bytes", q.w.bytes),
		slog.Duration("duration", d),
		slog.String("source", q.source()),
		slog.String("user_agent", truncate(q.r.UserAgent(), maxUserAgent)),
		slog.Bool("tls", s.isTLS(q.r)),
		slog.String("outcome", out),
		slog.String("proof", proofLabel(q.proof)),
	)
}

// proofLabel is the access log's name of a proof: token, token_ua,
// token_certificate, link, or "" for requests not served.
func proofLabel(p inventoryv1.FetchProof) string {
	if p == inventoryv1.FetchProof_FETCH_PROOF_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(p.String(), "FETCH_PROOF_"))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// fetchIDWindow is the span of fetch times that share one message id: a
// publish retried, or a phone polling the same file, within it is one
// event; a later fetch of the same file is a new one, so it can repair an
// inventory write lost in a Redis failover (found by the chaos test: the
// phone's second fetch, inside JetStream's 2-minute duplicate window, was
// dropped as a duplicate and the phone stayed "fetching").
const fetchIDWindow = 10 * time.Second

// msgID is ConfigFetched's de-duplication id (events.proto):
// "fetch-{mac}-{revision}-{file_name}-{etag}-{window}", the etag without
// quotes, window = the fetch time's Unix seconds / 10.
func msgID(ev *eventsv1.ConfigFetched) string {
	w := ev.GetFetchTime().AsTime().Unix() / int64(fetchIDWindow/time.Second)
	return "fetch-" + ev.GetMac() + "-" + strconv.FormatInt(ev.GetRevision(), 10) + "-" + ev.GetFileName() + "-" + strings.Trim(ev.GetEtag(), `"`) + "-" + strconv.FormatInt(w, 10)
}
