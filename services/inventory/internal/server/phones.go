package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/proto/vocab"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

const (
	stDiscovered  = inventoryv1.PhoneState_PHONE_STATE_DISCOVERED
	stAssigned    = inventoryv1.PhoneState_PHONE_STATE_ASSIGNED
	stProvisioned = inventoryv1.PhoneState_PHONE_STATE_PROVISIONED
	stFetching    = inventoryv1.PhoneState_PHONE_STATE_FETCHING
)

// newToken returns 32 bytes from crypto/rand, base64url without padding.
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) getPhoneRec(ctx context.Context, mac string) (*phoneRec, error) {
	r, err := s.st.Get(ctx, store.KindPhone, mac)
	if err != nil {
		return nil, storeErr(err, "phone "+mac)
	}
	pr, err := decodePhone(r)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return pr, nil
}

// visiblePhone loads a phone the caller may see; others are NotFound.
func (s *Server) visiblePhone(ctx context.Context, c caller, mac string) (*phoneRec, error) {
	pr, err := s.getPhoneRec(ctx, mac)
	if err != nil {
		return nil, err
	}
	if !c.seesTenant(tenantID(pr.p.GetTenant())) {
		return nil, status.Errorf(codes.NotFound, "phone %s not found", mac)
	}
	return pr, nil
}

// provisioningURL composes the phone's URL; "" when it has no token.
func (s *Server) provisioningURL(pr *phoneRec) string {
	if pr.token == "" {
		return ""
	}
	base := s.cfg.EdgeHTTPBase
	if pr.p.GetSettings().GetHttps() {
		base = s.cfg.EdgeHTTPSBase
	}
	if base == "" {
		return ""
	}
	return base + "/p/" + pr.token + "/"
}

// basePhone is the phone without secrets or URL, with revision and etag.
func basePhone(pr *phoneRec, rev int64) *inventoryv1.Phone {
	p := proto.Clone(pr.p).(*inventoryv1.Phone)
	p.Name = phoneName(p.GetMac())
	p.Settings = outSettings(p.Settings)
	p.ProvisioningUrl = ""
	p.Revision, p.Etag = rev, etagOf(rev)
	return p
}

// outPhone is the phone as caller c may see it.
func (s *Server) outPhone(c caller, pr *phoneRec) *inventoryv1.Phone {
	p := basePhone(pr, pr.rev)
	if c.seesURL() {
		p.ProvisioningUrl = s.provisioningURL(pr)
	}
	return p
}

// change describes one committed change of a phone.
type change struct {
	typ       inventoryv1.PhoneChangeType // UNSPECIFIED: nothing changed, nothing written
	config    bool                        // the phone's profile changed
	delete    bool
	prevState inventoryv1.PhoneState
	// prevTenant is the phone's tenant before the change ("tenants/x" or "",
	// set by mutatePhone), so tenant-scoped watchers see a phone leave.
	prevTenant string
	prevGrace  time.Time // TOKEN_ROTATED: the previous token works until then
	// prev is the phone before the change (set by mutatePhone; nil: it did
	// not exist), from which commitPhone computes the event's aspects.
	prev *phoneRec
	// aspects are touched beyond what the phone's own record shows (a
	// fan-out: a record the phone refers to changed).
	aspects []inventoryv1.PhoneAspect
	ops     []store.Op      // more ops in the same batch
	outbox  []store.Message // more events in the same batch
	log     func(rev int64) // optional log line after the commit
}

// commitPhone writes pr (expected at revision expect; ExpectAbsent for a new
// phone) with the PhoneChanged event in the same batch (the outbox).
func (s *Server) commitPhone(ctx context.Context, pr *phoneRec, expect int64, ch change) error {
	now := s.now()
	// What does not depend on the revision is worked out before the
	// store's write transaction, which writers share one at a time (the
	// aspects' field-by-field diff was a fifth of it in a boot storm).
	after := pr
	if ch.delete {
		after = nil
	}
	aspects := mergeAspects(phoneAspects(ch.prev, after), ch.aspects)
	evPhone := basePhone(pr, 0)
	// The record's encoding holds the revision only when the profile
	// changed (configRev); otherwise (fetches, discoveries) it is made here.
	var pre store.Op
	if !ch.config && !ch.delete {
		var err error
		if pre, err = pr.op(expect, now); err != nil {
			return err
		}
	}
	rev, err := s.st.Apply(ctx, func(rev int64) (store.Batch, error) {
		op := pre
		switch {
		case ch.delete:
			op = store.Op{Kind: store.KindPhone, ID: pr.p.GetMac(), Delete: true, Expect: expect}
		case ch.config:
			c := *pr
			c.configRev = rev
			var err error
			if op, err = c.op(expect, now); err != nil {
				return store.Batch{}, err
			}
		}
		evPhone.Revision, evPhone.Etag = rev, etagOf(rev)
		ev := &eventsv1.PhoneChanged{
			ChangeType:     ch.typ,
			Phone:          evPhone,
			Revision:       rev,
			PreviousState:  ch.prevState,
			ChangeTime:     timestamppb.New(now),
			PreviousTenant: ch.prevTenant,
			ModelWarning:   pr.p.GetModelWarning(),
			Aspects:        aspects,
			FilesChanged:   filesChanged(aspects),
		}
		if !ch.prevGrace.IsZero() {
			ev.PreviousTokenExpireTime = timestamppb.New(ch.prevGrace)
		}
		data, err := proto.Marshal(ev)
		if err != nil {
			return store.Batch{}, err
		}
		return store.Batch{
			Ops: append(slices.Clip(ch.ops), op),
			Outbox: append([]store.Message{{
				Subject: streams.Subject(streams.PhoneChangedPrefix, pr.p.GetMac()),
				MsgID:   fmt.Sprintf("phone-%s-%d", pr.p.GetMac(), rev),
				Data:    data,
			}}, ch.outbox...),
		}, nil
	})
	if err != nil {
		return err
	}
	pr.rev = rev
	if ch.config {
		pr.configRev = rev
	}
	s.m.changes.WithLabelValues(changeLabel(ch.typ)).Inc()
	if ch.log != nil {
		ch.log(rev)
	}
	s.kickRelay()
	return nil
}

func changeLabel(t inventoryv1.PhoneChangeType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "PHONE_CHANGE_TYPE_"))
}

// mutatePhone reads a phone, lets fn change a copy, and commits it at the
// revision read. Conflicts with concurrent writers are retried unless the
// client pinned an etag (then Aborted).
func (s *Server) mutatePhone(ctx context.Context, mac string, fn func(pr *phoneRec) (change, error)) (*phoneRec, change, error) {
	var (
		out *phoneRec
		ch  change
	)
	err := retry(ctx, func() error {
		cur, err := s.getPhoneRec(ctx, mac)
		if err != nil {
			return err
		}
		pr := cur.clone()
		ch, err = fn(pr)
		if err != nil {
			return err
		}
		if ch.typ == inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UNSPECIFIED {
			out = cur
			return nil
		}
		if !ch.delete {
			pr.p.UpdateTime = timestamppb.New(s.now())
		}
		ch.prevTenant, ch.prev = cur.p.GetTenant(), cur
		if err := s.commitPhone(ctx, pr, cur.rev, ch); err != nil {
			return err
		}
		out = pr
		return nil
	})
	return out, ch, err
}

// ---------------------------------------------------------------- validation

// checkLines validates and normalises lines of a phone in tenant.
// creating names an extension created in the same batch.
func (s *Server) checkLines(ctx context.Context, field string, lines []*inventoryv1.PhoneLine, tenant, creating string) ([]*inventoryv1.PhoneLine, error) {
	if len(lines) > maxLines {
		return nil, invalid(field, "at most %d lines", maxLines)
	}
	out := make([]*inventoryv1.PhoneLine, 0, len(lines))
	seenIdx, seenExt := map[int32]bool{}, map[string]bool{}
	for i, l := range lines {
		f := fmt.Sprintf("%s[%d]", field, i)
		if l.GetIndex() < 1 || l.GetIndex() > maxLines {
			return nil, invalid(f+".index", "must be 1-%d", maxLines)
		}
		if seenIdx[l.GetIndex()] {
			return nil, invalid(f+".index", "line %d listed twice", l.GetIndex())
		}
		seenIdx[l.GetIndex()] = true
		t, n, ok := parseExtensionName(l.GetExtension())
		if !ok {
			return nil, invalid(f+".extension", "want tenants/{tenant}/extensions/{number}")
		}
		if t != tenant {
			return nil, invalid(f+".extension", "must be an extension of tenant %q", tenant)
		}
		if seenExt[n] {
			return nil, invalid(f+".extension", "extension %s is on two lines", n)
		}
		seenExt[n] = true
		if l.GetExtension() != creating {
			if _, _, err := s.getExtension(ctx, t, n); err != nil {
				if status.Code(err) == codes.NotFound {
					return nil, invalid(f+".extension", "extension %q does not exist", l.GetExtension())
				}
				return nil, err
			}
		}
		out = append(out, &inventoryv1.PhoneLine{Index: l.GetIndex(), Extension: l.GetExtension()})
	}
	slices.SortFunc(out, func(a, b *inventoryv1.PhoneLine) int { return int(a.Index - b.Index) })
	return out, nil
}

// phoneSettings validates the settings of a phone in tenant t and resolves
// its SIP interface: the phone's, else the tenant default, else the
// tenant's only interface (then written into the phone's settings).
func (s *Server) phoneSettings(ctx context.Context, field string, in *inventoryv1.ProvisioningSettings, t *inventoryv1.Tenant, tenant string) (*inventoryv1.ProvisioningSettings, error) {
	var ps *inventoryv1.ProvisioningSettings
	if in == nil {
		// Unset settings take the tenant defaults: the booleans are copied
		// now (false cannot mean "inherit"); the rest is inherited when the
		// profile is built.
		ps = &inventoryv1.ProvisioningSettings{
			Https:     t.GetDefaultSettings().GetHttps(),
			SaveToRps: t.GetDefaultSettings().GetSaveToRps(),
		}
	} else {
		ps = proto.Clone(in).(*inventoryv1.ProvisioningSettings)
	}
	def := t.GetDefaultSettings().GetSipInterface()
	if err := s.checkSettings(ctx, field, ps, tenant, def); err != nil {
		return nil, err
	}
	if ps.GetSipInterface() == "" && def == "" {
		recs, err := s.st.List(ctx, store.ListQuery{Kind: store.KindInterface, Terms: []string{"t=" + tenant}, Limit: 2})
		if err != nil {
			return nil, storeErr(err, "SIP interfaces")
		}
		switch len(recs) {
		case 0:
			return nil, status.Errorf(codes.FailedPrecondition, "tenant %q has no SIP interface; create one first", tenant)
		case 1:
			_, id, _ := splitChildID(recs[0].ID)
			ps.SipInterface = interfaceName(tenant, id)
			if err := s.checkSettings(ctx, field, ps, tenant, ""); err != nil {
				return nil, err
			}
		default:
			return nil, invalid(field+".sip_interface", "required: tenant %q has several SIP interfaces and no default", tenant)
		}
	}
	return ps, nil
}

// ---------------------------------------------------------------- RPCs

// CreatePhone implements inventoryv1.InventoryServiceServer.
func (s *Server) CreatePhone(ctx context.Context, req *inventoryv1.CreatePhoneRequest) (*inventoryv1.CreatePhoneResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	in := req.GetPhone()
	if in == nil {
		return nil, invalid("phone", "required")
	}
	mac := in.GetMac()
	if mac == "" {
		mac = in.GetName()
	}
	mac, err = normalizeMAC("phone.mac", mac)
	if err != nil {
		return nil, err
	}
	now := timestamppb.New(s.now())
	p := &inventoryv1.Phone{
		Mac: mac, Vendor: in.GetVendor(), Model: in.GetModel(), Firmware: in.GetFirmware(),
		Origin: inventoryv1.PhoneOrigin_PHONE_ORIGIN_MANUAL, State: stDiscovered,
		CreateTime: now, UpdateTime: now,
	}
	if err := s.checkModel(ctx, p, true); err != nil {
		return nil, err
	}
	pr := &phoneRec{p: p}
	if len(in.GetLines()) > 0 {
		tenant := tenantID(in.GetTenant())
		if in.GetTenant() == "" {
			tenant, _, _ = parseExtensionName(in.GetLines()[0].GetExtension())
		}
		if tenant == "" {
			return nil, invalid("phone.tenant", "want tenants/{tenant}")
		}
		if err := c.mayUseTenant(tenant); err != nil {
			return nil, err
		}
		t, _, err := s.getTenant(ctx, tenant)
		if status.Code(err) == codes.NotFound {
			return nil, invalid("phone.tenant", "tenant %q does not exist", tenant)
		} else if err != nil {
			return nil, err
		}
		if p.Lines, err = s.checkLines(ctx, "phone.lines", in.GetLines(), tenant, ""); err != nil {
			return nil, err
		}
		if p.Settings, err = s.phoneSettings(ctx, "phone.settings", in.GetSettings(), t, tenant); err != nil {
			return nil, err
		}
		p.Tenant, p.State = tenantName(tenant), stAssigned
		pr.token = newToken()
	} else {
		if in.GetTenant() != "" {
			return nil, invalid("phone.tenant", "a phone without lines belongs to no tenant")
		}
		if in.GetSettings() != nil {
			return nil, invalid("phone.settings", "settings need lines (assign the phone)")
		}
		if c.Tenant != "" {
			return nil, status.Error(codes.PermissionDenied, "a tenant-scoped principal can only add phones with lines in its tenant")
		}
		if s.cfg.Bootstrap {
			pr.token, pr.bootstrapToken = newToken(), true
		}
	}
	err = s.commitPhone(ctx, pr, store.ExpectAbsent, change{
		typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_CREATED, config: true,
		log: func(rev int64) {
			s.log.Info("phone created", "mac", mac, "state", p.State.String(), "tenant", p.Tenant, "revision", rev, "principal", c.Name)
		},
	})
	if err != nil {
		return nil, storeErr(err, "phone "+mac)
	}
	return &inventoryv1.CreatePhoneResponse{Phone: s.outPhone(c, pr)}, nil
}

// GetPhone implements inventoryv1.InventoryServiceServer.
func (s *Server) GetPhone(ctx context.Context, req *inventoryv1.GetPhoneRequest) (*inventoryv1.GetPhoneResponse, error) {
	c, mac, err := authorizePhone(ctx, req.GetName(), rolesGetPh...)
	if err != nil {
		return nil, err
	}
	pr, err := s.visiblePhone(ctx, c, mac)
	if err != nil {
		return nil, err
	}
	out := s.outPhone(c, pr)
	// One phone: the tenant read that resolves the policy is cheap here
	// (ListPhones leaves the field unset).
	if pol, err := s.effectivePolicy(ctx, pr.p); err == nil {
		out.EffectiveDeviceCert = pol
	}
	return &inventoryv1.GetPhoneResponse{Phone: out}, nil
}

// ListPhones implements inventoryv1.InventoryServiceServer.
func (s *Server) ListPhones(ctx context.Context, req *inventoryv1.ListPhonesRequest) (*inventoryv1.ListPhonesResponse, error) {
	c, err := authorize(ctx, rolesListPh...)
	if err != nil {
		return nil, err
	}
	var terms []string
	// Most selective first: tenant, then vendor, then state.
	tenant := c.Tenant
	if req.GetTenant() != "" {
		t := tenantID(req.GetTenant())
		if t == "" {
			return nil, invalid("tenant", "want tenants/{tenant}")
		}
		if err := c.mayUseTenant(t); err != nil {
			return nil, err
		}
		tenant = t
	}
	if tenant != "" {
		terms = append(terms, "t="+tenant)
	}
	if v := req.GetVendor(); v != "" {
		v = strings.ToLower(v)
		if !vocab.IsVendor(v) {
			return nil, invalid("vendor", "unknown vendor %q", truncate(v, 32))
		}
		terms = append(terms, "v="+v)
	}
	if st := req.GetState(); st != inventoryv1.PhoneState_PHONE_STATE_UNSPECIFIED {
		if _, ok := inventoryv1.PhoneState_name[int32(st)]; !ok {
			return nil, invalid("state", "unknown state %d", int32(st))
		}
		terms = append(terms, fmt.Sprintf("s=%d", st))
	}
	phones, next, err := listOut(ctx, s, store.KindPhone, terms, req.GetPageSize(), req.GetPageToken(),
		func(r store.Record) (*inventoryv1.Phone, error) {
			pr, err := decodePhone(r)
			if err != nil {
				return nil, err
			}
			return s.outPhone(c, pr), nil
		})
	if err != nil {
		return nil, err
	}
	return &inventoryv1.ListPhonesResponse{Phones: phones, NextPageToken: next}, nil
}

var phoneUpdatable = []string{"model", "vendor", "lines", "settings"}

// UpdatePhone implements inventoryv1.InventoryServiceServer.
func (s *Server) UpdatePhone(ctx context.Context, req *inventoryv1.UpdatePhoneRequest) (*inventoryv1.UpdatePhoneResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	in := req.GetPhone()
	name := in.GetName()
	if name == "" {
		name = in.GetMac()
	}
	mac, err := normalizeMAC("phone.name", name)
	if err != nil {
		return nil, err
	}
	pr, _, err := s.mutatePhone(ctx, mac, func(pr *phoneRec) (change, error) {
		if !c.seesTenant(tenantID(pr.p.GetTenant())) {
			return change{}, status.Errorf(codes.NotFound, "phone %s not found", mac)
		}
		if err := checkEtag(in.GetEtag(), pr.rev, "phone"); err != nil {
			return change{}, err
		}
		before := proto.Clone(pr.p).(*inventoryv1.Phone)
		oldPw := pr.p.GetSettings().GetWebPassword()
		paths, err := applyMask(pr.p, in, req.GetUpdateMask(), phoneUpdatable)
		if err != nil {
			return change{}, err
		}
		if touched(paths, "model") || touched(paths, "vendor") {
			if err := s.checkModel(ctx, pr.p, true); err != nil {
				return change{}, err
			}
		}
		tenant := tenantID(pr.p.GetTenant())
		if touched(paths, "lines") {
			if tenant == "" {
				if len(pr.p.GetLines()) > 0 {
					return change{}, status.Error(codes.FailedPrecondition, "phone is not assigned; use AssignPhone")
				}
			} else {
				if len(pr.p.GetLines()) == 0 {
					return change{}, invalid("phone.lines", "an assigned phone needs a line; use UnassignPhone to remove all")
				}
				if pr.p.Lines, err = s.checkLines(ctx, "phone.lines", pr.p.GetLines(), tenant, ""); err != nil {
					return change{}, err
				}
			}
		}
		if touched(paths, "settings") {
			keepSecret(req.GetUpdateMask().GetPaths(), "settings", &pr.p.Settings, oldPw)
			if tenant == "" {
				if !proto.Equal(pr.p.GetSettings(), before.GetSettings()) && pr.p.GetSettings() != nil {
					return change{}, status.Error(codes.FailedPrecondition, "phone is not assigned; settings are set with AssignPhone")
				}
			} else {
				t, _, err := s.getTenant(ctx, tenant)
				if err != nil {
					return change{}, err
				}
				if pr.p.GetSettings() == nil {
					pr.p.Settings = &inventoryv1.ProvisioningSettings{}
				}
				if pr.p.Settings, err = s.phoneSettings(ctx, "phone.settings", pr.p.GetSettings(), t, tenant); err != nil {
					return change{}, err
				}
			}
		}
		if proto.Equal(before, pr.p) {
			return change{}, nil
		}
		ch := change{typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UPDATED, config: true, prevState: before.GetState()}
		if st := pr.p.GetState(); st == stProvisioned || st == stFetching {
			pr.p.State = stAssigned // its configuration is stale now
		}
		ch.log = func(rev int64) {
			s.log.Info("phone updated", "mac", mac, "fields", strings.Join(paths, ","), "revision", rev, "principal", c.Name)
		}
		return ch, nil
	})
	if err != nil {
		return nil, storeErr(err, "phone "+mac)
	}
	return &inventoryv1.UpdatePhoneResponse{Phone: s.outPhone(c, pr)}, nil
}

// DeletePhone implements inventoryv1.InventoryServiceServer.
func (s *Server) DeletePhone(ctx context.Context, req *inventoryv1.DeletePhoneRequest) (*inventoryv1.DeletePhoneResponse, error) {
	c, mac, err := authorizePhone(ctx, req.GetName(), rolesWrite...)
	if err != nil {
		return nil, err
	}
	_, _, err = s.mutatePhone(ctx, mac, func(pr *phoneRec) (change, error) {
		if !c.seesTenant(tenantID(pr.p.GetTenant())) {
			return change{}, status.Errorf(codes.NotFound, "phone %s not found", mac)
		}
		if err := checkEtag(req.GetEtag(), pr.rev, "phone"); err != nil {
			return change{}, err
		}
		return change{
			typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DELETED, delete: true, prevState: pr.p.GetState(),
			log: func(rev int64) { s.log.Info("phone deleted", "mac", mac, "revision", rev, "principal", c.Name) },
		}, nil
	})
	if err != nil {
		return nil, storeErr(err, "phone "+mac)
	}
	return &inventoryv1.DeletePhoneResponse{}, nil
}

// AssignPhone implements inventoryv1.InventoryServiceServer.
func (s *Server) AssignPhone(ctx context.Context, req *inventoryv1.AssignPhoneRequest) (*inventoryv1.AssignPhoneResponse, error) {
	c, mac, err := authorizePhone(ctx, req.GetName(), rolesWrite...)
	if err != nil {
		return nil, err
	}
	var (
		tenant, line1, creating string
		createOp                *store.Op
	)
	switch {
	case req.GetCreateExtension() != nil && req.GetExtension() != "":
		return nil, invalid("extension", "give extension or create_extension, not both")
	case req.GetCreateExtension() != nil:
		if tenant = tenantID(req.GetTenant()); tenant == "" {
			return nil, invalid("tenant", "required with create_extension: tenants/{tenant}")
		}
	case req.GetExtension() != "":
		t, _, ok := parseExtensionName(req.GetExtension())
		if !ok {
			return nil, invalid("extension", "want tenants/{tenant}/extensions/{number}")
		}
		if req.GetTenant() != "" && tenantID(req.GetTenant()) != t {
			return nil, invalid("tenant", "does not match the extension's tenant")
		}
		tenant, line1 = t, req.GetExtension()
	default:
		return nil, invalid("extension", "required (or create_extension)")
	}
	if err := c.mayUseTenant(tenant); err != nil {
		return nil, err
	}
	t, _, err := s.getTenant(ctx, tenant)
	if status.Code(err) == codes.NotFound {
		return nil, invalid("tenant", "tenant %q does not exist", tenant)
	} else if err != nil {
		return nil, err
	}
	if req.GetCreateExtension() != nil {
		e, op, err := s.newExtension("create_extension", tenant, req.GetCreateExtension())
		if err != nil {
			return nil, err
		}
		line1, creating, createOp = e.Name, e.Name, &op
	}
	lines := []*inventoryv1.PhoneLine{{Index: 1, Extension: line1}}
	for i, x := range req.GetAdditionalExtensions() {
		lines = append(lines, &inventoryv1.PhoneLine{Index: int32(i + 2), Extension: x})
	}
	if lines, err = s.checkLines(ctx, "lines", lines, tenant, creating); err != nil {
		return nil, renameLineField(err)
	}
	if cur, err := s.getPhoneRec(ctx, mac); err != nil || cur.p.GetSettings() == nil {
		// Settings that will not be merged are checked first: a bad
		// request is InvalidArgument even for a phone that does not exist.
		if _, err := s.phoneSettings(ctx, "settings", req.GetSettings(), t, tenant); err != nil {
			return nil, err
		}
	}
	pr, _, err := s.mutatePhone(ctx, mac, func(pr *phoneRec) (change, error) {
		pt := tenantID(pr.p.GetTenant())
		if !c.seesTenant(pt) && pt != "" {
			return change{}, status.Errorf(codes.NotFound, "phone %s not found", mac)
		}
		if err := checkEtag(req.GetEtag(), pr.rev, "phone"); err != nil {
			return change{}, err
		}
		if pt != "" && pt != tenant {
			return change{}, status.Errorf(codes.FailedPrecondition, "phone %s is assigned to tenant %q; unassign it first", mac, pt)
		}
		// Re-assigning a phone that has settings keeps those the request
		// does not give: an assignment made to change lines (or one
		// setting) must not wipe the language, codecs or web password.
		in := req.GetSettings()
		if cur := pr.p.GetSettings(); cur != nil {
			in = mergeSettings(cur, in)
		}
		ps, err := s.phoneSettings(ctx, "settings", in, t, tenant)
		if err != nil {
			return change{}, err
		}
		before := proto.Clone(pr.p).(*inventoryv1.Phone)
		if pr.p.GetState() != stDiscovered && createOp == nil &&
			slices.EqualFunc(pr.p.GetLines(), lines, func(a, b *inventoryv1.PhoneLine) bool { return proto.Equal(a, b) }) &&
			proto.Equal(pr.p.GetSettings(), ps) {
			return change{}, nil // the same assignment again (a retried call): nothing changes
		}
		pr.p.Tenant, pr.p.Lines, pr.p.Settings = tenantName(tenant), lines, ps
		pr.p.State = stAssigned
		if pr.token == "" || pr.bootstrapToken {
			// A fresh secret; the bootstrap token stops working now.
			pr.token, pr.bootstrapToken, pr.prevToken, pr.prevExpire = newToken(), false, "", 0
		}
		ch := change{typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_ASSIGNED, config: true, prevState: before.GetState()}
		if createOp != nil {
			ch.ops = []store.Op{*createOp}
		}
		ch.log = func(rev int64) {
			s.log.Info("phone assigned", "mac", mac, "tenant", tenant, "lines", len(lines), "revision", rev, "principal", c.Name)
		}
		return ch, nil
	})
	if err != nil {
		var oe *store.OpError
		if errors.As(err, &oe) && oe.Kind == store.KindExtension && errors.Is(err, store.ErrExists) {
			return nil, status.Errorf(codes.AlreadyExists, "create_extension: extension %q already exists", creating)
		}
		return nil, storeErr(err, "phone "+mac)
	}
	return &inventoryv1.AssignPhoneResponse{Phone: s.outPhone(c, pr), ProvisioningUrl: s.provisioningURL(pr)}, nil
}

// mergeSettings overlays the fields of in that are set (non-empty strings,
// a transport, a codec list, true booleans) on a copy of cur: the rule of
// AssignPhoneRequest.settings for a phone that already has settings.
// Clearing a field or turning a boolean off is UpdatePhone's job.
func mergeSettings(cur, in *inventoryv1.ProvisioningSettings) *inventoryv1.ProvisioningSettings {
	out := proto.Clone(cur).(*inventoryv1.ProvisioningSettings)
	if in == nil {
		return out
	}
	if in.GetWebPassword() != "" {
		out.WebPassword = in.GetWebPassword()
	}
	if in.GetLanguage() != "" {
		out.Language = in.GetLanguage()
	}
	if in.GetTimeZone() != "" {
		out.TimeZone = in.GetTimeZone()
	}
	if in.GetSipInterface() != "" {
		out.SipInterface = in.GetSipInterface()
	}
	if in.GetTransport() != provisioningv1.Transport_TRANSPORT_UNSPECIFIED {
		out.Transport = in.GetTransport()
	}
	if len(in.GetCodecs()) > 0 {
		out.Codecs = slices.Clone(in.GetCodecs())
	}
	out.SaveToRps = out.GetSaveToRps() || in.GetSaveToRps()
	out.Https = out.GetHttps() || in.GetHttps()
	return out
}

// UnassignPhone implements inventoryv1.InventoryServiceServer.
func (s *Server) UnassignPhone(ctx context.Context, req *inventoryv1.UnassignPhoneRequest) (*inventoryv1.UnassignPhoneResponse, error) {
	c, mac, err := authorizePhone(ctx, req.GetName(), rolesWrite...)
	if err != nil {
		return nil, err
	}
	pr, _, err := s.mutatePhone(ctx, mac, func(pr *phoneRec) (change, error) {
		if !c.seesTenant(tenantID(pr.p.GetTenant())) {
			return change{}, status.Errorf(codes.NotFound, "phone %s not found", mac)
		}
		if err := checkEtag(req.GetEtag(), pr.rev, "phone"); err != nil {
			return change{}, err
		}
		if pr.p.GetState() == stDiscovered && pr.p.GetTenant() == "" {
			return change{}, nil
		}
		prev := pr.p.GetState()
		pr.p.Tenant, pr.p.Lines, pr.p.Settings, pr.p.State = "", nil, nil, stDiscovered
		pr.p.ProvisionedTime = nil
		// The token now leads to a secret-free bootstrap profile (or nowhere);
		// the next assignment issues a fresh one.
		pr.prevToken, pr.prevExpire = "", 0
		if s.cfg.Bootstrap && pr.token != "" {
			pr.bootstrapToken = true
		} else {
			pr.token, pr.bootstrapToken = "", false
		}
		return change{
			typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UNASSIGNED, config: true, prevState: prev,
			log: func(rev int64) { s.log.Info("phone unassigned", "mac", mac, "revision", rev, "principal", c.Name) },
		}, nil
	})
	if err != nil {
		return nil, storeErr(err, "phone "+mac)
	}
	return &inventoryv1.UnassignPhoneResponse{Phone: s.outPhone(c, pr)}, nil
}

// maxGrace bounds RotateProvisioningToken's grace period.
const maxGrace = 30 * 24 * time.Hour

// RotateProvisioningToken implements inventoryv1.InventoryServiceServer.
func (s *Server) RotateProvisioningToken(ctx context.Context, req *inventoryv1.RotateProvisioningTokenRequest) (*inventoryv1.RotateProvisioningTokenResponse, error) {
	c, mac, err := authorizePhone(ctx, req.GetName(), rolesWrite...)
	if err != nil {
		return nil, err
	}
	grace := s.cfg.TokenGrace
	if g := req.GetGracePeriod(); g != nil {
		if err := g.CheckValid(); err != nil {
			return nil, invalid("grace_period", "%v", err)
		}
		if grace = g.AsDuration(); grace < 0 || grace > maxGrace {
			return nil, invalid("grace_period", "must be 0 to %s", maxGrace)
		}
	}
	pr, _, err := s.mutatePhone(ctx, mac, func(pr *phoneRec) (change, error) {
		if !c.seesTenant(tenantID(pr.p.GetTenant())) {
			return change{}, status.Errorf(codes.NotFound, "phone %s not found", mac)
		}
		if pr.token == "" {
			return change{}, status.Errorf(codes.FailedPrecondition, "phone %s has no provisioning token (unassigned, bootstrap policy off)", mac)
		}
		ch := change{typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_TOKEN_ROTATED, config: true, prevState: pr.p.GetState()}
		pr.prevToken, pr.prevExpire = "", 0
		if grace > 0 {
			ch.prevGrace = s.now().Add(grace)
			pr.prevToken, pr.prevExpire = pr.token, ch.prevGrace.UnixNano()
		}
		pr.token = newToken()
		ch.log = func(rev int64) {
			s.log.Info("provisioning token rotated", "mac", mac, "grace", grace.String(), "revision", rev, "principal", c.Name)
		}
		return ch, nil
	})
	if err != nil {
		return nil, storeErr(err, "phone "+mac)
	}
	return &inventoryv1.RotateProvisioningTokenResponse{Phone: s.outPhone(c, pr), ProvisioningUrl: s.provisioningURL(pr)}, nil
}

// GetProvisioningUrl implements inventoryv1.InventoryServiceServer.
func (s *Server) GetProvisioningUrl(ctx context.Context, req *inventoryv1.GetProvisioningUrlRequest) (*inventoryv1.GetProvisioningUrlResponse, error) {
	c, mac, err := authorizePhone(ctx, req.GetName(), rolesURL...)
	if err != nil {
		return nil, err
	}
	pr, err := s.visiblePhone(ctx, c, mac)
	if err != nil {
		return nil, err
	}
	resp := &inventoryv1.GetProvisioningUrlResponse{Phone: s.outPhone(c, pr)}
	if pr.token != "" && (!pr.bootstrapToken || s.cfg.Bootstrap) {
		resp.Url = s.provisioningURL(pr)
		resp.Bootstrap = pr.bootstrapToken || pr.p.GetState() == stDiscovered
	}
	return resp, nil
}

// ReprovisionPhone implements inventoryv1.InventoryServiceServer.
func (s *Server) ReprovisionPhone(ctx context.Context, req *inventoryv1.ReprovisionPhoneRequest) (*inventoryv1.ReprovisionPhoneResponse, error) {
	c, mac, err := authorizePhone(ctx, req.GetName(), rolesWrite...)
	if err != nil {
		return nil, err
	}
	pr, err := s.visiblePhone(ctx, c, mac)
	if err != nil {
		return nil, err
	}
	p := pr.p
	if p.GetLastContact() == "" && p.GetLastSeenAddress() == "" {
		return nil, status.Errorf(codes.FailedPrecondition, "phone %s was never seen on a LAN; there is nowhere to send the check-sync", mac)
	}
	if s.publish == nil {
		return nil, status.Error(codes.Unavailable, "event bus not connected")
	}
	now := s.now()
	ev := &eventsv1.ReprovisionRequested{
		Mac: mac, Vendor: p.GetVendor(), Model: p.GetModel(), LastContact: p.GetLastContact(),
		LastSeenAddress: p.GetLastSeenAddress(), Listener: p.GetListener(), Reboot: req.GetReboot(),
		RequestTime: timestamppb.New(now),
	}
	if len(p.GetLines()) > 0 {
		_, ev.Line1User, _ = parseExtensionName(p.GetLines()[0].GetExtension())
	}
	msgID := fmt.Sprintf("reprov-%s-%d-%d", mac, pr.rev, now.UnixNano())
	if err := s.publish(ctx, streams.Subject(streams.ReprovisionRequestedPrefix, mac), msgID, ev); err != nil {
		return nil, status.Errorf(codes.Unavailable, "publish reprovision request: %v", err)
	}
	s.log.Info("reprovision requested", "mac", mac, "reboot", req.GetReboot(), "principal", c.Name)
	return &inventoryv1.ReprovisionPhoneResponse{Phone: s.outPhone(c, pr)}, nil
}

// renameLineField names the request field of an AssignPhone line error:
// line 1 is "extension", line n+2 is "additional_extensions[n]".
func renameLineField(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "lines[") {
		return err
	}
	msg := st.Message()
	end := strings.IndexByte(msg, ']')
	n, convErr := strconv.Atoi(msg[len("lines["):end])
	if convErr != nil {
		return err
	}
	rest := msg[end+1:]
	if i := strings.Index(rest, ": "); i >= 0 {
		rest = rest[i:] // drop ".extension" / ".index"
	}
	if n == 0 {
		return status.Error(codes.InvalidArgument, "extension"+rest)
	}
	return status.Errorf(codes.InvalidArgument, "additional_extensions[%d]%s", n-1, rest)
}

// authorizePhone checks the caller's role and parses the phone's resource
// name: the preamble of every RPC on one phone.
func authorizePhone(ctx context.Context, name string, roles ...auth.Role) (caller, string, error) {
	c, err := authorize(ctx, roles...)
	if err != nil {
		return caller{}, "", err
	}
	mac, err := normalizeMAC("name", name)
	if err != nil {
		return caller{}, "", err
	}
	return c, mac, nil
}
