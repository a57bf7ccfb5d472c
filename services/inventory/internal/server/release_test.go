package server

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// TestSecretReleaseRule walks the rule of docs/SECURITY.md ("Secret
// release"): each row is one attack or one legitimate change.
func TestSecretReleaseRule(t *testing.T) {
	const mac = "0015650a0b0c"
	const (
		off     = inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_OFF
		prefer  = inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_PREFER
		require = inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_REQUIRE
	)
	certA, certB := identCert+"aa", identCert+"bb"
	linkOwn := identLink + mac
	linkLAN := identUnverifiedLink + "02aabbccddee" // another host, link check off
	phone := func(bound, certSeen string) *inventoryv1.Phone {
		p := &inventoryv1.Phone{Mac: mac, DeviceCertificateSha256: certSeen}
		if bound != "" {
			p.SecretRelease = &inventoryv1.ReleaseIdentity{Id: bound}
		}
		return p
	}
	// timed sets when the listener saw the link sender and when the
	// binding was made.
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	timed := func(p *inventoryv1.Phone, proof, bound time.Time) *inventoryv1.Phone {
		p.LastLinkProof = &inventoryv1.LinkProof{LinkAddress: "02aabbccddee", Time: timestamppb.New(proof)}
		p.SecretRelease.Time = timestamppb.New(bound)
		return p
	}
	for _, tc := range []struct {
		name   string
		p      *inventoryv1.Phone
		pol    inventoryv1.DeviceCertPolicy
		id     string
		allow  bool
		bind   bool
		reason string
	}{
		{"first fetch binds the token", phone("", ""), off, identToken, true, true, ""},
		{"first fetch binds the listener's proof", phone("", ""), off, linkOwn, true, true, ""},
		{"same identity again (resync, reboot)", phone(linkOwn, ""), off, linkOwn, true, false, ""},
		{"phone added by MAC, later proven on the LAN", phone(identToken, ""), off, linkOwn, true, true, ""},
		{"phone starts presenting its certificate", phone(linkOwn, ""), prefer, certA, true, true, ""},
		{"another LAN host announced the MAC (link check off)", phone(linkOwn, ""), off, linkLAN, false, false, reasonSecondID},
		{"unverified link never upgrades the token", phone(identToken, ""), off, linkLAN, false, false, reasonSecondID},
		{"unverified link announced after the token was bound", timed(phone(identToken, ""), t0.Add(time.Minute), t0), off, linkLAN, false, false, reasonSecondID},
		{"this boot's unverified link, recorded after the token was bound", timed(phone(identToken, ""), t0, t0.Add(time.Second)), off, linkLAN, true, true, ""},
		{"late proof does not replace a link binding", timed(phone(linkOwn, ""), t0, t0.Add(time.Second)), off, linkLAN, false, false, reasonSecondID},
		{"a second certificate for the MAC", phone(certA, certA[len(identCert):]), prefer, certB, false, false, reasonSecondID},
		{"off: token alone after a certificate was bound", phone(certA, "aa"), off, identToken, false, false, reasonSecondID},
		{"require: no certificate", phone("", ""), require, linkOwn, false, false, reasonCertRequired},
		{"require: the certificate", phone("", ""), require, certA, true, true, ""},
		{"prefer: no certificate yet", phone("", ""), prefer, identToken, true, true, ""},
		{"prefer: certificate seen, now none", phone(identToken, "aa"), prefer, identToken, false, false, reasonCertSeen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert := ""
			if strings.HasPrefix(tc.id, identCert) {
				cert = strings.TrimPrefix(tc.id, identCert)
			}
			d := decide(tc.p, tc.pol, tc.id, cert)
			if d.allowed != tc.allow || d.bind != tc.bind || d.reason != tc.reason {
				t.Fatalf("got allowed=%v bind=%v reason=%q; want %v %v %q", d.allowed, d.bind, d.reason, tc.allow, tc.bind, tc.reason)
			}
			if d.refuse == d.allowed {
				t.Fatalf("refuse %v with allowed %v", d.refuse, d.allowed)
			}
		})
	}
}

// TestReleaseIdentity: the certificate wins; else the listener's proof,
// verified or not; else the token.
func TestReleaseIdentity(t *testing.T) {
	p := &inventoryv1.Phone{Mac: "0015650a0b0c"}
	if got := releaseIdentity(p, "", tokenProof); got != identToken {
		t.Errorf("no proof: %q", got)
	}
	p.LastLinkProof = &inventoryv1.LinkProof{LinkAddress: "0015650a0b0c", Verified: true}
	if got := releaseIdentity(p, "", tokenProof); got != "link:0015650a0b0c" {
		t.Errorf("verified link: %q", got)
	}
	p.LastLinkProof = &inventoryv1.LinkProof{LinkAddress: "02aabbccddee"}
	if got := releaseIdentity(p, "", tokenProof); got != "unverified-link:02aabbccddee" {
		t.Errorf("unverified link: %q", got)
	}
	if got := releaseIdentity(p, "ab", tokenProof); got != "cert:ab" {
		t.Errorf("certificate: %q", got)
	}
	// A fetch the listener relayed after proving the requester's MAC (TFTP
	// front) is the phone's link, whatever the last SUBSCRIBE showed; a
	// certificate still wins.
	if got := releaseIdentity(p, "", inventoryv1.FetchProof_FETCH_PROOF_LINK); got != "link:0015650a0b0c" {
		t.Errorf("relayed link proof: %q", got)
	}
	if got := releaseIdentity(p, "ab", inventoryv1.FetchProof_FETCH_PROOF_LINK); got != "cert:ab" {
		t.Errorf("certificate and link proof: %q", got)
	}
}

const tokenProof = inventoryv1.FetchProof_FETCH_PROOF_TOKEN

// TestAdoptLateProof: the late-proof exception applied when the late
// discovery arrives: only a token binding, only a proof observed no later
// than the binding, and the binding then names the proof (what the phone's
// next boot, with a new proof, is compared against).
func TestAdoptLateProof(t *testing.T) {
	const mac = "805ec0001196"
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	p := func(bound string, proof, binding time.Time) *inventoryv1.Phone {
		return &inventoryv1.Phone{Mac: mac,
			LastLinkProof:  &inventoryv1.LinkProof{LinkAddress: "02aabbccddee", Time: timestamppb.New(proof)},
			SecretRelease:  &inventoryv1.ReleaseIdentity{Id: bound, SourceAddress: "198.18.77.2:41001", Time: timestamppb.New(binding)},
			PendingRelease: &inventoryv1.ReleaseIdentity{Id: identUnverifiedLink + "02aabbccddee"}}
	}
	late := p(identToken, t0, t0.Add(time.Second))
	if !adoptLateProof(late) || late.GetSecretRelease().GetId() != identUnverifiedLink+"02aabbccddee" ||
		late.GetSecretRelease().GetSourceAddress() != "198.18.77.2:41001" || late.GetPendingRelease() != nil {
		t.Fatalf("late proof not adopted: %v", late)
	}
	if d := decide(late, inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_OFF, identUnverifiedLink+"02aabbccddee", ""); !d.allowed {
		t.Fatalf("the next boot's proof after adoption: %+v", d)
	}
	for name, q := range map[string]*inventoryv1.Phone{
		"proof after the binding": p(identToken, t0.Add(time.Second), t0),
		"link binding":            p(identLink+mac, t0, t0.Add(time.Second)),
		"certificate binding":     p(identCert+"aa", t0, t0.Add(time.Second)),
	} {
		before := q.GetSecretRelease().GetId()
		if adoptLateProof(q) || q.GetSecretRelease().GetId() != before {
			t.Errorf("%s: binding changed to %q", name, q.GetSecretRelease().GetId())
		}
	}
}
