// Package server is inventory's logic: the InventoryService gRPC API
// (validation, roles, tenant scoping, field masks, paging, etags), the
// handlers of the events it consumes (PhoneDiscovered, ConfigFetched,
// RpsResult), provisioning tokens and profiles, and the outbox relay that
// publishes PhoneChanged after each commit.
package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/backoff"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// Config is what the server needs from the service configuration.
type Config struct {
	// Edge base URLs ("http://prov.example.com:8080"); the URL is {base}/p/{token}/.
	EdgeHTTPBase, EdgeHTTPSBase string
	// Bootstrap gives discovered, unassigned phones a secret-free URL.
	Bootstrap bool
	// TokenGrace is how long a rotated-out token keeps working.
	TokenGrace time.Duration
	// HTTPSHint is what to configure for an HTTPS edge, as the refusal of
	// settings.https names it ("--edge-https-base" when empty): the
	// one-process suite has other flags than the standalone inventory.
	HTTPSHint string
	// DiscoveredTTL removes discovered PnP phones unseen this long; 0: never.
	DiscoveredTTL time.Duration
	// DiscoveredMax caps the discovered PnP phones kept per tenant (the
	// longest unseen go first); 0: no cap. See expiry.go.
	DiscoveredMax int
	// PasswordCost is the bcrypt work factor of new user passwords; 0:
	// BcryptCost. A hash keeps the cost it was made with.
	PasswordCost int
}

// Publisher publishes one event with a message id (JetStream, acknowledged).
type Publisher func(ctx context.Context, subject, msgID string, msg proto.Message) error

// Server implements inventoryv1.InventoryServiceServer.
type Server struct {
	inventoryv1.UnimplementedInventoryServiceServer

	cfg     Config
	st      store.Store
	log     *slog.Logger
	js      jetstream.JetStream // WatchPhones; nil: Unavailable
	publish Publisher           // outbox relay and ReprovisionPhone; nil: Unavailable
	now     func() time.Time
	kick    chan struct{}
	m       *metrics
	pc      *profileCache // nil: the store has no change log, or disabled
	models  ModelResolver // nil: models recorded unchecked

	dummyHash func() []byte // see newDummyHash

	beforeCachePut atomic.Pointer[func()] // tests: runs between a miss's read and its insert
	skipFanout     atomic.Bool            // tests: a crash right after a change committed
}

// Options are the server's collaborators.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	JetStream  jetstream.JetStream
	Publish    Publisher
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Models decides vendor, model and family (config-renderer's ResolveModel); nil: unchecked.
	Models ModelResolver
	// ProfileCacheSize bounds the cache of composed provisioning profiles,
	// used with stores that have a change log (Redis): 0 means 16384,
	// negative disables it.
	ProfileCacheSize int
}

// New returns a server over st.
func New(cfg Config, st store.Store, o Options) (*Server, error) {
	if st == nil {
		return nil, errors.New("server: nil store")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg.EdgeHTTPBase = strings.TrimRight(cfg.EdgeHTTPBase, "/")
	cfg.EdgeHTTPSBase = strings.TrimRight(cfg.EdgeHTTPSBase, "/")
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	srv := &Server{
		cfg: cfg, st: st, log: o.Logger, js: o.JetStream, publish: o.Publish, now: o.Now,
		kick: make(chan struct{}, 1), m: m, models: o.Models,
	}
	srv.dummyHash = newDummyHash(srv)
	if cl, ok := st.(store.ChangeLog); ok && o.ProfileCacheSize >= 0 {
		size := o.ProfileCacheSize
		if size == 0 {
			size = defaultProfileCacheSize
		}
		srv.pc = newProfileCache(cl, size, cacheSyncGap, m.cacheRounds, m.cacheFlushes)
	}
	return srv, nil
}

// ---------------------------------------------------------------- callers

// caller is the authenticated principal of a request.
type caller struct {
	auth.Principal
}

// authorize checks the caller's role and returns it.
func authorize(ctx context.Context, roles ...auth.Role) (caller, error) {
	if err := auth.Require(ctx, roles...); err != nil {
		return caller{}, err
	}
	p, _ := auth.FromContext(ctx)
	return caller{p}, nil
}

var (
	rolesRead    = []auth.Role{auth.RoleAdmin, auth.RoleReadOnly}
	rolesWrite   = []auth.Role{auth.RoleAdmin}
	rolesGetPh   = []auth.Role{auth.RoleAdmin, auth.RoleReadOnly, auth.RoleListener, auth.RoleService}
	rolesListPh  = []auth.Role{auth.RoleAdmin, auth.RoleReadOnly, auth.RoleService}
	rolesURL     = []auth.Role{auth.RoleAdmin, auth.RoleListener, auth.RoleService}
	rolesProfile = []auth.Role{auth.RoleEdge}
)

// seesTenant reports whether the caller may see records of tenant id
// ("" is an unassigned phone: only unscoped callers see those).
func (c caller) seesTenant(id string) bool { return c.Tenant == "" || c.Tenant == id }

// mayUseTenant refuses a tenant-scoped caller naming another tenant. It is
// decided from the request alone, so it reveals nothing about records.
func (c caller) mayUseTenant(id string) error {
	if c.seesTenant(id) {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "principal %q is limited to tenant %q", c.Name, c.Tenant)
}

// seesURL: provisioning URLs embed the token; only admin and service callers get them.
func (c caller) seesURL() bool { return c.Role == auth.RoleAdmin || c.Role == auth.RoleService }

// ---------------------------------------------------------------- errors

// storeErr maps a store error to a gRPC status. what names the resource.
func storeErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already mapped
	}
	var oe *store.OpError
	if errors.As(err, &oe) {
		what = oe.Kind.String() + " " + strings.ReplaceAll(oe.ID, "/", " ")
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Errorf(codes.NotFound, "%s not found", what)
	case errors.Is(err, store.ErrExists):
		return status.Errorf(codes.AlreadyExists, "%s already exists", what)
	case errors.Is(err, store.ErrConflict):
		return status.Errorf(codes.Aborted, "%s was changed concurrently; read it again", what)
	case errors.Is(err, store.ErrReferenced):
		return status.Errorf(codes.FailedPrecondition, "%s is still referenced (by phone lines, settings, extensions or interfaces); remove those first", what)
	case errors.Is(err, store.ErrMissingRef):
		ref := ""
		if oe != nil {
			ref = oe.Detail
		}
		k, id, _ := store.ParseRef(ref)
		return status.Errorf(codes.FailedPrecondition, "%s refers to %s %q, which does not exist", what, k, id)
	case errors.Is(err, store.ErrSealed):
		return status.Error(codes.Unavailable, "provisioning secrets are sealed at rest and inventory has no --kek-file to open them")
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return status.Errorf(codes.Unavailable, "storage unavailable: %v", err)
	}
	return status.Errorf(codes.Internal, "storage: %v", err)
}

func etagMismatch(what string) error {
	return status.Errorf(codes.Aborted, "etag mismatch: %s was changed since it was read", what)
}

// checkEtag compares a client etag with the stored revision ("" skips).
func checkEtag(etag string, rev int64, what string) error {
	if etag != "" && strings.Trim(etag, `"`) != etagOf(rev) {
		return etagMismatch(what)
	}
	return nil
}

// ---------------------------------------------------------------- paging

const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, invalid("page_size", "must not be negative")
	case n == 0:
		return defaultPageSize, nil
	case n > maxPageSize:
		return maxPageSize, nil
	}
	return int(n), nil
}

// Page tokens are opaque: base64url of the query fingerprint and the last id.
func encodePageToken(fp, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fp + "\x00" + last))
}

func decodePageToken(tok, fp string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", invalid("page_token", "malformed")
	}
	gotFP, last, ok := strings.Cut(string(b), "\x00")
	if !ok || gotFP != fp {
		return "", invalid("page_token", "does not belong to this query (filters or caller changed)")
	}
	return last, nil
}

// list runs a paged listing.
// listOut lists one page of kind matching terms and turns every record into
// its API message with out (decode and output shaping in one step).
func listOut[T any](ctx context.Context, s *Server, kind store.Kind, terms []string, size int32, token string, out func(store.Record) (T, error)) ([]T, string, error) {
	recs, next, err := s.list(ctx, kind, terms, size, token)
	if err != nil {
		return nil, "", err
	}
	items := make([]T, 0, len(recs))
	for _, r := range recs {
		v, err := out(r)
		if err != nil {
			return nil, "", status.Error(codes.Internal, err.Error())
		}
		items = append(items, v)
	}
	return items, next, nil
}

func (s *Server) list(ctx context.Context, kind store.Kind, terms []string, size int32, token string) ([]store.Record, string, error) {
	n, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	fp := string(kind) + "|" + strings.Join(terms, "|")
	after, err := decodePageToken(token, fp)
	if err != nil {
		return nil, "", err
	}
	// One extra record tells whether another page exists.
	recs, err := s.st.List(ctx, store.ListQuery{Kind: kind, Terms: terms, After: after, Limit: n + 1})
	if err != nil {
		return nil, "", storeErr(err, kind.String())
	}
	next := ""
	if len(recs) > n {
		recs = recs[:n]
		next = encodePageToken(fp, recs[n-1].ID)
	}
	return recs, next, nil
}

// retry runs fn again while it fails with a revision conflict that no
// client etag caused (a concurrent writer changed the record first).
func retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		err = fn()
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Jittered, so that the writers that collided do not meet again.
		time.Sleep(backoff.Jitter(time.Duration(attempt) * time.Millisecond))
	}
	return fmt.Errorf("gave up after repeated conflicts: %w", err)
}
