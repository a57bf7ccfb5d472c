package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// The secret-release rule (docs/SECURITY.md, "Secret release") lives here,
// in the one writer of phone state, so that every edge replica, wherever it
// runs, applies the same binding: the edge only reports what it verified
// (the token, a device certificate) and inventory adds what the pnp-listener
// proved at the link layer.

// Release identity prefixes (ReleaseIdentity.id).
const (
	identCert           = "cert:"
	identLink           = "link:"
	identUnverifiedLink = "unverified-link:"
	identToken          = "token"
)

// Refusal reasons (AuthorizeSecretReleaseResponse.reason, SecretReleaseRefused.reason).
const (
	reasonCertRequired = "device certificate required"
	reasonCertSeen     = "phone presented a device certificate before"
	reasonSecondID     = "second identity; awaiting approval"
)

// refusedEvery bounds how often one refused identity is written and
// published: a phone retrying every few seconds, or an attacker looping,
// makes one change and one event per identity and interval.
const refusedEvery = time.Minute

// releaseIdentity names the fetch: its verified certificate if any; else
// the phone's MAC when the fetch itself was relayed by a pnp-listener that
// proved the requester's link-layer address (FETCH_PROOF_LINK: the edge
// reports it only for a relay that authenticated as a listener, after
// checking that the proved MAC is the token's phone); else the link-layer
// address the pnp-listener last saw sending the phone's SUBSCRIBE (an edge
// behind NAT or a load balancer cannot see L2, so the listener's record
// stands in for it); else the token alone.
func releaseIdentity(p *inventoryv1.Phone, certSHA string, proof inventoryv1.FetchProof) string {
	if certSHA != "" {
		return identCert + certSHA
	}
	if proof == inventoryv1.FetchProof_FETCH_PROOF_LINK {
		return identLink + p.GetMac()
	}
	if lp := p.GetLastLinkProof(); lp.GetLinkAddress() != "" {
		if lp.GetVerified() {
			return identLink + lp.GetLinkAddress()
		}
		return identUnverifiedLink + lp.GetLinkAddress()
	}
	return identToken
}

// strength orders identities: a stronger proof of the same phone may
// replace a weaker binding without approval (a phone added by MAC that
// later boots on the LAN, or starts presenting its factory certificate).
// Only a verified link address equal to the phone's MAC counts as a link proof.
func strength(id, mac string) int {
	switch {
	case strings.HasPrefix(id, identCert):
		return 3
	case id == identLink+mac:
		return 2
	case id == identToken:
		return 1
	}
	return 0 // unverified or foreign link addresses never upgrade anything
}

// effectivePolicy is the phone's device_cert policy, else the tenant's,
// else OFF.
func (s *Server) effectivePolicy(ctx context.Context, p *inventoryv1.Phone) (inventoryv1.DeviceCertPolicy, error) {
	if v := p.GetSettings().GetDeviceCert(); v != inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_UNSPECIFIED {
		return v, nil
	}
	if t := tenantID(p.GetTenant()); t != "" {
		r, err := s.st.Get(ctx, store.KindTenant, t)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, storeErr(err, "tenant")
		}
		if err == nil {
			tn, err := decodeTenant(r)
			if err != nil {
				return 0, status.Error(codes.Internal, err.Error())
			}
			if v := tn.GetDefaultSettings().GetDeviceCert(); v != inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_UNSPECIFIED {
				return v, nil
			}
		}
	}
	return inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_OFF, nil
}

// phoneByToken resolves tok to its phone (current token, or the previous
// one inside its grace period); errNoToken otherwise.
func (s *Server) phoneByToken(ctx context.Context, tok string) (*phoneRec, error) {
	if !wellFormedToken(tok) {
		return nil, errNoToken
	}
	rec, _, err := s.st.Resolve(ctx, store.KindPhone, tokenKey(tok))
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
	switch {
	case subtle.ConstantTimeCompare([]byte(tok), []byte(pr.token)) == 1:
	case pr.prevToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(pr.prevToken)) == 1 && s.now().UnixNano() < pr.prevExpire:
	default:
		return nil, errNoToken
	}
	return pr, nil
}

// decision is the outcome of the rule for one fetch.
type decision struct {
	allowed bool
	reason  string
	// what to record: the binding (first or stronger proof) or the refusal.
	bind, refuse bool
	// forget the recorded certificate (an approved downgrade).
	cert string
}

// decide applies the rule to phone p, whose policy is pol, for a fetch of
// identity id that presented verified certificate cert ("" if none). It is
// pure, so the unit tests can walk the table.
func decide(p *inventoryv1.Phone, pol inventoryv1.DeviceCertPolicy, id, cert string) decision {
	hasCert := cert != ""
	switch {
	case pol == inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_REQUIRE && !hasCert:
		return decision{reason: reasonCertRequired, refuse: true}
	case pol == inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_PREFER && !hasCert && p.GetDeviceCertificateSha256() != "":
		return decision{reason: reasonCertSeen, refuse: true}
	}
	d := decision{cert: cert}
	bound := p.GetSecretRelease().GetId()
	switch {
	case bound == "":
		d.allowed, d.bind = true, true
	case bound == id:
		d.allowed = true
	case strength(id, p.GetMac()) > strength(bound, p.GetMac()) && !strings.HasPrefix(bound, identCert):
		// A stronger proof of the same phone replaces a weaker binding;
		// one certificate never silently replaces another.
		d.allowed, d.bind = true, true
	case bound == identToken && strings.HasPrefix(id, identUnverifiedLink) && lateProof(p):
		// The listener saw this boot's SUBSCRIBE before the fetch that
		// bound the token, but its PhoneDiscovered reached inventory after
		// that fetch (events lag under load): the binding would have been
		// this identity, so it becomes it. A link address announced after
		// the binding is still refused below.
		d.allowed, d.bind = true, true
	default:
		return decision{reason: reasonSecondID, refuse: true}
	}
	return d
}

// lateProof reports whether p's last link proof was observed no later than
// its release binding was made.
func lateProof(p *inventoryv1.Phone) bool {
	lp, b := p.GetLastLinkProof().GetTime(), p.GetSecretRelease().GetTime()
	return lp.IsValid() && b.IsValid() && !lp.AsTime().After(b.AsTime())
}

// adoptLateProof applies the late-proof exception of decide when the late
// PhoneDiscovered is applied, not at the phone's next fetch: a phone bound
// to its token alone whose link proof was observed no later than the
// binding is bound to that proof now (the identity its first fetch would
// have bound had the events come in order). Waiting for a fetch is not
// enough: when the boot fetched nothing more (its account file was its last
// file), its next boot's SUBSCRIBE replaces the proof with one observed
// after the binding, and the phone was refused its own account (cmd/e2e
// TestChaosClusterStorm: a phone stayed FETCHING after its repair boot). It
// reports whether the binding changed; the record keeps how the binding
// fetch proved itself, with the identity it now names.
func adoptLateProof(p *inventoryv1.Phone) bool {
	if p.GetSecretRelease().GetId() != identToken || !lateProof(p) {
		return false
	}
	id := releaseIdentity(p, "", inventoryv1.FetchProof_FETCH_PROOF_UNSPECIFIED)
	if id == identToken {
		return false
	}
	sr := proto.Clone(p.GetSecretRelease()).(*inventoryv1.ReleaseIdentity)
	sr.Id = id
	p.SecretRelease = sr
	if p.GetPendingRelease().GetId() == id {
		p.PendingRelease = nil
	}
	return true
}

// AuthorizeSecretRelease implements inventoryv1.InventoryServiceServer.
func (s *Server) AuthorizeSecretRelease(ctx context.Context, req *inventoryv1.AuthorizeSecretReleaseRequest) (*inventoryv1.AuthorizeSecretReleaseResponse, error) {
	if _, err := authorize(ctx, rolesProfile...); err != nil {
		return nil, err
	}
	cert := strings.ToLower(req.GetCertificateSha256())
	if cert != "" && !isSHA256Hex(cert) {
		return nil, invalid("certificate_sha256", "want 64 hex digits")
	}
	if _, ok := inventoryv1.FetchProof_name[int32(req.GetProof())]; !ok {
		return nil, invalid("proof", "unknown proof %d", req.GetProof())
	}
	pr, err := s.phoneByToken(ctx, req.GetToken())
	if err != nil {
		return nil, err
	}
	mac := pr.p.GetMac()
	pol, err := s.effectivePolicy(ctx, pr.p)
	if err != nil {
		return nil, err
	}
	now := s.now()
	// Under OFF a certificate is recorded but is not the release identity:
	// the phone must stay free to fetch without it.
	idCert := cert
	if pol == inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_OFF {
		idCert = ""
	}
	id := releaseIdentity(pr.p, idCert, req.GetProof())
	ri := &inventoryv1.ReleaseIdentity{
		Id: id, Proof: req.GetProof(), SourceAddress: clean(req.GetSourceAddress()),
		UserAgent: clean(req.GetUserAgent()), FileName: clean(req.GetFileName()), Time: timestamppb.New(now),
	}
	if cert != "" {
		ri.CertificateSubject = clean(req.GetCertificateSubject())
	}
	d := decide(pr.p, pol, id, cert)
	resp := &inventoryv1.AuthorizeSecretReleaseResponse{Allowed: d.allowed, Reason: d.reason, Identity: id}
	if d.allowed {
		s.m.releases.WithLabelValues("allowed").Inc()
		if !d.bind && (d.cert == "" || d.cert == pr.p.GetDeviceCertificateSha256()) {
			return resp, nil // the common case: nothing to write
		}
	} else {
		s.m.releases.WithLabelValues("refused").Inc()
	}

	_, _, err = s.mutatePhone(ctx, mac, func(pr *phoneRec) (change, error) {
		p := pr.p
		// Decide again on what is stored now: a concurrent approval or
		// binding may have happened since the read above.
		d2 := decide(p, pol, id, cert)
		if d2.allowed != d.allowed || releaseIdentity(p, idCert, req.GetProof()) != id {
			// The next fetch sees the new state. A discovery applied since
			// the read changed the fetch's identity: binding the identity
			// read ("token") at a time after that proof was observed would
			// make the phone's next boot a second identity.
			return change{}, nil
		}
		prev := p.GetState()
		if d2.allowed {
			changed := false
			if d2.cert != "" && d2.cert != p.GetDeviceCertificateSha256() {
				p.DeviceCertificateSha256, changed = d2.cert, true
			}
			if d2.bind {
				p.SecretRelease, changed = ri, true
				if p.GetPendingRelease().GetId() == id {
					p.PendingRelease = nil
				}
			}
			if !changed {
				return change{}, nil
			}
			return change{typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_BOUND, prevState: prev,
				log: func(rev int64) {
					s.log.Info("secret release bound", "mac", mac, "identity", id, "proof", ri.GetProof().String(), "source", ri.GetSourceAddress(), "revision", rev)
				}}, nil
		}
		if pp := p.GetPendingRelease(); pp.GetId() == id && pp.GetReason() == d2.reason && now.Sub(pp.GetTime().AsTime()) < refusedEvery {
			return change{}, nil // recorded and published lately
		}
		ri.Reason = d2.reason
		p.PendingRelease = ri
		ev := &eventsv1.SecretReleaseRefused{
			Mac: mac, Identity: id, BoundIdentity: p.GetSecretRelease().GetId(), Proof: ri.GetProof(),
			Reason: d2.reason, SourceAddress: ri.GetSourceAddress(), UserAgent: ri.GetUserAgent(),
			FileName: ri.GetFileName(), Time: ri.GetTime(), Tenant: p.GetTenant(),
		}
		data, err := proto.Marshal(ev)
		if err != nil {
			return change{}, err
		}
		idSum := sha256.Sum256([]byte(id + "|" + d2.reason))
		return change{typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_REFUSED, prevState: prev,
			outbox: []store.Message{{
				Subject: streams.Subject(streams.SecretReleaseRefusedPrefix, mac),
				MsgID:   fmt.Sprintf("refused-%s-%s-%d", mac, hex.EncodeToString(idSum[:8]), now.Unix()/60),
				Data:    data,
			}},
			log: func(rev int64) {
				s.log.Warn("secret release refused", "mac", mac, "identity", id, "bound", ev.GetBoundIdentity(),
					"reason", d2.reason, "source", ri.GetSourceAddress(), "revision", rev)
			}}, nil
	})
	if err != nil && d.allowed {
		// The release stands on the state read; recording it is best effort
		// (the next fetch records it again).
		s.log.Warn("cannot record secret release", "mac", mac, "err", err)
		return resp, nil
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// ApprovePhone implements inventoryv1.InventoryServiceServer.
func (s *Server) ApprovePhone(ctx context.Context, req *inventoryv1.ApprovePhoneRequest) (*inventoryv1.ApprovePhoneResponse, error) {
	c, mac, err := authorizePhone(ctx, req.GetName(), rolesWrite...)
	if err != nil {
		return nil, err
	}
	if _, err := s.visiblePhone(ctx, c, mac); err != nil {
		return nil, err
	}
	pr, _, err := s.mutatePhone(ctx, mac, func(pr *phoneRec) (change, error) {
		if err := checkEtag(req.GetEtag(), pr.rev, "phone"); err != nil {
			return change{}, err
		}
		p := pr.p
		from, to := p.GetSecretRelease().GetId(), p.GetPendingRelease().GetId()
		if pp := p.GetPendingRelease(); pp != nil {
			if pp.GetReason() == reasonCertRequired {
				return change{}, status.Errorf(codes.FailedPrecondition,
					"phone %s: the pending fetch had no device certificate and the policy requires one; change settings.device_cert instead", mac)
			}
			approved := proto.Clone(pp).(*inventoryv1.ReleaseIdentity)
			approved.Reason = ""
			p.SecretRelease = approved
			if !strings.HasPrefix(to, identCert) {
				// An approved downgrade: the phone no longer has to present
				// the certificate it showed before (PREFER).
				p.DeviceCertificateSha256 = ""
			}
		} else {
			p.SecretRelease = nil // the next proved fetch binds anew
		}
		p.PendingRelease = nil
		return change{typ: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_APPROVED, prevState: p.GetState(),
			log: func(rev int64) {
				s.log.Info("secret release approved", "mac", mac, "from", from, "to", to, "principal", c.Name, "revision", rev)
			}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &inventoryv1.ApprovePhoneResponse{Phone: s.outPhone(c, pr)}, nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// linkProver is what PhoneDiscovered carries once the pnp-listener proves
// the sender's link-layer address (issue 14, part 1). Asserting the
// interface keeps this package building before those fields exist.
type linkProver interface {
	GetLinkMac() string
	GetLinkVerified() bool
}

// discoveryLink reads the link-layer sender and whether the listener
// checked it from a discovery. A variable so that tests can stand in for the
// PhoneDiscovered fields before they exist (SetDiscoveryLink, export_test.go).
var discoveryLink = func(ev *eventsv1.PhoneDiscovered) (linkMAC string, verified bool) {
	if lp, ok := any(ev).(linkProver); ok {
		return lp.GetLinkMac(), lp.GetLinkVerified()
	}
	return "", false
}

// linkProofOf returns what the listener proved about a discovery's sender,
// or nil when the event carries nothing (an older listener).
func linkProofOf(ev *eventsv1.PhoneDiscovered, mac string, seen time.Time) *inventoryv1.LinkProof {
	link, verified := discoveryLink(ev)
	addr, err := macaddr.Parse(link)
	if err != nil {
		return nil
	}
	return &inventoryv1.LinkProof{
		LinkAddress: addr, Verified: verified && addr == mac,
		SourceAddress: clean(ev.GetSourceAddress()), Listener: clean(ev.GetListener()), Time: timestamppb.New(seen),
	}
}
