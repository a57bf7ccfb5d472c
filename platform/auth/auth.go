// Package auth authenticates gRPC callers and authorises them by role.
//
// Callers present a bearer token in the "authorization" metadata
// ("Bearer <token>"); a TokenSet, loaded from a JSON tokens file that stores
// SHA-256 hashes, maps it to a Principal (name, role, optional tenant).
// Verified TLS client certificates can stand in for tokens (CertPrincipal).
// The server interceptors put the Principal into the request context;
// handlers check it with Require. Tokens never appear in errors or logs.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Role is what a principal may do. Services decide which roles may call
// which method (Require).
type Role string

// The roles of the suite (docs/CONVENTIONS.md).
const (
	RoleAdmin    Role = "admin"    // operators: everything
	RoleReadOnly Role = "readonly" // dashboards, auditors: read methods
	RoleEdge     Role = "edge"     // provision-http
	RoleListener Role = "listener" // pnp-listener
	RoleService  Role = "service"  // rps-client and other internal callers
)

// Roles lists every valid role.
var Roles = []Role{RoleAdmin, RoleReadOnly, RoleEdge, RoleListener, RoleService}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// ParseRole returns the Role named s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("auth: unknown role %q", s)
	}
	return r, nil
}

// Principal is an authenticated caller.
type Principal struct {
	Name   string // token or certificate name, for logs and audit
	Role   Role
	Tenant string // empty: not bound to a tenant
}

// Anonymous is the principal of every call on a server without
// authentication (grpcserver.Options.Auth == nil): an admin, so that Require
// lets everything through when auth is deliberately off.
var Anonymous = Principal{Name: "anonymous", Role: RoleAdmin}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal in ctx, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Require returns nil when ctx carries a principal whose role is one of
// roles, a gRPC Unauthenticated error when it carries none, and
// PermissionDenied otherwise. There is no implicit role: list RoleAdmin too
// if admins may call.
func Require(ctx context.Context, roles ...Role) error {
	p, ok := FromContext(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "authentication required")
	}
	if slices.Contains(roles, p.Role) {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "role %q may not call this method", p.Role)
}

// GenerateToken returns a new random token: 32 bytes from crypto/rand,
// base64url without padding (43 characters).
func GenerateToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: generate token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
