package server

import (
	"context"
	"crypto/subtle"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// How often phones re-check their URL: often while waiting for an
// assignment, hourly once provisioned (changes also arrive by check-sync).
const (
	bootstrapPoll = 10 * time.Minute
	assignedPoll  = time.Hour
)

// errNoToken is the one answer to every token that does not resolve, so
// unknown, malformed and expired tokens are indistinguishable.
var errNoToken = status.Error(codes.NotFound, "unknown provisioning token")

func wellFormedToken(t string) bool {
	if len(t) != 43 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// GetProvisioningProfile implements inventoryv1.InventoryServiceServer.
// With a store that has a change log (Redis) the answer usually comes
// from the profile cache after one shared round trip (profilecache.go);
// otherwise one store call resolves the token to the phone and everything
// it references (tenant, extensions, interface).
func (s *Server) GetProvisioningProfile(ctx context.Context, req *inventoryv1.GetProvisioningProfileRequest) (*inventoryv1.GetProvisioningProfileResponse, error) {
	if _, err := authorize(ctx, rolesProfile...); err != nil {
		return nil, err
	}
	tok := req.GetToken()
	if !wellFormedToken(tok) {
		s.m.profileNotFound.Inc()
		return nil, errNoToken
	}
	key := tokenKey(tok)
	var at cacheAt
	if s.pc != nil {
		var err error
		if at, err = s.pc.sync(ctx); err != nil {
			return nil, storeErr(err, "phone")
		}
		if e := s.pc.get(key, tok, s.now().UnixNano()); e != nil {
			s.m.cacheHits.Inc()
			s.m.profileResult(e.result).Inc()
			return e.resp, nil
		}
		s.m.cacheMisses.Inc()
	}
	e, err := s.buildProfile(ctx, tok, key)
	if err != nil {
		if err == errNoToken {
			s.m.profileNotFound.Inc()
		}
		return nil, err
	}
	s.m.profileResult(e.result).Inc()
	if s.pc != nil {
		if hook := s.beforeCachePut.Load(); hook != nil {
			(*hook)()
		}
		s.pc.put(at, e)
	}
	return e.resp, nil
}

// buildProfile reads the phone holding tok (key is tokenKey(tok)) and
// what it references, and composes the answer; errNoToken if tok leads
// nowhere.
func (s *Server) buildProfile(ctx context.Context, tok, key string) (*cachedProfile, error) {
	rec, refs, err := s.st.Resolve(ctx, store.KindPhone, key)
	if err != nil {
		if status.Code(storeErr(err, "")) == codes.NotFound {
			return nil, errNoToken
		}
		return nil, storeErr(err, "phone")
	}
	pr, err := decodePhone(rec)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	grace := false
	switch {
	case subtle.ConstantTimeCompare([]byte(tok), []byte(pr.token)) == 1:
	case pr.prevToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(pr.prevToken)) == 1 && s.now().UnixNano() < pr.prevExpire:
		grace = true
	default:
		return nil, errNoToken
	}
	if pr.bootstrapToken && !s.cfg.Bootstrap {
		return nil, errNoToken
	}
	byRef := make(map[string]store.Record, len(refs))
	for _, r := range refs {
		byRef[store.Ref(r.Kind, r.ID)] = r
	}
	prof, extraDep, err := s.profile(ctx, pr, byRef)
	if err != nil {
		return nil, err
	}
	e := &cachedProfile{
		key: key, token: tok, result: "ok",
		deps: append(append(make([]string, 0, len(rec.Refs)+2), store.Ref(store.KindPhone, rec.ID)), rec.Refs...),
		resp: &inventoryv1.GetProvisioningProfileResponse{
			Profile:       prof,
			Phone:         phoneName(pr.p.GetMac()),
			State:         pr.p.GetState(),
			HttpsRequired: pr.p.GetSettings().GetHttps(),
			Grace:         grace,
		},
	}
	if extraDep != "" {
		e.deps = append(e.deps, extraDep)
	}
	switch {
	case prof.GetBootstrap():
		e.result = "bootstrap"
	case grace:
		e.result = "grace"
	}
	if grace {
		e.expire = pr.prevExpire
	}
	return e, nil
}

// profile composes the vendor-neutral profile of pr. refs holds the records
// pr references; others (the tenant's default interface) are read here,
// and extraDep names the one read (the profile depends on it too).
func (s *Server) profile(ctx context.Context, pr *phoneRec, refs map[string]store.Record) (prof *provisioningv1.ProvisioningProfile, extraDep string, err error) {
	p := pr.p
	prof = &provisioningv1.ProvisioningProfile{
		Mac: p.GetMac(), Vendor: p.GetVendor(), Model: p.GetModel(), Firmware: p.GetFirmware(),
		ProvisioningUrl: s.provisioningURL(pr), Revision: pr.configRev,
	}
	tenant := tenantID(p.GetTenant())
	if pr.bootstrapToken || tenant == "" || p.GetState() == stDiscovered {
		prof.Bootstrap = true
		prof.PollInterval = durationpb.New(bootstrapPoll)
		return prof, extraDep, nil
	}
	prof.PollInterval = durationpb.New(assignedPoll)
	prof.Tenant = tenantName(tenant)
	tr, ok := refs[store.Ref(store.KindTenant, tenant)]
	if !ok {
		return nil, "", status.Errorf(codes.Internal, "phone %s: tenant %q missing", p.GetMac(), tenant)
	}
	t, err := decodeTenant(tr)
	if err != nil {
		return nil, "", status.Error(codes.Internal, err.Error())
	}
	prof.Revision = max(prof.Revision, tr.Rev)
	def := t.GetDefaultSettings()
	ps := p.GetSettings()
	prof.NtpServer = t.GetNtpServer()
	prof.WebPassword = first(ps.GetWebPassword(), def.GetWebPassword())
	prof.Language = first(ps.GetLanguage(), def.GetLanguage())
	prof.TimeZone = first(ps.GetTimeZone(), def.GetTimeZone())
	prof.Codecs = ps.GetCodecs()
	if len(prof.Codecs) == 0 {
		prof.Codecs = def.GetCodecs()
	}
	prof.Codecs = slices.Clone(prof.Codecs)

	for _, l := range p.GetLines() {
		tn, n, _ := parseExtensionName(l.GetExtension())
		er, ok := refs[store.Ref(store.KindExtension, tn+"/"+n)]
		if !ok {
			return nil, "", status.Errorf(codes.Internal, "phone %s: extension %q missing", p.GetMac(), l.GetExtension())
		}
		e, err := decodeExtension(er)
		if err != nil {
			return nil, "", status.Error(codes.Internal, err.Error())
		}
		prof.Revision = max(prof.Revision, er.Rev)
		label := e.GetDisplayName()
		if label == "" {
			label = e.GetNumber()
		}
		prof.Lines = append(prof.Lines, &provisioningv1.Line{
			Index: l.GetIndex(), Extension: e.GetNumber(), DisplayName: e.GetDisplayName(),
			AuthUser: first(e.GetAuthUser(), e.GetNumber()), Password: e.GetSipPassword(), Label: label,
		})
	}

	ifName := first(ps.GetSipInterface(), def.GetSipInterface())
	if ifName != "" {
		it, id, _ := parseInterfaceName(ifName)
		ir, ok := refs[store.Ref(store.KindInterface, it+"/"+id)]
		if !ok {
			r, err := s.st.Get(ctx, store.KindInterface, it+"/"+id)
			extraDep = store.Ref(store.KindInterface, it+"/"+id)
			if err != nil {
				return nil, "", storeErr(err, "SIP interface "+ifName)
			}
			ir = r
		}
		si, err := decodeInterface(ir)
		if err != nil {
			return nil, "", status.Error(codes.Internal, err.Error())
		}
		prof.Revision = max(prof.Revision, ir.Rev)
		prof.SipServer = sipServer(si, ps.GetTransport(), def.GetTransport())
	}
	return prof, extraDep, nil
}

// sipServer resolves the PBX endpoint for the phone's transport: the
// phone's, else the tenant default, else the first the interface offers.
func sipServer(si *inventoryv1.SipInterface, want ...provisioningv1.Transport) *provisioningv1.SipServer {
	tr := provisioningv1.Transport_TRANSPORT_UNSPECIFIED
	for _, w := range want {
		if w != provisioningv1.Transport_TRANSPORT_UNSPECIFIED && transportPort(si, w) != 0 {
			tr = w
			break
		}
	}
	if tr == provisioningv1.Transport_TRANSPORT_UNSPECIFIED {
		for _, w := range []provisioningv1.Transport{provisioningv1.Transport_TRANSPORT_UDP, provisioningv1.Transport_TRANSPORT_TCP, provisioningv1.Transport_TRANSPORT_TLS} {
			if transportPort(si, w) != 0 {
				tr = w
				break
			}
		}
	}
	srv := &provisioningv1.SipServer{Host: si.GetHost(), Port: transportPort(si, tr), Transport: tr}
	if op := si.GetOutboundProxy(); op != "" {
		srv.OutboundProxyHost, srv.OutboundProxyPort, _ = splitHostPort(op)
	}
	exp := si.GetRegistrationExpiry().AsDuration()
	if si.GetRegistrationExpiry() == nil || exp == 0 {
		exp = time.Hour
	}
	srv.RegistrationExpiry = durationpb.New(exp)
	return srv
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
