package server

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	"github.com/dialtone-voip/dialtone/proto/vocab"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

func decodeInterface(r store.Record) (*inventoryv1.SipInterface, error) {
	si := &inventoryv1.SipInterface{}
	if err := proto.Unmarshal(r.Value, si); err != nil {
		return nil, fmt.Errorf("decode interface %s: %w", r.ID, err)
	}
	t, i, _ := splitChildID(r.ID)
	si.Name, si.Etag = interfaceName(t, i), etagOf(r.Rev)
	return si, nil
}

// splitChildID splits "tenant/id".
func splitChildID(id string) (string, string, bool) {
	for i := 0; i < len(id); i++ {
		if id[i] == '/' {
			return id[:i], id[i+1:], true
		}
	}
	return "", id, false
}

func interfaceOp(tenant, id string, si *inventoryv1.SipInterface, expect int64) (store.Op, error) {
	v := proto.Clone(si).(*inventoryv1.SipInterface)
	v.Name, v.Etag = "", ""
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(v)
	if err != nil {
		return store.Op{}, err
	}
	return store.Op{
		Kind: store.KindInterface, ID: tenant + "/" + id, Expect: expect, Value: b,
		Terms: []string{"t=" + tenant}, Refs: []string{store.Ref(store.KindTenant, tenant)},
	}, nil
}

func (s *Server) getInterface(ctx context.Context, name string) (*inventoryv1.SipInterface, int64, error) {
	t, i, ok := parseInterfaceName(name)
	if !ok {
		return nil, 0, invalid("name", "want tenants/{tenant}/sipInterfaces/{id}")
	}
	r, err := s.st.Get(ctx, store.KindInterface, t+"/"+i)
	if err != nil {
		return nil, 0, storeErr(err, fmt.Sprintf("SIP interface %q", name))
	}
	si, err := decodeInterface(r)
	return si, r.Rev, err
}

func checkInterface(si *inventoryv1.SipInterface) error {
	if err := checkText("sip_interface.display_name", si.GetDisplayName(), maxDisplayName); err != nil {
		return err
	}
	if !validHost(si.GetHost()) {
		return invalid("sip_interface.host", "want a host name or IP address")
	}
	for f, p := range map[string]int32{"udp_port": si.GetUdpPort(), "tcp_port": si.GetTcpPort(), "tls_port": si.GetTlsPort()} {
		if err := checkPort("sip_interface."+f, p); err != nil {
			return err
		}
	}
	if si.GetUdpPort() == 0 && si.GetTcpPort() == 0 && si.GetTlsPort() == 0 {
		return invalid("sip_interface.udp_port", "at least one of udp_port, tcp_port, tls_port must be set")
	}
	if op := si.GetOutboundProxy(); op != "" {
		if _, _, ok := splitHostPort(op); !ok {
			return invalid("sip_interface.outbound_proxy", "want host or host:port")
		}
	}
	if e := si.GetRegistrationExpiry(); e != nil {
		if err := e.CheckValid(); err != nil {
			return invalid("sip_interface.registration_expiry", "%v", err)
		}
		if d := e.AsDuration(); d != 0 && (d < 30*time.Second || d > 24*time.Hour) {
			return invalid("sip_interface.registration_expiry", "must be 0 (3600 s) or 30 s to 24 h")
		}
	}
	return nil
}

// CreateSipInterface implements inventoryv1.InventoryServiceServer.
func (s *Server) CreateSipInterface(ctx context.Context, req *inventoryv1.CreateSipInterfaceRequest) (*inventoryv1.CreateSipInterfaceResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	tenant := tenantID(req.GetParent())
	if tenant == "" {
		return nil, invalid("parent", "want tenants/{tenant}")
	}
	if err := c.mayUseTenant(tenant); err != nil {
		return nil, err
	}
	id := req.GetSipInterfaceId()
	if !validID(id) {
		return nil, invalid("sip_interface_id", "want 1-63 characters of [a-z0-9-], starting with a letter")
	}
	si := proto.Clone(req.GetSipInterface()).(*inventoryv1.SipInterface)
	if si == nil {
		return nil, invalid("sip_interface", "required")
	}
	if err := checkInterface(si); err != nil {
		return nil, err
	}
	now := timestamppb.New(s.now())
	si.CreateTime, si.UpdateTime = now, now
	op, err := interfaceOp(tenant, id, si, store.ExpectAbsent)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	rev, err := s.st.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{Ops: []store.Op{op}}, nil })
	if err != nil {
		return nil, storeErr(err, fmt.Sprintf("SIP interface %q", interfaceName(tenant, id)))
	}
	si.Name, si.Etag = interfaceName(tenant, id), etagOf(rev)
	s.log.Info("SIP interface created", "sip_interface", si.Name, "principal", c.Name)
	return &inventoryv1.CreateSipInterfaceResponse{SipInterface: si}, nil
}

// GetSipInterface implements inventoryv1.InventoryServiceServer.
func (s *Server) GetSipInterface(ctx context.Context, req *inventoryv1.GetSipInterfaceRequest) (*inventoryv1.GetSipInterfaceResponse, error) {
	c, err := authorize(ctx, rolesRead...)
	if err != nil {
		return nil, err
	}
	t, _, ok := parseInterfaceName(req.GetName())
	if !ok {
		return nil, invalid("name", "want tenants/{tenant}/sipInterfaces/{id}")
	}
	if err := c.mayUseTenant(t); err != nil {
		return nil, err
	}
	si, _, err := s.getInterface(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return &inventoryv1.GetSipInterfaceResponse{SipInterface: si}, nil
}

// listParent resolves a List parent: "tenants/{t}", or "tenants/-" for all
// tenants the caller sees. It returns the index terms to list by.
func listParent(c caller, parent string) ([]string, string, error) {
	if parent == "tenants/-" {
		if c.Tenant != "" {
			return []string{"t=" + c.Tenant}, c.Tenant, nil
		}
		return nil, "", nil
	}
	t := tenantID(parent)
	if t == "" {
		return nil, "", invalid("parent", "want tenants/{tenant} or tenants/-")
	}
	if err := c.mayUseTenant(t); err != nil {
		return nil, "", err
	}
	return []string{"t=" + t}, t, nil
}

// ListSipInterfaces implements inventoryv1.InventoryServiceServer.
func (s *Server) ListSipInterfaces(ctx context.Context, req *inventoryv1.ListSipInterfacesRequest) (*inventoryv1.ListSipInterfacesResponse, error) {
	c, err := authorize(ctx, rolesRead...)
	if err != nil {
		return nil, err
	}
	terms, _, err := listParent(c, req.GetParent())
	if err != nil {
		return nil, err
	}
	sis, next, err := listOut(ctx, s, store.KindInterface, terms, req.GetPageSize(), req.GetPageToken(), decodeInterface)
	if err != nil {
		return nil, err
	}
	return &inventoryv1.ListSipInterfacesResponse{SipInterfaces: sis, NextPageToken: next}, nil
}

var interfaceUpdatable = []string{"display_name", "host", "udp_port", "tcp_port", "tls_port", "outbound_proxy", "registration_expiry"}

// whyDefaultInterface is the fan-out reason of a tenant whose default SIP
// interface changed (fanoutAspects reads it: ASSIGNMENT only).
const whyDefaultInterface = "default SIP interface changed"

// UpdateSipInterface implements inventoryv1.InventoryServiceServer.
func (s *Server) UpdateSipInterface(ctx context.Context, req *inventoryv1.UpdateSipInterfaceRequest) (*inventoryv1.UpdateSipInterfaceResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	name := req.GetSipInterface().GetName()
	tenant, id, ok := parseInterfaceName(name)
	if !ok {
		return nil, invalid("sip_interface.name", "want tenants/{tenant}/sipInterfaces/{id}")
	}
	if err := c.mayUseTenant(tenant); err != nil {
		return nil, err
	}
	var out *inventoryv1.SipInterface
	ifRef, tenantRef := store.Ref(store.KindInterface, tenant+"/"+id), store.Ref(store.KindTenant, tenant)
	var jobRev int64
	var isDefault bool
	const whyIf, whyDefault = "SIP interface changed", whyDefaultInterface
	err = retry(ctx, func() error {
		si, rev, err := s.getInterface(ctx, name)
		if err != nil {
			return err
		}
		if err := checkEtag(req.GetSipInterface().GetEtag(), rev, "SIP interface"); err != nil {
			return err
		}
		created := si.GetCreateTime()
		old := proto.Clone(si).(*inventoryv1.SipInterface)
		if _, err := applyMask(si, req.GetSipInterface(), req.GetUpdateMask(), interfaceUpdatable); err != nil {
			return err
		}
		if err := checkInterface(si); err != nil {
			return err
		}
		if err := s.checkTransportsStillOffered(ctx, tenant, name, old, si); err != nil {
			return err
		}
		si.CreateTime, si.UpdateTime = created, timestamppb.New(s.now())
		op, err := interfaceOp(tenant, id, si, rev)
		if err != nil {
			return err
		}
		ops := []store.Op{op, s.fanoutJob(ifRef, whyIf)}
		// Phones that use it as their tenant's default do not refer to it.
		isDefault = false
		if t, _, err := s.getTenant(ctx, tenant); err == nil && t.GetDefaultSettings().GetSipInterface() == name {
			isDefault = true
			ops = append(ops, s.fanoutJob(tenantRef, whyDefault))
		}
		nrev, err := s.st.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{Ops: ops}, nil })
		if err != nil {
			return err
		}
		si.Name, si.Etag, jobRev = name, etagOf(nrev), nrev
		out = si
		return nil
	})
	if err != nil {
		return nil, storeErr(err, fmt.Sprintf("SIP interface %q", name))
	}
	s.fanOut(ctx, ifRef, whyIf, jobRev)
	if isDefault {
		s.fanOut(ctx, tenantRef, whyDefault, jobRev)
	}
	return &inventoryv1.UpdateSipInterfaceResponse{SipInterface: out}, nil
}

// checkTransportsStillOffered refuses an interface update that removes the
// port of a transport some phone (or the tenant default) uses with it.
func (s *Server) checkTransportsStillOffered(ctx context.Context, tenant, name string, old, si *inventoryv1.SipInterface) error {
	removed := false
	for _, tr := range []provisioningv1.Transport{provisioningv1.Transport_TRANSPORT_UDP, provisioningv1.Transport_TRANSPORT_TCP, provisioningv1.Transport_TRANSPORT_TLS} {
		if transportPort(old, tr) != 0 && transportPort(si, tr) == 0 {
			removed = true
		}
	}
	if !removed {
		return nil
	}
	t, _, err := s.getTenant(ctx, tenant)
	if err != nil {
		return err
	}
	def := t.GetDefaultSettings()
	check := func(tr provisioningv1.Transport, who string) error {
		if tr != provisioningv1.Transport_TRANSPORT_UNSPECIFIED && transportPort(si, tr) == 0 {
			return status.Errorf(codes.FailedPrecondition, "%s uses %s on this interface; keep its port or change %s first", who, vocab.TransportName(tr), who)
		}
		return nil
	}
	if def.GetSipInterface() == name {
		if err := check(def.GetTransport(), "the tenant default"); err != nil {
			return err
		}
	}
	macs, err := s.referringPhones(ctx, store.Ref(store.KindTenant, tenant))
	if err != nil {
		return err
	}
	for _, mac := range macs {
		pr, err := s.getPhoneRec(ctx, mac)
		if err != nil {
			continue
		}
		ps := pr.p.GetSettings()
		if ps.GetSipInterface() == name || (ps.GetSipInterface() == "" && def.GetSipInterface() == name) {
			tr := ps.GetTransport()
			if tr == provisioningv1.Transport_TRANSPORT_UNSPECIFIED {
				tr = def.GetTransport()
			}
			if err := check(tr, "phone "+mac); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteSipInterface implements inventoryv1.InventoryServiceServer.
func (s *Server) DeleteSipInterface(ctx context.Context, req *inventoryv1.DeleteSipInterfaceRequest) (*inventoryv1.DeleteSipInterfaceResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	tenant, id, ok := parseInterfaceName(req.GetName())
	if !ok {
		return nil, invalid("name", "want tenants/{tenant}/sipInterfaces/{id}")
	}
	if err := c.mayUseTenant(tenant); err != nil {
		return nil, err
	}
	if err := s.deleteRecord(ctx, store.KindInterface, tenant+"/"+id, req.GetEtag()); err != nil {
		return nil, storeErr(err, fmt.Sprintf("SIP interface %q", req.GetName()))
	}
	s.log.Info("SIP interface deleted", "sip_interface", req.GetName(), "principal", c.Name)
	return &inventoryv1.DeleteSipInterfaceResponse{}, nil
}
