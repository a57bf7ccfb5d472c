package rpsclient

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dialtone-voip/dialtone/platform/auth"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/vocab"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/credentials"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
)

// Roles per method. The registered URL embeds the phone's token, so it is
// returned only to admin and service callers.
var (
	writers = []auth.Role{auth.RoleAdmin, auth.RoleService}
	readers = []auth.Role{auth.RoleAdmin, auth.RoleReadOnly, auth.RoleService}
)

func mayReadURL(ctx context.Context) bool {
	p, ok := auth.FromContext(ctx)
	return ok && (p.Role == auth.RoleAdmin || p.Role == auth.RoleService)
}

// tenantScope returns the tenant id a tenant-bound principal is limited to.
func tenantScope(ctx context.Context) string {
	p, _ := auth.FromContext(ctx)
	return credentials.NormalizeTenant(p.Tenant)
}

func inScope(ctx context.Context, tenant string) bool {
	scope := tenantScope(ctx)
	return scope == "" || scope == credentials.NormalizeTenant(tenant)
}

func toProto(r *store.Record, withURL bool) *rpsv1.DeviceStatus {
	st := &rpsv1.DeviceStatus{
		Name: "devices/" + r.MAC, Mac: r.MAC, Vendor: r.Vendor, Tenant: r.Tenant, State: r.State,
		FailureReason: r.Reason, LastError: r.LastError, Attempts: r.Attempts, PhoneRevision: r.PhoneRevision,
		VendorObjects: r.Objects,
	}
	if !r.LastAttempt.IsZero() {
		st.LastAttemptTime = timestamppb.New(r.LastAttempt)
	}
	if !r.NextAttempt.IsZero() {
		st.NextAttemptTime = timestamppb.New(r.NextAttempt)
	}
	if withURL {
		st.RegisteredUrl = r.RegisteredURL
	}
	return st
}

func parseMAC(s string) (string, error) {
	s = strings.TrimPrefix(s, "devices/")
	s = strings.TrimPrefix(s, "phones/")
	m, err := macaddr.Parse(s)
	if err != nil {
		return "", status.Error(codes.InvalidArgument, "mac: "+err.Error())
	}
	return m, nil
}

func normTenant(t string) string {
	if t == "" {
		return ""
	}
	return "tenants/" + credentials.NormalizeTenant(t)
}

// storeErr maps an internal failure; its text names no secret.
func storeErr(err error) error {
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return err
	}
	return status.Error(codes.Unavailable, "state store unavailable")
}

// RegisterDevice registers mac → url at its vendor now (an operator's or
// reconciler's explicit request; it always calls the vendor).
func (s *Service) RegisterDevice(ctx context.Context, req *rpsv1.RegisterDeviceRequest) (*rpsv1.RegisterDeviceResponse, error) {
	if err := auth.Require(ctx, writers...); err != nil {
		return nil, err
	}
	mac, err := parseMAC(req.GetMac())
	if err != nil {
		return nil, err
	}
	if !vocab.IsVendor(req.GetVendor()) {
		return nil, status.Error(codes.InvalidArgument, "vendor: unknown vendor key")
	}
	if !inScope(ctx, req.GetTenant()) {
		return nil, status.Error(codes.PermissionDenied, "tenant outside the caller's scope")
	}
	if u := req.GetUrl(); !(strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) {
		return nil, status.Error(codes.InvalidArgument, "url: want an absolute http(s) URL")
	}
	rec, err := s.operate(ctx, mac, store.Intent{Op: store.OpRegister, Vendor: req.GetVendor(),
		Tenant: normTenant(req.GetTenant()), URL: req.GetUrl(), Manual: true})
	if err != nil {
		return nil, err
	}
	return &rpsv1.RegisterDeviceResponse{Status: toProto(rec, mayReadURL(ctx))}, nil
}

// DeregisterDevice removes our registration of mac now.
func (s *Service) DeregisterDevice(ctx context.Context, req *rpsv1.DeregisterDeviceRequest) (*rpsv1.DeregisterDeviceResponse, error) {
	if err := auth.Require(ctx, writers...); err != nil {
		return nil, err
	}
	mac, err := parseMAC(req.GetMac())
	if err != nil {
		return nil, err
	}
	if !inScope(ctx, req.GetTenant()) {
		return nil, status.Error(codes.PermissionDenied, "tenant outside the caller's scope")
	}
	rec, err := s.operate(ctx, mac, store.Intent{Op: store.OpDeregister, Vendor: req.GetVendor(),
		Tenant: normTenant(req.GetTenant()), Manual: true})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		rec = &store.Record{MAC: mac, Vendor: req.GetVendor(), Tenant: normTenant(req.GetTenant()),
			State: rpsv1.RegistrationState_REGISTRATION_STATE_DEREGISTERED}
	}
	return &rpsv1.DeregisterDeviceResponse{Status: toProto(rec, mayReadURL(ctx))}, nil
}

// operate stores a manual intent (at the current revision, so a later
// phone change still overrides it) and processes it.
func (s *Service) operate(ctx context.Context, mac string, in store.Intent) (*store.Record, error) {
	cur, err := s.store.Intent(ctx, mac)
	if err != nil {
		return nil, storeErr(err)
	}
	rec, err := s.store.Record(ctx, mac)
	if err != nil {
		return nil, storeErr(err)
	}
	if rec != nil && !inScope(ctx, rec.Tenant) {
		return nil, status.Error(codes.PermissionDenied, "device outside the caller's scope")
	}
	if cur != nil {
		in.Revision = cur.Revision
	}
	if rec != nil && rec.PhoneRevision > in.Revision {
		in.Revision = rec.PhoneRevision
	}
	if in.Op == store.OpDeregister && rec == nil {
		return nil, nil // nothing of ours to remove
	}
	if _, err := s.store.SetIntent(ctx, mac, in, true, noRecordTTL); err != nil {
		return nil, storeErr(err)
	}
	out, err := s.process(ctx, mac, byOperator)
	if errors.Is(err, store.ErrLocked) {
		return nil, status.Error(codes.Aborted, "the device is being processed; try again")
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return out, nil
}

// GetDeviceStatus returns the stored status.
func (s *Service) GetDeviceStatus(ctx context.Context, req *rpsv1.GetDeviceStatusRequest) (*rpsv1.GetDeviceStatusResponse, error) {
	if err := auth.Require(ctx, readers...); err != nil {
		return nil, err
	}
	mac, err := parseMAC(req.GetName())
	if err != nil {
		return nil, err
	}
	rec, err := s.store.Record(ctx, mac)
	if err != nil {
		return nil, storeErr(err)
	}
	if rec == nil || !inScope(ctx, rec.Tenant) {
		return nil, status.Error(codes.NotFound, "no status for devices/"+mac)
	}
	return &rpsv1.GetDeviceStatusResponse{Status: toProto(rec, mayReadURL(ctx))}, nil
}

// ListDeviceStatuses pages through statuses in MAC order. The page token
// is the last MAC of the previous page.
func (s *Service) ListDeviceStatuses(ctx context.Context, req *rpsv1.ListDeviceStatusesRequest) (*rpsv1.ListDeviceStatusesResponse, error) {
	if err := auth.Require(ctx, readers...); err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, status.Error(codes.InvalidArgument, "page_size must not be negative")
	case size == 0:
		size = 100
	case size > 1000:
		size = 1000
	}
	after := req.GetPageToken()
	if after != "" {
		m, err := macaddr.Parse(after)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "invalid page_token")
		}
		after = m
	}
	vendor, state := req.GetVendor(), req.GetState()
	recs, next, err := s.store.List(ctx, after, size, func(r *store.Record) bool {
		return (vendor == "" || r.Vendor == vendor) && (state == 0 || r.State == state) && inScope(ctx, r.Tenant)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	withURL := mayReadURL(ctx)
	resp := &rpsv1.ListDeviceStatusesResponse{NextPageToken: next}
	for _, r := range recs {
		resp.Statuses = append(resp.Statuses, toProto(r, withURL))
	}
	return resp, nil
}

// CheckDevice asks the vendor, live.
func (s *Service) CheckDevice(ctx context.Context, req *rpsv1.CheckDeviceRequest) (*rpsv1.CheckDeviceResponse, error) {
	if err := auth.Require(ctx, readers...); err != nil {
		return nil, err
	}
	mac, err := parseMAC(req.GetMac())
	if err != nil {
		return nil, err
	}
	vendor, tenant := req.GetVendor(), req.GetTenant()
	if vendor == "" || tenant == "" {
		if rec, err := s.store.Record(ctx, mac); err == nil && rec != nil {
			if vendor == "" {
				vendor = rec.Vendor
			}
			if tenant == "" {
				tenant = rec.Tenant
			}
		}
	}
	if !vocab.IsVendor(vendor) {
		return nil, status.Error(codes.InvalidArgument, "vendor: unknown vendor key")
	}
	if !inScope(ctx, tenant) {
		return nil, status.Error(codes.PermissionDenied, "tenant outside the caller's scope")
	}
	if why, ok := unsupported[vendor]; ok {
		return nil, status.Error(codes.FailedPrecondition, why)
	}
	acct, fp, ok := s.creds.Lookup(tenant, vendor)
	if !ok {
		return nil, status.Error(codes.FailedPrecondition, "no "+vendor+" account for "+tenantLabel(tenant))
	}
	client, _, err := s.client(acct, fp)
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, "account unusable: "+err.Error())
	}
	res, err := client.Check(ctx, mac)
	if err != nil {
		return nil, vendorStatus(err)
	}
	out := &rpsv1.CheckDeviceResponse{Registered: res.Registered, OwnedByUs: res.OwnedByUs, Owner: res.Owner}
	if mayReadURL(ctx) {
		out.Url = res.URL
	}
	return out, nil
}

// vendorStatus maps a vendor error to a gRPC status (the text is scrubbed).
func vendorStatus(err error) error {
	switch vendors.ReasonOf(err) {
	case vendors.ReasonTransient:
		return status.Error(codes.Unavailable, err.Error())
	case vendors.ReasonBadCreds, vendors.ReasonNoAccount, vendors.ReasonUnsupported:
		return status.Error(codes.FailedPrecondition, err.Error())
	case vendors.ReasonInvalidMAC:
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.FailedPrecondition, err.Error())
}

// ListVendorAccounts lists accounts without secrets.
func (s *Service) ListVendorAccounts(ctx context.Context, req *rpsv1.ListVendorAccountsRequest) (*rpsv1.ListVendorAccountsResponse, error) {
	if err := auth.Require(ctx, readers...); err != nil {
		return nil, err
	}
	want := credentials.NormalizeTenant(req.GetTenant())
	if scope := tenantScope(ctx); scope != "" {
		if want != "" && want != scope {
			return nil, status.Error(codes.PermissionDenied, "tenant outside the caller's scope")
		}
		want = scope
	}
	resp := &rpsv1.ListVendorAccountsResponse{}
	for _, a := range s.creds.Accounts() {
		tenant := ""
		if a.Tenant != credentials.DefaultTenant {
			tenant = "tenants/" + a.Tenant
		}
		// A tenant's view includes the default accounts it falls back to.
		if want != "" && a.Tenant != want && a.Tenant != credentials.DefaultTenant {
			continue
		}
		resolved, _, err := resolve(a, s.cfg.BaseURLs)
		if err != nil {
			continue
		}
		resp.Accounts = append(resp.Accounts, &rpsv1.VendorAccount{
			Tenant: tenant, Vendor: a.Vendor, Api: resolved.API, BaseUrl: resolved.BaseURL, Principal: a.Principal(),
		})
	}
	return resp, nil
}
