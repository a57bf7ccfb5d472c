// Package grpcserver builds the gRPC server every Dialtone service uses:
// health service, reflection, and a fixed interceptor chain — metrics and
// logging outermost, then panic recovery, then authentication.
//
// Health reports NOT_SERVING until Serve starts, SERVING while it runs, and
// NOT_SERVING again as soon as shutdown begins, so load balancers and
// Kubernetes gRPC probes stop sending new calls while in-flight calls drain.
package grpcserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/dialtone-voip/dialtone/platform/auth"
)

// DefaultShutdownTimeout bounds GracefulStop when Options.ShutdownTimeout
// is zero.
const DefaultShutdownTimeout = 10 * time.Second

// Options configure New. All fields are optional.
type Options struct {
	// Logger receives one line per call and recovered panics; nil discards.
	Logger *slog.Logger
	// Auth verifies bearer tokens. Nil switches authentication off: every
	// call then carries auth.Anonymous (an admin).
	Auth auth.Authenticator
	// Registerer receives the server metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// TLSConfig switches TLS on. With ClientAuth set to verify client
	// certificates (mTLS), a verified certificate without a bearer token
	// authenticates its caller (auth.CertPrincipal).
	TLSConfig *tls.Config
	// ExemptMethods are called without credentials, in addition to
	// auth.DefaultExempt (health and reflection).
	ExemptMethods []string
	// ShutdownTimeout bounds GracefulStop before in-flight calls are cut
	// off with Stop; zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// DrainDelay keeps the server answering (while health already says
	// NOT_SERVING) before GracefulStop, so that probes notice first.
	DrainDelay time.Duration
	// Limits bound message sizes, streams and keep-alives; zero fields
	// take their defaults.
	Limits Limits
	// ServerOptions are appended to the server's own options.
	ServerOptions []grpc.ServerOption
}

// Server is a gRPC server with health and reflection registered.
type Server struct {
	opts   Options
	log    *slog.Logger
	grpc   *grpc.Server
	health *health.Server

	serveOnce sync.Once
}

// New builds the server. Register services on GRPC() before calling Serve.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log, health: health.NewServer()}
	// Not serving until Serve runs.
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)

	var m *metrics
	if opts.Registerer != nil {
		m = newMetrics(opts.Registerer)
	}
	limits := opts.Limits.withDefaults()
	unary := []grpc.UnaryServerInterceptor{s.observeUnary(m), s.recoverUnary}
	stream := []grpc.StreamServerInterceptor{s.observeStream(m), s.recoverStream}
	so := limits.serverOptions()
	if opts.Auth == nil {
		u, st := auth.WithPrincipal(auth.Anonymous)
		unary, stream = append(unary, u), append(stream, st)
	} else {
		clientCerts := opts.TLSConfig != nil && opts.TLSConfig.ClientAuth >= tls.VerifyClientCertIfGiven
		ic := auth.Interceptor{
			Tokens:      opts.Auth,
			ClientCerts: clientCerts,
			Exempt:      append(append([]string(nil), auth.DefaultExempt...), opts.ExemptMethods...),
		}
		unary, stream = append(unary, ic.Unary()), append(stream, ic.Stream())
		// The tap refuses unauthenticated calls from their headers, before
		// the request message is read: otherwise every stream of an
		// unauthenticated caller buffers up to MaxRecvMsgSize first.
		so = append(so, grpc.InTapHandle(ic.TapHandle(func() { m.refuse(reasonUnauthenticated) })))
	}
	unary = append(unary, notePrincipalUnary, limits.capUnary(m))
	stream = append(stream, notePrincipalStream, limits.capStream(m))
	so = append(so,
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	)
	if opts.TLSConfig != nil {
		so = append(so, grpc.Creds(credentials.NewTLS(opts.TLSConfig)))
	}
	s.grpc = grpc.NewServer(append(so, opts.ServerOptions...)...)
	healthgrpc.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	return s
}

// GRPC returns the underlying server, to register services on.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Health returns the health service, for per-service statuses. Serve and
// shutdown manage the overall ("") status and every registered service.
func (s *Server) Health() *health.Server { return s.health }

// Serve serves on lis until ctx ends, then shuts down: health turns
// NOT_SERVING, the server waits DrainDelay, stops gracefully for at most
// ShutdownTimeout and then cuts remaining calls off. It returns nil after
// a shutdown caused by ctx, or the error that stopped serving. A Server
// serves only once.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	first := false
	s.serveOnce.Do(func() { first = true })
	if !first {
		return errors.New("grpcserver: Serve called twice")
	}
	for name := range s.grpc.GetServiceInfo() {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)

	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(lis) }()
	s.log.Info("gRPC server serving", "addr", lis.Addr().String())

	select {
	case err := <-errc:
		// nil: someone called GRPC().Stop() or GracefulStop().
		s.health.Shutdown()
		s.grpc.Stop()
		return serveErr(err)
	case <-ctx.Done():
	}

	// Shutdown sets every status to NOT_SERVING and keeps it there.
	s.health.Shutdown()
	s.log.Info("gRPC server draining", "drain_delay", s.opts.DrainDelay)
	if d := s.opts.DrainDelay; d > 0 {
		select {
		case <-time.After(d):
		case err := <-errc:
			return serveErr(err)
		}
	}
	timeout := s.opts.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(timeout):
		s.log.Warn("gRPC graceful stop timed out; cutting calls off", "timeout", timeout)
		s.grpc.Stop()
		<-stopped
	}
	<-errc // Serve returns nil after (Graceful)Stop.
	s.log.Info("gRPC server stopped")
	return nil
}

func serveErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("grpcserver: serve: %w", err)
}

func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (_ any, err error) {
	defer s.recoverPanic(ctx, info.FullMethod, &err)
	return h(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer s.recoverPanic(ss.Context(), info.FullMethod, &err)
	return h(srv, ss)
}

func (s *Server) recoverPanic(ctx context.Context, method string, err *error) {
	if p := recover(); p != nil {
		s.log.ErrorContext(ctx, "panic in gRPC handler", "grpc.method", method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		*err = status.Error(codes.Internal, "internal error")
	}
}

func (s *Server) observeUnary(m *metrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		ci := &callInfo{}
		resp, err := h(context.WithValue(ctx, callInfoKey{}, ci), req)
		s.observe(ctx, m, info.FullMethod, start, ci, err)
		return resp, err
	}
}

func (s *Server) observeStream(m *metrics) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		start := time.Now()
		ci := &callInfo{}
		err := h(srv, &ctxStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), callInfoKey{}, ci)})
		s.observe(ss.Context(), m, info.FullMethod, start, ci, err)
		return err
	}
}

// callInfo carries what inner interceptors learn back to the outermost
// one, which logs the call.
type callInfo struct {
	principal string
}

type callInfoKey struct{}

// notePrincipal runs after authentication and records the caller's name
// for the call log.
func notePrincipal(ctx context.Context) {
	if ci, ok := ctx.Value(callInfoKey{}).(*callInfo); ok {
		if p, ok := auth.FromContext(ctx); ok {
			ci.principal = p.Name
		}
	}
}

func notePrincipalUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	notePrincipal(ctx)
	return h(ctx, req)
}

func notePrincipalStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	notePrincipal(ss.Context())
	return h(srv, ss)
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// CallLevel is the level a finished call with code is logged at.
//
// Successful calls and the answers a client's own request earns (NotFound,
// AlreadyExists, InvalidArgument, FailedPrecondition, Aborted, OutOfRange,
// Canceled) are counted in the metrics and logged only at debug: they are
// normal flows (a lookup of a phone not yet known, a retried create, an
// etag race), and at info a boot storm's lookups or the CLI's checks would
// drown what needs reading. Refused credentials stay at info (someone may be
// guessing), server faults are errors, the rest (Unavailable,
// DeadlineExceeded, ResourceExhausted) info.
func CallLevel(code codes.Code) slog.Level {
	switch code {
	case codes.OK, codes.NotFound, codes.AlreadyExists, codes.InvalidArgument,
		codes.FailedPrecondition, codes.Aborted, codes.OutOfRange, codes.Canceled:
		return slog.LevelDebug
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unimplemented:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// observe logs and counts a finished call: method, code, duration, peer
// and principal, never payloads or metadata.
func (s *Server) observe(ctx context.Context, m *metrics, method string, start time.Time, ci *callInfo, err error) {
	d := time.Since(start)
	code := status.Code(err)
	if m != nil {
		m.observe(method, code, d)
	}
	lvl := CallLevel(code)
	if !s.log.Enabled(ctx, lvl) {
		return
	}
	attrs := []slog.Attr{
		slog.String("grpc.method", method),
		slog.String("grpc.code", code.String()),
		slog.Duration("duration", d),
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer", p.Addr.String()))
	}
	if ci.principal != "" {
		attrs = append(attrs, slog.String("principal", ci.principal))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", status.Convert(err).Message()))
	}
	s.log.LogAttrs(ctx, lvl, "gRPC call", attrs...)
}
