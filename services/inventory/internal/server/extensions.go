package server

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// Extensions are stored with their SIP password; outExtension strips it.

func decodeExtension(r store.Record) (*inventoryv1.Extension, error) {
	e := &inventoryv1.Extension{}
	if err := proto.Unmarshal(r.Value, e); err != nil {
		return nil, fmt.Errorf("decode extension %s: %w", r.ID, err)
	}
	t, n, _ := splitChildID(r.ID)
	e.Name, e.Number, e.Etag = extensionName(t, n), n, etagOf(r.Rev)
	return e, nil
}

func outExtension(e *inventoryv1.Extension) *inventoryv1.Extension {
	o := proto.Clone(e).(*inventoryv1.Extension)
	o.HasSipPassword = o.GetSipPassword() != ""
	o.SipPassword = ""
	return o
}

func extensionOp(tenant string, e *inventoryv1.Extension, expect int64) (store.Op, error) {
	v := proto.Clone(e).(*inventoryv1.Extension)
	number := v.GetNumber()
	v.Name, v.Etag, v.Number, v.HasSipPassword = "", "", "", false
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(v)
	if err != nil {
		return store.Op{}, err
	}
	return store.Op{
		Kind: store.KindExtension, ID: tenant + "/" + number, Expect: expect, Value: b,
		Terms: []string{"t=" + tenant}, Refs: []string{store.Ref(store.KindTenant, tenant)},
	}, nil
}

// checkExtension validates e for creation or update (field prefix given).
func checkExtension(field string, e *inventoryv1.Extension) error {
	if !validNumber(e.GetNumber()) {
		return invalid(field+".number", "want 1-32 characters of [0-9A-Za-z_.+-]")
	}
	if err := checkText(field+".display_name", e.GetDisplayName(), maxDisplayName); err != nil {
		return err
	}
	if a := e.GetAuthUser(); a != "" {
		if err := checkText(field+".auth_user", a, 64); err != nil {
			return err
		}
		if !validNumber(a) {
			return invalid(field+".auth_user", "want 1-32 characters of [0-9A-Za-z_.+-]")
		}
	}
	return checkSecret(field+".sip_password", e.GetSipPassword())
}

// newExtension prepares an extension for creation under tenant.
func (s *Server) newExtension(field, tenant string, in *inventoryv1.Extension) (*inventoryv1.Extension, store.Op, error) {
	if in == nil {
		return nil, store.Op{}, invalid(field, "required")
	}
	e := proto.Clone(in).(*inventoryv1.Extension)
	if e.GetName() != "" {
		t, n, ok := parseExtensionName(e.GetName())
		if !ok || t != tenant || (e.GetNumber() != "" && e.GetNumber() != n) {
			return nil, store.Op{}, invalid(field+".name", "output only; leave empty or match the parent and number")
		}
		e.Number = n
	}
	if err := checkExtension(field, e); err != nil {
		return nil, store.Op{}, err
	}
	now := timestamppb.New(s.now())
	e.CreateTime, e.UpdateTime = now, now
	op, err := extensionOp(tenant, e, store.ExpectAbsent)
	if err != nil {
		return nil, store.Op{}, status.Error(codes.Internal, err.Error())
	}
	e.Name = extensionName(tenant, e.GetNumber())
	return e, op, nil
}

// CreateExtension implements inventoryv1.InventoryServiceServer.
func (s *Server) CreateExtension(ctx context.Context, req *inventoryv1.CreateExtensionRequest) (*inventoryv1.CreateExtensionResponse, error) {
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
	e, op, err := s.newExtension("extension", tenant, req.GetExtension())
	if err != nil {
		return nil, err
	}
	rev, err := s.st.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{Ops: []store.Op{op}}, nil })
	if err != nil {
		return nil, storeErr(err, fmt.Sprintf("extension %q", e.Name))
	}
	e.Etag = etagOf(rev)
	s.log.Info("extension created", "extension", e.Name, "principal", c.Name)
	return &inventoryv1.CreateExtensionResponse{Extension: outExtension(e)}, nil
}

func (s *Server) getExtension(ctx context.Context, tenant, number string) (*inventoryv1.Extension, int64, error) {
	r, err := s.st.Get(ctx, store.KindExtension, tenant+"/"+number)
	if err != nil {
		return nil, 0, storeErr(err, fmt.Sprintf("extension %q", extensionName(tenant, number)))
	}
	e, err := decodeExtension(r)
	return e, r.Rev, err
}

// GetExtension implements inventoryv1.InventoryServiceServer.
func (s *Server) GetExtension(ctx context.Context, req *inventoryv1.GetExtensionRequest) (*inventoryv1.GetExtensionResponse, error) {
	c, err := authorize(ctx, rolesRead...)
	if err != nil {
		return nil, err
	}
	t, n, ok := parseExtensionName(req.GetName())
	if !ok {
		return nil, invalid("name", "want tenants/{tenant}/extensions/{number}")
	}
	if err := c.mayUseTenant(t); err != nil {
		return nil, err
	}
	e, _, err := s.getExtension(ctx, t, n)
	if err != nil {
		return nil, err
	}
	return &inventoryv1.GetExtensionResponse{Extension: outExtension(e)}, nil
}

// ListExtensions implements inventoryv1.InventoryServiceServer.
func (s *Server) ListExtensions(ctx context.Context, req *inventoryv1.ListExtensionsRequest) (*inventoryv1.ListExtensionsResponse, error) {
	c, err := authorize(ctx, rolesRead...)
	if err != nil {
		return nil, err
	}
	terms, _, err := listParent(c, req.GetParent())
	if err != nil {
		return nil, err
	}
	exts, next, err := listOut(ctx, s, store.KindExtension, terms, req.GetPageSize(), req.GetPageToken(),
		func(r store.Record) (*inventoryv1.Extension, error) {
			e, err := decodeExtension(r)
			if err != nil {
				return nil, err
			}
			return outExtension(e), nil
		})
	if err != nil {
		return nil, err
	}
	return &inventoryv1.ListExtensionsResponse{Extensions: exts, NextPageToken: next}, nil
}

var extensionUpdatable = []string{"display_name", "auth_user", "sip_password"}

// UpdateExtension implements inventoryv1.InventoryServiceServer. Phones
// whose lines use the extension are marked changed (their profile changed).
func (s *Server) UpdateExtension(ctx context.Context, req *inventoryv1.UpdateExtensionRequest) (*inventoryv1.UpdateExtensionResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	name := req.GetExtension().GetName()
	tenant, number, ok := parseExtensionName(name)
	if !ok {
		return nil, invalid("extension.name", "want tenants/{tenant}/extensions/{number}")
	}
	if err := c.mayUseTenant(tenant); err != nil {
		return nil, err
	}
	var out *inventoryv1.Extension
	ref, jobRev := store.Ref(store.KindExtension, tenant+"/"+number), int64(0)
	const whyExt = "extension changed"
	err = retry(ctx, func() error {
		e, rev, err := s.getExtension(ctx, tenant, number)
		if err != nil {
			return err
		}
		if err := checkEtag(req.GetExtension().GetEtag(), rev, "extension"); err != nil {
			return err
		}
		oldPw, created := e.GetSipPassword(), e.GetCreateTime()
		if _, err := applyMask(e, req.GetExtension(), req.GetUpdateMask(), extensionUpdatable); err != nil {
			return err
		}
		if len(req.GetUpdateMask().GetPaths()) == 0 && e.GetSipPassword() == "" {
			e.SipPassword = oldPw // write-only: a full update without it keeps it
		}
		e.Number = number
		if err := checkExtension("extension", e); err != nil {
			return err
		}
		e.CreateTime, e.UpdateTime = created, timestamppb.New(s.now())
		op, err := extensionOp(tenant, e, rev)
		if err != nil {
			return err
		}
		ops := []store.Op{op, s.fanoutJob(ref, whyExt)}
		nrev, err := s.st.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{Ops: ops}, nil })
		if err != nil {
			return err
		}
		e.Etag, jobRev = etagOf(nrev), nrev
		out = e
		return nil
	})
	if err != nil {
		return nil, storeErr(err, fmt.Sprintf("extension %q", name))
	}
	s.log.Info("extension updated", "extension", name, "principal", c.Name)
	s.fanOut(ctx, ref, whyExt, jobRev)
	return &inventoryv1.UpdateExtensionResponse{Extension: outExtension(out)}, nil
}

// DeleteExtension implements inventoryv1.InventoryServiceServer. It is
// refused (FailedPrecondition) while a phone line points at the extension.
func (s *Server) DeleteExtension(ctx context.Context, req *inventoryv1.DeleteExtensionRequest) (*inventoryv1.DeleteExtensionResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	t, n, ok := parseExtensionName(req.GetName())
	if !ok {
		return nil, invalid("name", "want tenants/{tenant}/extensions/{number}")
	}
	if err := c.mayUseTenant(t); err != nil {
		return nil, err
	}
	if err := s.deleteRecord(ctx, store.KindExtension, t+"/"+n, req.GetEtag()); err != nil {
		return nil, storeErr(err, fmt.Sprintf("extension %q", req.GetName()))
	}
	s.log.Info("extension deleted", "extension", req.GetName(), "principal", c.Name)
	return &inventoryv1.DeleteExtensionResponse{}, nil
}
