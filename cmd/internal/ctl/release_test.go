package ctl

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
)

// TestSecretReleaseApproval: a file with secrets refused to a second
// certificate shows in 'watch' as SecretReleaseRefused and in 'phones show'
// as pending; 'phones approve' accepts it.
func TestSecretReleaseApproval(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	s.run(t, "interfaces", "add", "pbx", "--host", "pbx.example.com", "--udp-port", "5060").ok(t)
	s.run(t, "extensions", "add", "301", "--name", "Bob", "--password", "Sip-pw-301").ok(t)
	const mac = "001565aabb01"
	s.run(t, "phones", "add", "--mac", mac, "--model", "T54W", "--extension", "301", "--device-cert", "prefer").ok(t)
	url, err := s.admin.GetProvisioningUrl(ctx, &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + mac})
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(url.GetUrl(), "/p/")
	token := strings.TrimSuffix(rest, "/")

	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken(edgeToken, false)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	edge := inventoryv1.NewInventoryServiceClient(conn)
	release := func(cert string) *inventoryv1.AuthorizeSecretReleaseResponse {
		t.Helper()
		resp, err := edge.AuthorizeSecretRelease(ctx, &inventoryv1.AuthorizeSecretReleaseRequest{
			Token: token, Proof: inventoryv1.FetchProof_FETCH_PROOF_TOKEN_CERTIFICATE, CertificateSha256: cert,
			CertificateSubject: "CN=" + mac, SourceAddress: "198.18.0.10:40000", FileName: mac + ".cfg",
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	certA, certB := strings.Repeat("a", 64), strings.Repeat("b", 64)
	if r := release(certA); !r.GetAllowed() {
		t.Fatalf("first certificate refused: %v", r)
	}
	if r := release(certB); r.GetAllowed() {
		t.Fatal("second certificate allowed")
	}
	st, err := s.js.Stream(ctx, streams.Phones)
	if err != nil {
		t.Fatal(err)
	}
	// The outbox relay publishes after the commit: wait for the event, which
	// comes after its PhoneChanged in the same batch.
	testenv.WaitFor(t, 10*time.Second, "SecretReleaseRefused to be published", func() bool {
		_, err := st.GetLastMsgForSubject(ctx, streams.Subject(streams.SecretReleaseRefusedPrefix, mac))
		return err == nil
	})
	last, err := st.GetLastMsgForSubject(ctx, streams.Subject(streams.PhoneChangedPrefix, mac))
	if err != nil {
		t.Fatal(err)
	}
	r := s.run(t, "watch", "--since", strconv.FormatUint(last.Sequence-1, 10), "--count", "1").ok(t)
	if !strings.Contains(r.out, "secret_release_refused") || !strings.Contains(r.out, "SecretReleaseRefused: cert sha256:bbbbbbbbbbbbbbbb") ||
		!strings.Contains(r.out, "198.18.0.10:40000") || !strings.Contains(r.out, "phones approve 00:15:65:aa:bb:01") {
		t.Errorf("watch:\n%s", r.out)
	}
	r = s.run(t, "phones", "show", mac).ok(t)
	for _, want := range []string{"Device cert:", "prefer", "Secrets released to:", "sha256:aaaaaaaaaaaaaaaa", "Refused (pending):", "sha256:bbbbbbbbbbbbbbbb"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("phones show lacks %q:\n%s", want, r.out)
		}
	}
	s.run(t, "phones", "approve", mac).ok(t)
	if r := release(certB); !r.GetAllowed() {
		t.Fatalf("approved certificate refused: %v", r)
	}
	// Under prefer, the token alone is refused once a certificate was seen.
	resp, err := edge.AuthorizeSecretRelease(ctx, &inventoryv1.AuthorizeSecretReleaseRequest{Token: token, Proof: inventoryv1.FetchProof_FETCH_PROOF_TOKEN_UA})
	if err != nil || resp.GetAllowed() || resp.GetReason() != "phone presented a device certificate before" {
		t.Fatalf("token alone under prefer: %v %v", resp, err)
	}
	r = s.run(t, "phones", "show", mac).ok(t)
	if strings.Contains(r.out, "Sip-pw-301") {
		t.Error("phones show prints the SIP password")
	}
}
