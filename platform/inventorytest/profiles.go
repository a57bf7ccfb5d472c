package inventorytest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
)

// The edge's side of inventory (provision-http): phones with tokens that
// GetProvisioningProfile resolves, AuthorizeSecretRelease under the
// device_cert policy OFF, and the PhoneChanged events inventory publishes
// when a phone changes. It follows services/inventory/internal/server
// (profile.go, release.go, phones.go, aspects.go) for what the edge sees;
// the profile's content is the test's (inventory composes it from the
// tenant, extensions and SIP interface, which this double does not keep).
// Device-certificate policies, approvals and inventory's reaction to
// ConfigFetched are the real service's: those tests run in cmd/e2e.

// Base URLs of the provisioning URLs handed out (inventory's
// -edge-http-base and -edge-https-base).
const (
	EdgeHTTPBase  = "http://prov.test:8080"
	EdgeHTTPSBase = "https://prov.test:8443"
)

// Poll intervals inventory writes into profiles (profile.go).
const (
	BootstrapPoll = 10 * time.Minute
	AssignedPoll  = time.Hour
)

// Phone is a phone the double resolves tokens for.
type Phone struct {
	// Profile is what GetProvisioningProfile returns for the phone's
	// token (a copy). Mac is required (any spelling macaddr.Parse
	// accepts); ProvisioningUrl, Revision and PollInterval are set here.
	// Bootstrap marks a discovered phone without assignment.
	Profile *provisioningv1.ProvisioningProfile
	// HTTPS is the phone's settings.https: its URL is https and the edge
	// must not serve it secrets over plain HTTP.
	HTTPS bool
	// State is the phone's state in answers and events.
	State inventoryv1.PhoneState
}

type phone struct {
	Phone
	mac, token, prevToken string
	prevExpire            time.Time
	rev                   int64
	bound                 string // release identity bound, "" none
	cert                  string // device certificate recorded
}

// SetJetStream makes phone changes publish PhoneChanged on js (nil: none)
// and, as inventory does at start, creates the suite's streams.
func (s *Server) SetJetStream(js jetstream.JetStream) error {
	if js != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := natsjs.EnsureSuiteStreams(ctx, js); err != nil {
			return fmt.Errorf("inventorytest: %w", err)
		}
	}
	s.mu.Lock()
	s.js = js
	s.mu.Unlock()
	return nil
}

// AddPhone adds p with a new token and returns the token.
func (s *Server) AddPhone(p Phone) (string, error) {
	if p.Profile == nil {
		return "", fmt.Errorf("inventorytest: Phone.Profile is required")
	}
	mac := mustMAC(p.Profile.GetMac())
	ph := &phone{Phone: p, mac: mac, token: newToken()}
	ph.Profile = proto.Clone(p.Profile).(*provisioningv1.ProvisioningProfile)
	s.mu.Lock()
	if s.phones == nil {
		s.phones = map[string]*phone{}
	}
	s.rev++
	ph.rev = s.rev
	s.phones[mac] = ph
	ev := s.changedLocked(ph, inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_CREATED, true, inventoryv1.PhoneAspect_PHONE_ASPECT_EXISTENCE)
	js := s.js
	s.mu.Unlock()
	return ph.token, s.publish(js, ev)
}

// ChangePhone changes mac's profile with edit (a settings change: its files
// change) and returns the new revision; PhoneChanged is published.
func (s *Server) ChangePhone(mac string, edit func(*provisioningv1.ProvisioningProfile)) (int64, error) {
	m := mustMAC(mac)
	s.mu.Lock()
	ph := s.phones[m]
	if ph == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("inventorytest: no phone %s", m)
	}
	p := proto.Clone(ph.Profile).(*provisioningv1.ProvisioningProfile)
	edit(p)
	ph.Profile = p
	s.rev++
	ph.rev = s.rev
	ev := s.changedLocked(ph, inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UPDATED, true, inventoryv1.PhoneAspect_PHONE_ASPECT_SETTINGS)
	rev, js := ph.rev, s.js
	s.mu.Unlock()
	return rev, s.publish(js, ev)
}

// RotateToken gives mac a new token; the previous one keeps resolving
// (answered with grace) for grace, as RotateProvisioningToken does.
func (s *Server) RotateToken(mac string, grace time.Duration) (string, error) {
	m := mustMAC(mac)
	s.mu.Lock()
	ph := s.phones[m]
	if ph == nil {
		s.mu.Unlock()
		return "", fmt.Errorf("inventorytest: no phone %s", m)
	}
	ph.prevToken, ph.prevExpire = "", time.Time{}
	if grace > 0 {
		ph.prevToken, ph.prevExpire = ph.token, time.Now().Add(grace)
	}
	ph.token = newToken()
	s.rev++
	ph.rev = s.rev
	ev := s.changedLocked(ph, inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_TOKEN_ROTATED, true, inventoryv1.PhoneAspect_PHONE_ASPECT_URL)
	if grace > 0 {
		ev.PreviousTokenExpireTime = timestamppb.New(ph.prevExpire)
	}
	tok, js := ph.token, s.js
	s.mu.Unlock()
	return tok, s.publish(js, ev)
}

// ReleaseIdentity returns the release identity bound to mac ("" none).
func (s *Server) ReleaseIdentity(mac string) string {
	m := mustMAC(mac)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ph := s.phones[m]; ph != nil {
		return ph.bound
	}
	return ""
}

// ProfileCalls returns how many GetProvisioningProfile calls were made.
func (s *Server) ProfileCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.profileCalls
}

// GetProvisioningProfile resolves a token as inventory does: unknown,
// malformed and expired tokens are one NotFound; the previous token of a
// rotation answers with grace until it expires.
func (s *Server) GetProvisioningProfile(ctx context.Context, req *inventoryv1.GetProvisioningProfileRequest) (*inventoryv1.GetProvisioningProfileResponse, error) {
	if err := s.checkToken(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.profileCalls++
	delay, fail := s.delay, s.fail
	ph, grace := s.byTokenLocked(req.GetToken())
	var resp *inventoryv1.GetProvisioningProfileResponse
	if ph != nil {
		prof := proto.Clone(ph.Profile).(*provisioningv1.ProvisioningProfile)
		prof.Mac, prof.ProvisioningUrl, prof.Revision = ph.mac, ph.url(), ph.rev
		prof.PollInterval = durationpb.New(AssignedPoll)
		if prof.GetBootstrap() {
			prof.PollInterval = durationpb.New(BootstrapPoll)
		}
		resp = &inventoryv1.GetProvisioningProfileResponse{
			Profile: prof, Phone: "phones/" + ph.mac, State: ph.State, HttpsRequired: ph.HTTPS, Grace: grace,
		}
	}
	s.mu.Unlock()
	if err := injected(ctx, delay, fail); err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, errNoToken
	}
	return resp, nil
}

// AuthorizeSecretRelease applies inventory's release rule under the
// device_cert policy OFF: the release identity is the token (a certificate
// is recorded, not bound), the first fetch binds it and publishes
// PhoneChanged (SECRET_RELEASE_BOUND, aspect RELEASE, files unchanged).
func (s *Server) AuthorizeSecretRelease(ctx context.Context, req *inventoryv1.AuthorizeSecretReleaseRequest) (*inventoryv1.AuthorizeSecretReleaseResponse, error) {
	if err := s.checkToken(ctx); err != nil {
		return nil, err
	}
	cert := strings.ToLower(req.GetCertificateSha256())
	if b, err := hex.DecodeString(cert); cert != "" && (err != nil || len(b) != 32) {
		return nil, status.Error(codes.InvalidArgument, "certificate_sha256: want 64 hex digits")
	}
	if _, ok := inventoryv1.FetchProof_name[int32(req.GetProof())]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "proof: unknown proof %d", req.GetProof())
	}
	const id = "token"
	s.mu.Lock()
	delay, fail := s.delay, s.fail
	ph, _ := s.byTokenLocked(req.GetToken())
	var ev *eventsv1.PhoneChanged
	if ph != nil && (ph.bound == "" || cert != "" && cert != ph.cert) {
		ph.bound = id
		if cert != "" {
			ph.cert = cert
		}
		s.rev++
		ph.rev = s.rev
		ev = s.changedLocked(ph, inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_BOUND, false, inventoryv1.PhoneAspect_PHONE_ASPECT_RELEASE)
	}
	js := s.js
	s.mu.Unlock()
	if err := injected(ctx, delay, fail); err != nil {
		return nil, err
	}
	if ph == nil {
		return nil, errNoToken
	}
	// Recording the binding is best effort, as in inventory (the next
	// fetch records it again); the release stands.
	_ = s.publish(js, ev)
	return &inventoryv1.AuthorizeSecretReleaseResponse{Allowed: true, Identity: id}, nil
}

var errNoToken = status.Error(codes.NotFound, "unknown provisioning token")

func (s *Server) checkToken(ctx context.Context) error {
	if s.token == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+s.token {
		return status.Error(codes.Unauthenticated, "missing or wrong bearer token")
	}
	return nil
}

func injected(ctx context.Context, delay time.Duration, fail codes.Code) error {
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	if fail != codes.OK {
		return status.Error(fail, "inventorytest: injected failure")
	}
	return nil
}

// byTokenLocked finds the phone holding tok, current or inside its grace.
func (s *Server) byTokenLocked(tok string) (*phone, bool) {
	if len(tok) != 43 {
		return nil, false
	}
	for _, ph := range s.phones {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(ph.token)) == 1 {
			return ph, false
		}
		if ph.prevToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(ph.prevToken)) == 1 && time.Now().Before(ph.prevExpire) {
			return ph, true
		}
	}
	return nil, false
}

func (ph *phone) url() string {
	base := EdgeHTTPBase
	if ph.HTTPS {
		base = EdgeHTTPSBase
	}
	return base + "/p/" + ph.token + "/"
}

// changedLocked is the PhoneChanged inventory publishes for a change of
// aspect at ph's current revision.
func (s *Server) changedLocked(ph *phone, typ inventoryv1.PhoneChangeType, files bool, aspect inventoryv1.PhoneAspect) *eventsv1.PhoneChanged {
	p := &inventoryv1.Phone{
		Name: "phones/" + ph.mac, Mac: ph.mac, Vendor: ph.Profile.GetVendor(), Model: ph.Profile.GetModel(),
		Tenant: ph.Profile.GetTenant(), State: ph.State, Revision: ph.rev, DeviceCertificateSha256: ph.cert,
	}
	return &eventsv1.PhoneChanged{
		ChangeType: typ, Phone: p, Revision: ph.rev, PreviousState: ph.State, ChangeTime: timestamppb.Now(),
		Aspects: []inventoryv1.PhoneAspect{aspect}, FilesChanged: files,
	}
}

// publish sends ev as inventory does (subject and message id).
func (s *Server) publish(js jetstream.JetStream, ev *eventsv1.PhoneChanged) error {
	if js == nil || ev == nil {
		return nil
	}
	data, err := proto.Marshal(ev)
	if err != nil {
		return err
	}
	mac := ev.GetPhone().GetMac()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, streams.Subject(streams.PhoneChangedPrefix, mac), data,
		jetstream.WithMsgID(fmt.Sprintf("phone-%s-%d", mac, ev.GetRevision()))); err != nil {
		return fmt.Errorf("inventorytest: publish PhoneChanged: %w", err)
	}
	return nil
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
