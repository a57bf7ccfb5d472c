package auth

import (
	"context"
	"crypto/x509"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// MetadataKey is the gRPC metadata key carrying "Bearer <token>".
const MetadataKey = "authorization"

// DefaultExempt lists the methods that need no credentials: health checks
// (probes carry no token) and reflection. Entries ending in "/" match a
// whole service.
var DefaultExempt = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

// Interceptor authenticates every call and stores the Principal in the
// context (NewContext). Calls without valid credentials fail with
// codes.Unauthenticated before reaching the handler.
type Interceptor struct {
	// Tokens verifies bearer tokens; nil accepts none.
	Tokens Authenticator
	// ClientCerts accepts a verified TLS client certificate (mTLS) as
	// credentials when the call has no bearer token (see CertPrincipal).
	ClientCerts bool
	// Exempt lists full method names ("/pkg.Service/Method") or service
	// prefixes ending in "/" that are called without credentials. Exempt
	// calls carry no Principal unless they present valid credentials.
	Exempt []string
}

func (i Interceptor) exempt(method string) bool {
	for _, e := range i.Exempt {
		if method == e || (strings.HasSuffix(e, "/") && strings.HasPrefix(method, e)) {
			return true
		}
	}
	return false
}

// Authenticate returns ctx with the caller's Principal, or an
// Unauthenticated error. The error never contains the token.
func (i Interceptor) Authenticate(ctx context.Context, method string) (context.Context, error) {
	p, err := i.principal(ctx)
	if err == nil {
		return NewContext(ctx, p), nil
	}
	if i.exempt(method) {
		return ctx, nil
	}
	return ctx, err
}

func (i Interceptor) principal(ctx context.Context) (Principal, error) {
	token, present, err := BearerFromContext(ctx)
	if err != nil {
		return Principal{}, err
	}
	if present {
		if i.Tokens != nil {
			if p, ok := i.Tokens.Authenticate(token); ok {
				return p, nil
			}
		}
		return Principal{}, status.Error(codes.Unauthenticated, "invalid token")
	}
	if i.ClientCerts {
		if cert := verifiedClientCert(ctx); cert != nil {
			p, err := CertPrincipal(cert)
			if err != nil {
				return Principal{}, status.Error(codes.Unauthenticated, err.Error())
			}
			return p, nil
		}
	}
	return Principal{}, status.Error(codes.Unauthenticated, "missing bearer token")
}

// BearerFromContext extracts the bearer token from incoming metadata.
// present is false when there is no authorization metadata; a malformed
// value is an Unauthenticated error.
func BearerFromContext(ctx context.Context) (token string, present bool, err error) {
	// Only this key: FromIncomingContext would copy all of the metadata.
	vals := metadata.ValueFromIncomingContext(ctx, MetadataKey)
	if len(vals) == 0 {
		return "", false, nil
	}
	if len(vals) > 1 {
		return "", true, status.Error(codes.Unauthenticated, "more than one authorization value")
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
		return "", true, status.Error(codes.Unauthenticated, "authorization must be \"Bearer <token>\"")
	}
	return strings.TrimSpace(tok), true, nil
}

func verifiedClientCert(ctx context.Context) *x509.Certificate {
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	ti, ok := pr.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return ti.State.VerifiedChains[0][0]
}

// CertPrincipal maps a verified client certificate to a principal: the
// subject's CommonName is the name, and the first OrganizationalUnit that is
// a valid role is the role. Certificates carry no tenant.
func CertPrincipal(cert *x509.Certificate) (Principal, error) {
	if cert.Subject.CommonName == "" {
		return Principal{}, status.Error(codes.Unauthenticated, "client certificate has no common name")
	}
	for _, ou := range cert.Subject.OrganizationalUnit {
		if r := Role(ou); r.Valid() {
			return Principal{Name: cert.Subject.CommonName, Role: r}, nil
		}
	}
	return Principal{}, status.Error(codes.Unauthenticated, "client certificate has no role (OU)")
}

// Unary returns the unary server interceptor.
func (i Interceptor) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := i.Authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream returns the stream server interceptor.
func (i Interceptor) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := i.Authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	}
}

// WithPrincipal returns interceptors that attach p to every call without
// checking credentials: for servers with authentication switched off.
func WithPrincipal(p Principal) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(NewContext(ctx, p), req)
		}, func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(srv, &ctxStream{ServerStream: ss, ctx: NewContext(ss.Context(), p)})
		}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// BearerToken returns client credentials that send "Bearer <token>" with
// every call. With requireTLS, grpc refuses to send them over an insecure
// connection; pass false only for loopback or in-process connections.
func BearerToken(token string, requireTLS bool) credentials.PerRPCCredentials {
	return bearer{header: "Bearer " + token, tls: requireTLS}
}

type bearer struct {
	header string // "Bearer <token>", built once rather than per call
	tls    bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{MetadataKey: b.header}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.tls }

// String keeps the token out of %v output.
func (b bearer) String() string { return "auth.BearerToken(" + redacted + ")" }

const redacted = "[REDACTED]"

// TapHandle returns a grpc.InTapHandle that authenticates a call from its
// headers alone, before the server reads (and buffers) its request message:
// without it, an unauthenticated caller makes the server read up to
// MaxRecvMsgSize per stream before the interceptor refuses the call. The
// returned context carries the Principal. The interceptors stay in place
// for transports that bypass the tap (ServeHTTP). refused, when not nil, is
// called for each refused call; it runs on the connection's reader and must
// not block.
func (i Interceptor) TapHandle(refused func()) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		ctx, err := i.Authenticate(ctx, info.FullMethodName)
		if err != nil && refused != nil {
			refused()
		}
		return ctx, err
	}
}
