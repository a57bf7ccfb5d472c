// Package renderer is Dialtone's config-renderer service: a pure function of a
// vendor-neutral ProvisioningProfile, a requested file name and the active
// template set, returning the file in the vendor's own format. It serves
// dialtone.renderer.v1.ConfigRendererService and offers the same in-process
// (Render, Models, Identify). Operator template overrides are loaded from a
// directory, validated, and reloaded while running; a broken set never replaces
// a good one.
package renderer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/dialtone-voip/dialtone/services/config-renderer/internal/catalog"
	"github.com/dialtone-voip/dialtone/services/config-renderer/internal/render"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Errors returned by the Go API; the gRPC edge maps them to NotFound and InvalidArgument.
var (
	ErrNotFound = render.ErrNotFound
	ErrInvalid  = render.ErrInvalid
)

// Config is the service's configuration.
type Config struct {
	// GRPC bounds the gRPC server (--grpc-max-recv-bytes, --grpc-max-streams, keep-alives).
	GRPC         grpcserver.Limits
	GRPCAddr     string
	AdminAddr    string
	TemplatesDir string        // operator overrides; "" for the built-in set only
	Reload       time.Duration // how often TemplatesDir is checked for changes
	LogFormat    string
	LogLevel     string
	TokensFile   string
}

// RegisterFlags binds the flags of Config to fs with the conventional defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":9091", "gRPC listen address")
	c.GRPC.RegisterFlags(fs)
	fs.StringVar(&c.AdminAddr, "admin-addr", ":9191", "admin HTTP listen address (/healthz, /readyz, /metrics)")
	fs.StringVar(&c.TemplatesDir, "templates-dir", "", "directory of operator template overrides (see README)")
	fs.DurationVar(&c.Reload, "templates-reload", 2*time.Second, "how often the templates directory is checked for changes")
	fs.StringVar(&c.LogFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.TokensFile, "tokens-file", "", "bearer tokens file (hashed tokens with roles)")
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Reload < 100*time.Millisecond {
		return fmt.Errorf("templates-reload %v is too short (minimum 100ms)", c.Reload)
	}
	if c.TemplatesDir != "" {
		st, err := os.Stat(c.TemplatesDir)
		if err != nil {
			return fmt.Errorf("templates-dir: %w", err)
		}
		if !st.IsDir() {
			return fmt.Errorf("templates-dir %s is not a directory", c.TemplatesDir)
		}
	}
	return nil
}

// Deps are what the process wires in.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now); it dates the DST rules written into files.
	Now func() time.Time
}

// Service renders provisioning files.
type Service struct {
	rendererv1.UnimplementedConfigRendererServiceServer

	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	set     atomic.Pointer[render.Set]
	loaded  atomic.Int64 // unix nanoseconds the set was stored
	loadErr atomic.Pointer[string]
	stamp   string // fingerprint of TemplatesDir at the last load attempt

	renders   *prometheus.CounterVec
	fallbacks *prometheus.CounterVec
	reloads   *prometheus.CounterVec
	duration  prometheus.Histogram
}

// New loads the template set. A broken override directory at start is logged
// and the built-in set serves until the directory is fixed.
func New(cfg Config, deps Deps) (*Service, error) {
	if cfg.Reload == 0 {
		cfg.Reload = 2 * time.Second
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: deps.Logger, now: deps.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.renders = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "dialtone", Subsystem: "config_renderer",
		Name: "renders_total", Help: "Files rendered, by vendor and result."}, []string{"vendor", "result"})
	s.fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "dialtone", Subsystem: "config_renderer",
		Name: "family_fallback_renders_total", Help: "Files rendered for a model the catalog does not list, from its family (catalog.json family_patterns), by vendor."}, []string{"vendor"})
	s.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "dialtone", Subsystem: "config_renderer",
		Name: "template_reloads_total", Help: "Template set loads, by result."}, []string{"result"})
	s.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "dialtone", Subsystem: "config_renderer",
		Name: "render_seconds", Help: "Time to render one file.", Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2}})
	if deps.Registerer != nil {
		for _, c := range []prometheus.Collector{s.renders, s.fallbacks, s.reloads, s.duration} {
			if err := deps.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register metrics: %w", err)
			}
		}
	}
	if cfg.TemplatesDir != "" {
		s.stamp = fingerprint(cfg.TemplatesDir)
	}
	set, err := render.Load(cfg.TemplatesDir, s.now())
	if err != nil {
		var le *render.LoadError
		if !errors.As(err, &le) {
			return nil, err
		}
		s.noteLoadError(err)
		set, err = render.Load("", s.now())
		if err != nil {
			return nil, err
		}
	} else {
		s.reloads.WithLabelValues("ok").Inc()
	}
	s.set.Store(set)
	s.loaded.Store(s.now().UnixNano())
	s.log.Info("templates loaded", "version", set.Version, "overrides", len(set.Files), "models", len(set.Catalog.Models))
	return s, nil
}

func (s *Service) noteLoadError(err error) {
	msg := err.Error()
	s.loadErr.Store(&msg)
	s.reloads.WithLabelValues("error").Inc()
	s.log.Error("template overrides rejected; the previous set keeps serving", "dir", s.cfg.TemplatesDir, "err", msg)
}

// RegisterGRPC registers ConfigRendererService on r.
func (s *Service) RegisterGRPC(r grpc.ServiceRegistrar) {
	rendererv1.RegisterConfigRendererServiceServer(r, s)
}

// Run watches the templates directory and reloads it when it changes, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if s.cfg.TemplatesDir == "" {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.cfg.Reload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.Reload()
		}
	}
}

// Reload re-reads the templates directory if it changed since the last attempt.
// It reports whether a new set is now serving.
func (s *Service) Reload() bool {
	fp := fingerprint(s.cfg.TemplatesDir)
	if fp == s.stamp {
		return false
	}
	s.stamp = fp
	set, err := render.Load(s.cfg.TemplatesDir, s.now())
	if err != nil {
		s.noteLoadError(err)
		return false
	}
	s.loadErr.Store(nil)
	s.reloads.WithLabelValues("ok").Inc()
	s.set.Store(set)
	s.loaded.Store(s.now().UnixNano())
	s.log.Info("templates reloaded", "version", set.Version, "overrides", len(set.Files))
	return true
}

// fingerprint summarises a directory tree by names, sizes and modification times.
func fingerprint(dir string) string {
	var b []byte
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			b = append(b, "err:"+p...)
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		b = append(b, p...)
		b = append(b, 0)
		b = strconv.AppendInt(b, info.Size(), 10)
		b = append(b, 0)
		b = strconv.AppendInt(b, info.ModTime().UnixNano(), 10)
		b = append(b, '\n')
		return nil
	})
	return string(b)
}

// Ready reports whether the service can serve (a template set is loaded).
func (s *Service) Ready() error {
	if s.set.Load() == nil {
		return errors.New("no template set loaded")
	}
	return nil
}

// TemplateVersion is the version of the active template set.
func (s *Service) TemplateVersion() string { return s.set.Load().Version }

// LoadError is the last rejected override load ("" when the directory is good).
func (s *Service) LoadError() string {
	if p := s.loadErr.Load(); p != nil {
		return *p
	}
	return ""
}

// Render renders fileName for profile. Errors wrap ErrNotFound (not a file this
// phone requests) or ErrInvalid (the profile cannot be expressed for the model).
func (s *Service) Render(ctx context.Context, profile *provisioningv1.ProvisioningProfile, fileName string) (*rendererv1.RenderFileResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	r, err := s.set.Load().Render(profile, fileName, s.now())
	vendor := profile.GetVendor()
	if _, ok := s.set.Load().Catalog.Vendor(vendor); !ok {
		vendor = "unknown"
	}
	switch {
	case err == nil:
		s.renders.WithLabelValues(vendor, "ok").Inc()
		if r.Fallback {
			s.fallbacks.WithLabelValues(vendor).Inc()
		}
		s.duration.Observe(time.Since(start).Seconds())
	case errors.Is(err, ErrNotFound):
		s.renders.WithLabelValues(vendor, "not_found").Inc()
		return nil, err
	case errors.Is(err, ErrInvalid):
		s.renders.WithLabelValues(vendor, "invalid").Inc()
		return nil, err
	default:
		s.renders.WithLabelValues(vendor, "error").Inc()
		return nil, err
	}
	return &rendererv1.RenderFileResponse{Content: r.Content, ContentType: r.ContentType, Etag: r.ETag,
		TemplateVersion: r.Version, ContainsSecrets: r.Secrets}, nil
}

// Models lists the catalog's models, optionally of one vendor, in catalog order.
func (s *Service) Models(vendor string) []*rendererv1.Model {
	var out []*rendererv1.Model
	for _, m := range s.set.Load().Catalog.Models {
		if vendor == "" || m.Vendor == vendor {
			out = append(out, modelProto(m))
		}
	}
	return out
}

// Model returns one model by vendor and model id.
func (s *Service) Model(vendor, model string) (*rendererv1.Model, bool) {
	m, ok := s.set.Load().Catalog.Model(vendor, model)
	if !ok {
		return nil, false
	}
	return modelProto(m), true
}

// LookupModel is Model, but also answers (family_fallback set) for a model the
// catalog does not list when its vendor's family patterns name a family, and
// for a catalog model spelt in another case: what Render renders for it.
func (s *Service) LookupModel(vendor, model string) (*rendererv1.Model, bool) {
	m, st, ok := s.set.Load().Catalog.Lookup(vendor, model)
	if !ok {
		return nil, false
	}
	pm := modelProto(m)
	pm.FamilyFallback = st == catalog.StatusFamilyFallback
	return pm, true
}

// Resolve decides a phone record's vendor and model (see renderer.proto ResolveModel).
func (s *Service) Resolve(vendor, model string) *rendererv1.ResolveModelResponse {
	c := s.set.Load().Catalog
	r := c.Resolve(vendor, model)
	st := map[catalog.ModelStatus]rendererv1.ModelStatus{
		catalog.StatusCatalog:        rendererv1.ModelStatus_MODEL_STATUS_CATALOG,
		catalog.StatusFamilyFallback: rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK,
	}[r.Status]
	if st == rendererv1.ModelStatus_MODEL_STATUS_UNSPECIFIED {
		st = rendererv1.ModelStatus_MODEL_STATUS_UNKNOWN
	}
	return &rendererv1.ResolveModelResponse{Vendor: r.Vendor, Model: r.Model, Status: st, Family: r.Family,
		OtherVendor: r.OtherVendor, FamilyPatterns: c.FamilyPatternsOf(r.Vendor), NotProvisionableReason: r.NotProvisionable}
}

// Vendors lists the vendor families with their PnP conventions.
func (s *Service) Vendors() []*rendererv1.Vendor {
	var out []*rendererv1.Vendor
	for _, v := range s.set.Load().Catalog.Vendors {
		out = append(out, vendorProto(v))
	}
	return out
}

// Identify finds vendor and model from what a phone sent.
func (s *Service) Identify(mac, userAgent, pnpVendor, pnpModel string) (vendor, model string, ok bool) {
	return s.set.Load().Catalog.Identify(mac, userAgent, pnpVendor, pnpModel)
}

func modelProto(m *catalog.Model) *rendererv1.Model {
	pm := &rendererv1.Model{Name: m.Name(), Vendor: m.Vendor, Model: m.Model, Family: m.Family, DisplayName: m.DisplayName,
		SipAccounts: int32(m.SIPAccounts), LineKeys: int32(m.LineKeys), Dect: m.IsDECT(),
		Languages: append([]string(nil), m.Languages...), UserAgentPattern: m.UserAgentPattern,
		UserAgentHasMac: m.HasMACInUA(), Ouis: append([]string(nil), m.OUIs...),
		ExpansionModules: int32(m.ExpansionModules), Transports: append([]string(nil), m.Transports...)}
	for _, c := range m.Codecs {
		if cc, err := parseCodec(c); err == nil {
			pm.Codecs = append(pm.Codecs, cc)
		}
	}
	for _, f := range m.Files {
		pm.FilePatterns = append(pm.FilePatterns, f.Pattern)
	}
	pm.DectHandsets = int32(m.DECTHandsets)
	return pm
}

func vendorProto(v *catalog.Vendor) *rendererv1.Vendor {
	d := rendererv1.CheckSyncDialect_CHECK_SYNC_DIALECT_CHECK_SYNC
	switch v.CheckSync {
	case catalog.CheckSyncReboot:
		d = rendererv1.CheckSyncDialect_CHECK_SYNC_DIALECT_CHECK_SYNC_REBOOT_PARAM
	case catalog.Resync:
		d = rendererv1.CheckSyncDialect_CHECK_SYNC_DIALECT_RESYNC
	}
	names := append([]string(nil), v.PnPVendorNames...)
	sort.Strings(names)
	return &rendererv1.Vendor{Name: "vendors/" + v.Vendor, Vendor: v.Vendor, DisplayName: v.DisplayName,
		Ouis: append([]string(nil), v.OUIs...), Pnp: v.PnP, PnpUrlTemplate: v.PnPURLTemplate, CheckSyncDialect: d,
		UserAgentPattern: v.UserAgentPattern, PnpVendorNames: names}
}
