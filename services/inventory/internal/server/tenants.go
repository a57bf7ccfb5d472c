package server

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	"github.com/dialtone-voip/dialtone/proto/vocab"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// checkSettings validates and normalises ps (in place) for a phone or the
// defaults of tenant. fallbackIface is the interface used when ps names none
// (the tenant default), for the transport check.
func (s *Server) checkSettings(ctx context.Context, field string, ps *inventoryv1.ProvisioningSettings, tenant, fallbackIface string) error {
	if ps == nil {
		return nil
	}
	ps.HasWebPassword = false // output only
	if err := checkSecret(field+".web_password", ps.GetWebPassword()); err != nil {
		return err
	}
	lang, err := normalizeLanguage(field+".language", ps.GetLanguage())
	if err != nil {
		return err
	}
	ps.Language = lang
	if err := checkTimeZone(field+".time_zone", ps.GetTimeZone()); err != nil {
		return err
	}
	if err := checkTransport(field+".transport", ps.GetTransport()); err != nil {
		return err
	}
	if err := checkCodecs(field+".codecs", ps.GetCodecs()); err != nil {
		return err
	}
	if _, ok := inventoryv1.DeviceCertPolicy_name[int32(ps.GetDeviceCert())]; !ok {
		return invalid(field+".device_cert", "unknown policy %d (off, prefer or require)", ps.GetDeviceCert())
	}
	iface := ps.GetSipInterface()
	if iface != "" {
		t, _, ok := parseInterfaceName(iface)
		if !ok {
			return invalid(field+".sip_interface", "want tenants/{tenant}/sipInterfaces/{id}")
		}
		if t != tenant {
			return invalid(field+".sip_interface", "must be an interface of tenant %q", tenant)
		}
	} else {
		iface = fallbackIface
	}
	if iface != "" {
		si, _, err := s.getInterface(ctx, iface)
		if status.Code(err) == codes.NotFound {
			return invalid(field+".sip_interface", "interface %q does not exist", iface)
		}
		if err != nil {
			return err
		}
		if tr := ps.GetTransport(); tr != provisioningv1.Transport_TRANSPORT_UNSPECIFIED && transportPort(si, tr) == 0 {
			return invalid(field+".transport", "interface %q offers no port for %s", iface, vocab.TransportName(tr))
		}
	}
	if ps.GetHttps() && s.cfg.EdgeHTTPSBase == "" {
		hint := s.cfg.HTTPSHint
		if hint == "" {
			hint = "--edge-https-base"
		}
		return status.Errorf(codes.FailedPrecondition, "%s.https: no HTTPS edge is configured (set %s)", field, hint)
	}
	return nil
}

func transportPort(si *inventoryv1.SipInterface, t provisioningv1.Transport) int32 {
	switch t {
	case provisioningv1.Transport_TRANSPORT_UDP:
		return si.GetUdpPort()
	case provisioningv1.Transport_TRANSPORT_TCP:
		return si.GetTcpPort()
	case provisioningv1.Transport_TRANSPORT_TLS:
		return si.GetTlsPort()
	}
	return 0
}

// outSettings strips the write-only web password.
func outSettings(ps *inventoryv1.ProvisioningSettings) *inventoryv1.ProvisioningSettings {
	if ps == nil {
		return nil
	}
	o := proto.Clone(ps).(*inventoryv1.ProvisioningSettings)
	o.HasWebPassword = o.GetWebPassword() != ""
	o.WebPassword = ""
	return o
}

// ---------------------------------------------------------------- tenants

func decodeTenant(r store.Record) (*inventoryv1.Tenant, error) {
	t := &inventoryv1.Tenant{}
	if err := proto.Unmarshal(r.Value, t); err != nil {
		return nil, fmt.Errorf("decode tenant %s: %w", r.ID, err)
	}
	t.Name, t.Etag = tenantName(r.ID), etagOf(r.Rev)
	return t, nil
}

func tenantOp(id string, t *inventoryv1.Tenant, expect int64) (store.Op, error) {
	v := proto.Clone(t).(*inventoryv1.Tenant)
	v.Name, v.Etag = "", ""
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(v)
	if err != nil {
		return store.Op{}, err
	}
	op := store.Op{Kind: store.KindTenant, ID: id, Expect: expect, Value: b}
	for _, l := range t.GetPnpListeners() {
		op.Keys = append(op.Keys, pnpListenerKey(l))
	}
	if tt, i, ok := parseInterfaceName(t.GetDefaultSettings().GetSipInterface()); ok {
		op.Refs = []string{store.Ref(store.KindInterface, tt+"/"+i)}
	}
	return op, nil
}

// maxPnpListeners bounds Tenant.pnp_listeners (a tenant has a few sites).
const maxPnpListeners = 256

// pnpListenerKey is the unique store key of a tenant record for each
// pnp-listener it claims: the store refuses a second tenant claiming the
// same listener atomically, even between two concurrent writes.
func pnpListenerKey(listener string) string { return "pnp-listener:" + listener }

// validListenerID: a pnp-listener's --listener, 1-63 of [a-z0-9_-].
func validListenerID(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkPnpListeners validates a tenant's pnp_listeners and that no other
// tenant than id claims one of them (AlreadyExists naming the field and the
// tenant that holds it).
func (s *Server) checkPnpListeners(ctx context.Context, ids []string, id string) error {
	const field = "tenant.pnp_listeners"
	if len(ids) > maxPnpListeners {
		return invalid(field, "at most %d listeners", maxPnpListeners)
	}
	seen := make(map[string]bool, len(ids))
	for i, l := range ids {
		if !validListenerID(l) {
			return invalid(fmt.Sprintf("%s[%d]", field, i), "want a pnp-listener id (its --listener): 1-63 of [a-z0-9_-]")
		}
		if seen[l] {
			return invalid(fmt.Sprintf("%s[%d]", field, i), "listener %q is listed twice", l)
		}
		seen[l] = true
		if err := s.listenerFree(ctx, l, id); err != nil {
			return err
		}
	}
	return nil
}

// listenerFree fails with AlreadyExists when a tenant other than id claims
// listener.
func (s *Server) listenerFree(ctx context.Context, listener, id string) error {
	rec, _, err := s.st.Resolve(ctx, store.KindTenant, pnpListenerKey(listener))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return storeErr(err, "tenant")
	case rec.ID != id:
		return status.Errorf(codes.AlreadyExists, "tenant.pnp_listeners: listener %q already belongs to %s; remove it there first", listener, tenantName(rec.ID))
	}
	return nil
}

// tenantWriteErr names the field when a concurrent write claimed one of
// the tenant's listeners between the check and the store's batch.
func (s *Server) tenantWriteErr(ctx context.Context, err error, t *inventoryv1.Tenant, id string) error {
	if !errors.Is(err, store.ErrDuplicateKey) {
		return err
	}
	for _, l := range t.GetPnpListeners() {
		if ferr := s.listenerFree(ctx, l, id); ferr != nil {
			return ferr
		}
	}
	return status.Error(codes.AlreadyExists, "tenant.pnp_listeners: a listener already belongs to another tenant")
}

func outTenant(t *inventoryv1.Tenant) *inventoryv1.Tenant {
	o := proto.Clone(t).(*inventoryv1.Tenant)
	o.DefaultSettings = outSettings(o.DefaultSettings)
	return o
}

func (s *Server) getTenant(ctx context.Context, id string) (*inventoryv1.Tenant, int64, error) {
	r, err := s.st.Get(ctx, store.KindTenant, id)
	if err != nil {
		return nil, 0, storeErr(err, fmt.Sprintf("tenant %q", id))
	}
	t, err := decodeTenant(r)
	return t, r.Rev, err
}

func (s *Server) checkTenant(ctx context.Context, t *inventoryv1.Tenant, id string) error {
	if err := checkText("tenant.display_name", t.GetDisplayName(), maxDisplayName); err != nil {
		return err
	}
	if n := t.GetNtpServer(); n != "" && !validHost(n) {
		return invalid("tenant.ntp_server", "not a host name or IP address")
	}
	if err := s.checkPnpListeners(ctx, t.GetPnpListeners(), id); err != nil {
		return err
	}
	return s.checkSettings(ctx, "tenant.default_settings", t.DefaultSettings, id, "")
}

// CreateTenant implements inventoryv1.InventoryServiceServer.
func (s *Server) CreateTenant(ctx context.Context, req *inventoryv1.CreateTenantRequest) (*inventoryv1.CreateTenantResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	if c.Tenant != "" {
		return nil, status.Error(codes.PermissionDenied, "a tenant-scoped principal cannot create tenants")
	}
	id := req.GetTenantId()
	if !validID(id) {
		return nil, invalid("tenant_id", "want 1-63 characters of [a-z0-9-], starting with a letter")
	}
	t := proto.Clone(req.GetTenant()).(*inventoryv1.Tenant)
	if t == nil {
		t = &inventoryv1.Tenant{}
	}
	if err := s.checkTenant(ctx, t, id); err != nil {
		return nil, err
	}
	now := timestamppb.New(s.now())
	t.CreateTime, t.UpdateTime = now, now
	op, err := tenantOp(id, t, store.ExpectAbsent)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	rev, err := s.st.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{Ops: []store.Op{op}}, nil })
	if err != nil {
		return nil, storeErr(s.tenantWriteErr(ctx, err, t, id), fmt.Sprintf("tenant %q", id))
	}
	t.Name, t.Etag = tenantName(id), etagOf(rev)
	s.log.Info("tenant created", "tenant", id, "principal", c.Name)
	return &inventoryv1.CreateTenantResponse{Tenant: outTenant(t)}, nil
}

func (s *Server) tenantFromName(c caller, name string) (string, error) {
	id := tenantID(name)
	if id == "" {
		return "", invalid("name", "want tenants/{tenant}")
	}
	return id, c.mayUseTenant(id)
}

// GetTenant implements inventoryv1.InventoryServiceServer.
func (s *Server) GetTenant(ctx context.Context, req *inventoryv1.GetTenantRequest) (*inventoryv1.GetTenantResponse, error) {
	c, err := authorize(ctx, rolesRead...)
	if err != nil {
		return nil, err
	}
	id, err := s.tenantFromName(c, req.GetName())
	if err != nil {
		return nil, err
	}
	t, _, err := s.getTenant(ctx, id)
	if err != nil {
		return nil, err
	}
	return &inventoryv1.GetTenantResponse{Tenant: outTenant(t)}, nil
}

// ListTenants implements inventoryv1.InventoryServiceServer.
func (s *Server) ListTenants(ctx context.Context, req *inventoryv1.ListTenantsRequest) (*inventoryv1.ListTenantsResponse, error) {
	c, err := authorize(ctx, rolesRead...)
	if err != nil {
		return nil, err
	}
	if c.Tenant != "" {
		if _, err := pageSize(req.GetPageSize()); err != nil {
			return nil, err
		}
		if req.GetPageToken() != "" {
			return &inventoryv1.ListTenantsResponse{}, nil
		}
		t, _, err := s.getTenant(ctx, c.Tenant)
		if status.Code(err) == codes.NotFound {
			return &inventoryv1.ListTenantsResponse{}, nil
		}
		if err != nil {
			return nil, err
		}
		return &inventoryv1.ListTenantsResponse{Tenants: []*inventoryv1.Tenant{outTenant(t)}}, nil
	}
	tenants, next, err := listOut(ctx, s, store.KindTenant, nil, req.GetPageSize(), req.GetPageToken(),
		func(r store.Record) (*inventoryv1.Tenant, error) {
			t, err := decodeTenant(r)
			if err != nil {
				return nil, err
			}
			return outTenant(t), nil
		})
	if err != nil {
		return nil, err
	}
	return &inventoryv1.ListTenantsResponse{Tenants: tenants, NextPageToken: next}, nil
}

var tenantUpdatable = []string{"display_name", "ntp_server", "default_settings", "pnp_listeners"}

// UpdateTenant implements inventoryv1.InventoryServiceServer.
func (s *Server) UpdateTenant(ctx context.Context, req *inventoryv1.UpdateTenantRequest) (*inventoryv1.UpdateTenantResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	id := tenantID(req.GetTenant().GetName())
	if id == "" {
		return nil, invalid("tenant.name", "want tenants/{tenant}")
	}
	if err := c.mayUseTenant(id); err != nil {
		return nil, err
	}
	var out *inventoryv1.Tenant
	var profileChanged bool
	ref, jobRev := store.Ref(store.KindTenant, id), int64(0)
	const whyTenant = "tenant settings changed"
	err = retry(ctx, func() error {
		t, rev, err := s.getTenant(ctx, id)
		if err != nil {
			return err
		}
		if err := checkEtag(req.GetTenant().GetEtag(), rev, "tenant"); err != nil {
			return err
		}
		oldPw := t.GetDefaultSettings().GetWebPassword()
		before := proto.Clone(t)
		paths, err := applyMask(t, req.GetTenant(), req.GetUpdateMask(), tenantUpdatable)
		if err != nil {
			return err
		}
		keepSecret(req.GetUpdateMask().GetPaths(), "default_settings", &t.DefaultSettings, oldPw)
		// Which sites are whose is the operator's call: a tenant-scoped
		// principal could otherwise probe other tenants' listener ids.
		if c.Tenant != "" && !slices.Equal(t.GetPnpListeners(), before.(*inventoryv1.Tenant).GetPnpListeners()) {
			return status.Error(codes.PermissionDenied, "tenant.pnp_listeners: only a principal of every tenant assigns PnP listeners")
		}
		if err := s.checkTenant(ctx, t, id); err != nil {
			return err
		}
		t.UpdateTime = timestamppb.New(s.now())
		t.CreateTime = before.(*inventoryv1.Tenant).GetCreateTime()
		op, err := tenantOp(id, t, rev)
		if err != nil {
			return err
		}
		ops := []store.Op{op}
		profileChanged = touched(paths, "ntp_server") || touched(paths, "default_settings")
		if profileChanged {
			ops = append(ops, s.fanoutJob(ref, whyTenant))
		}
		nrev, err := s.st.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{Ops: ops}, nil })
		if err != nil {
			return s.tenantWriteErr(ctx, err, t, id)
		}
		t.Etag, jobRev = etagOf(nrev), nrev
		out = t
		return nil
	})
	if err != nil {
		return nil, storeErr(err, fmt.Sprintf("tenant %q", id))
	}
	if profileChanged {
		s.fanOut(ctx, ref, whyTenant, jobRev)
	}
	return &inventoryv1.UpdateTenantResponse{Tenant: outTenant(out)}, nil
}

// keepSecret restores the stored web password when a full update (empty
// mask) did not carry one: write-only fields cannot round-trip through Get.
func keepSecret(paths []string, field string, ps **inventoryv1.ProvisioningSettings, old string) {
	if len(paths) != 0 || old == "" {
		return
	}
	if *ps == nil {
		*ps = &inventoryv1.ProvisioningSettings{}
	}
	if (*ps).GetWebPassword() == "" {
		(*ps).WebPassword = old
	}
}

// DeleteTenant implements inventoryv1.InventoryServiceServer.
func (s *Server) DeleteTenant(ctx context.Context, req *inventoryv1.DeleteTenantRequest) (*inventoryv1.DeleteTenantResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	id, err := s.tenantFromName(c, req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.deleteRecord(ctx, store.KindTenant, id, req.GetEtag()); err != nil {
		return nil, storeErr(err, fmt.Sprintf("tenant %q", id))
	}
	s.log.Info("tenant deleted", "tenant", id, "principal", c.Name)
	return &inventoryv1.DeleteTenantResponse{}, nil
}

// deleteRecord deletes a record, checking an optional etag.
func (s *Server) deleteRecord(ctx context.Context, k store.Kind, id, etag string) error {
	expect := store.ExpectAny
	if etag != "" {
		r, err := s.st.Get(ctx, k, id)
		if err != nil {
			return err
		}
		if err := checkEtag(etag, r.Rev, k.String()); err != nil {
			return err
		}
		expect = r.Rev
	}
	_, err := s.st.Apply(ctx, func(int64) (store.Batch, error) {
		return store.Batch{Ops: []store.Op{{Kind: k, ID: id, Delete: true, Expect: expect}}}, nil
	})
	if errors.Is(err, store.ErrConflict) {
		return etagMismatch(k.String())
	}
	return err
}
