package grpcserver

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Defaults of Limits. They bound what one connection can make the server
// hold: at most DefaultMaxConcurrentStreams messages of at most
// DefaultMaxRecvMsgSize each, and only for authenticated callers (the
// token is checked from the headers, before any message is read).
const (
	DefaultMaxRecvMsgSize       = 4 << 20 // gRPC's own default; bulk imports fit
	DefaultMaxConcurrentStreams = 128
	// DefaultKeepaliveMinTime is the shortest interval at which a client
	// may ping; a client pinging more often is disconnected (GOAWAY
	// "too_many_pings"), so pings cannot be used to keep the server busy.
	DefaultKeepaliveMinTime = 10 * time.Second
	// DefaultKeepaliveTime and DefaultKeepaliveTimeout: the server pings a
	// connection idle for KeepaliveTime and closes it when no answer comes
	// within KeepaliveTimeout, so dead peers do not hold file descriptors.
	DefaultKeepaliveTime    = time.Minute
	DefaultKeepaliveTimeout = 20 * time.Second
	// DefaultMaxConnectionIdle closes connections without calls for this
	// long (clients reconnect transparently).
	DefaultMaxConnectionIdle = 15 * time.Minute
)

// Limits bound the resources callers can tie up. Zero fields take the
// Default… values.
type Limits struct {
	// MaxRecvMsgSize caps every request message, in bytes.
	MaxRecvMsgSize int
	// MethodMaxRecvMsgSize caps the request messages of some methods below
	// MaxRecvMsgSize: full method names ("/pkg.Service/Method") or service
	// prefixes ending in "/" (the full name wins). A larger message fails
	// with ResourceExhausted before the handler runs. gRPC has no per-method
	// read limit, so such a message is still read (up to MaxRecvMsgSize,
	// and only from an authenticated caller); the cap keeps it from the
	// handler, the store and the event stream.
	MethodMaxRecvMsgSize map[string]int
	// MaxConcurrentStreams caps the calls in flight on one connection;
	// further streams are refused (REFUSED_STREAM) and clients retry.
	MaxConcurrentStreams uint32
	// KeepaliveMinTime: see DefaultKeepaliveMinTime.
	KeepaliveMinTime time.Duration
	// KeepaliveTime and KeepaliveTimeout: see DefaultKeepaliveTime.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	// MaxConnectionIdle: see DefaultMaxConnectionIdle.
	MaxConnectionIdle time.Duration
}

// RegisterFlags adds the --grpc-… limit flags, with defaults, to fs.
func (l *Limits) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&l.MaxRecvMsgSize, "grpc-max-recv-bytes", DefaultMaxRecvMsgSize, "largest gRPC request message accepted, in bytes")
	fs.Func("grpc-max-streams", fmt.Sprintf("gRPC calls in flight per connection (default %d)", DefaultMaxConcurrentStreams), func(s string) error {
		var n uint32
		if _, err := fmt.Sscan(s, &n); err != nil || n == 0 {
			return fmt.Errorf("want a positive integer, got %q", s)
		}
		l.MaxConcurrentStreams = n
		return nil
	})
	fs.DurationVar(&l.KeepaliveMinTime, "grpc-keepalive-min-time", DefaultKeepaliveMinTime, "shortest client ping interval; faster pingers are disconnected")
	fs.DurationVar(&l.KeepaliveTime, "grpc-keepalive-time", DefaultKeepaliveTime, "ping a gRPC connection idle this long")
	fs.DurationVar(&l.KeepaliveTimeout, "grpc-keepalive-timeout", DefaultKeepaliveTimeout, "close a gRPC connection whose ping is unanswered this long")
	fs.DurationVar(&l.MaxConnectionIdle, "grpc-max-connection-idle", DefaultMaxConnectionIdle, "close gRPC connections without calls for this long")
}

// withDefaults returns l with zero fields set to their defaults.
func (l Limits) withDefaults() Limits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.MaxRecvMsgSize <= 0 {
		l.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	def(&l.KeepaliveMinTime, DefaultKeepaliveMinTime)
	def(&l.KeepaliveTime, DefaultKeepaliveTime)
	def(&l.KeepaliveTimeout, DefaultKeepaliveTimeout)
	def(&l.MaxConnectionIdle, DefaultMaxConnectionIdle)
	return l
}

func (l Limits) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(l.MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(l.MaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: l.KeepaliveMinTime,
			// Clients of the suite keep connections open between calls.
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: l.MaxConnectionIdle,
			Time:              l.KeepaliveTime,
			Timeout:           l.KeepaliveTimeout,
		}),
	}
}

// methodCap returns the per-method cap of method, or 0.
func (l Limits) methodCap(method string) int {
	if n, ok := l.MethodMaxRecvMsgSize[method]; ok {
		return n
	}
	best, limit := 0, 0
	for k, n := range l.MethodMaxRecvMsgSize {
		if strings.HasSuffix(k, "/") && strings.HasPrefix(method, k) && len(k) > best {
			best, limit = len(k), n
		}
	}
	return limit
}

func tooLarge(m *metrics, method string, size, limit int) error {
	m.refuse(reasonTooLarge)
	return status.Errorf(codes.ResourceExhausted, "request message of %s is %d bytes, larger than the %d bytes allowed", method, size, limit)
}

// capUnary refuses unary requests above their method's cap.
func (l Limits) capUnary(m *metrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if limit := l.methodCap(info.FullMethod); limit > 0 {
			if msg, ok := req.(proto.Message); ok {
				if n := proto.Size(msg); n > limit {
					return nil, tooLarge(m, info.FullMethod, n, limit)
				}
			}
		}
		return h(ctx, req)
	}
}

// capStream refuses stream messages above their method's cap.
func (l Limits) capStream(m *metrics) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if limit := l.methodCap(info.FullMethod); limit > 0 {
			ss = &cappedStream{ServerStream: ss, limit: limit, method: info.FullMethod, m: m}
		}
		return h(srv, ss)
	}
}

type cappedStream struct {
	grpc.ServerStream
	limit  int
	method string
	m      *metrics
}

func (s *cappedStream) RecvMsg(v any) error {
	if err := s.ServerStream.RecvMsg(v); err != nil {
		return err
	}
	if msg, ok := v.(proto.Message); ok {
		if n := proto.Size(msg); n > s.limit {
			return tooLarge(s.m, s.method, n, s.limit)
		}
	}
	return nil
}
