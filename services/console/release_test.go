package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
)

// waitPhone polls inventory until ok holds for the phone: the events are
// applied by inventory's consumer, after the publish returns.
func (s *stack) waitPhone(mac, what string, ok func(*inventoryv1.Phone) bool) *inventoryv1.Phone {
	s.t.Helper()
	var (
		r   *inventoryv1.GetPhoneResponse
		err error
	)
	if testenv.Poll(10*time.Second, func() bool {
		r, err = s.inv.GetPhone(context.Background(), &inventoryv1.GetPhoneRequest{Name: "phones/" + mac})
		return err == nil && ok(r.GetPhone())
	}) != nil {
		s.t.Fatalf("%s: %v %v", what, err, r.GetPhone())
	}
	return r.GetPhone()
}

// TestFetchHistoryAndApprove: the Phone screen lists the recorded fetches
// newest first with file, source, proof and template version; a second
// device certificate leaves a pending identity that the screen shows with
// an Approve button to an administrator only; the readonly user's POST is
// refused, one without CSRF too; the admin's approval clears it.
func TestFetchHistoryAndApprove(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	b := s.browser()
	b.login("root", "pw-root-123")
	const mac = "001565aabb07"
	b.get("/phones/new")
	if r := b.post("/phones/new", "mac", mac, "model", "yealink/T54W", "extension", "new", "number", "307", "sip_password", "pw-307"); r.code != 303 {
		t.Fatalf("add phone: %d %s", r.code, r.body)
	}
	ph := s.waitPhone(mac, "assigned", func(p *inventoryv1.Phone) bool { return p.GetState() == inventoryv1.PhoneState_PHONE_STATE_ASSIGNED })

	// Two fetches: the common file, then the account file.
	at := time.Now().UTC().Add(-time.Minute)
	for i, f := range []string{"y000000000123.cfg", mac + ".cfg"} {
		ev := &eventsv1.ConfigFetched{Mac: mac, FileName: f, SourceAddress: "198.18.0.10:40000", UserAgent: "Yealink SIP-T54W 96.86.0.100",
			Etag: fmt.Sprintf(`"etag-%d"`, i), Revision: ph.GetRevision(), Proof: inventoryv1.FetchProof_FETCH_PROOF_TOKEN_UA,
			FetchTime: timestamppb.New(at.Add(time.Duration(i) * time.Second))}
		if err := natsjs.Publish(ctx, s.js, streams.Subject(streams.ConfigFetchedPrefix, mac), ev, fmt.Sprintf("fetch-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	s.waitPhone(mac, "two fetches", func(p *inventoryv1.Phone) bool { return len(p.GetRecentFetches()) == 2 })
	page := b.get("/phones/" + mac)
	if page.code != 200 || !strings.Contains(page.body, `id="fetch-history"`) {
		t.Fatalf("phone page: %d", page.code)
	}
	hist := page.body[strings.Index(page.body, `id="fetch-history"`):]
	hist = hist[:strings.Index(hist, "</table>")]
	acct, common := strings.Index(hist, mac+".cfg"), strings.Index(hist, "y000000000123.cfg")
	if acct < 0 || common < 0 || acct > common {
		t.Fatalf("fetch history not newest first:\n%s", hist)
	}
	for _, want := range []string{"198.18.0.10:40000", "token &#43; MAC in User-Agent", fmt.Sprintf("rev %d", ph.GetRevision()), "&#34;etag-1&#34;"} {
		if !strings.Contains(hist, want) {
			t.Errorf("fetch history lacks %q:\n%s", want, hist)
		}
	}
	if strings.Contains(page.body, `id="approve"`) {
		t.Fatal("Approve offered with nothing pending")
	}

	// Under device_cert prefer a first certificate is bound, a second one
	// is refused and pending.
	if _, err := s.inv.UpdatePhone(ctx, &inventoryv1.UpdatePhoneRequest{
		Phone:      &inventoryv1.Phone{Name: "phones/" + mac, Settings: &inventoryv1.ProvisioningSettings{DeviceCert: inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_PREFER}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.device_cert"}}}); err != nil {
		t.Fatal(err)
	}
	url, err := s.inv.GetProvisioningUrl(ctx, &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + mac})
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(url.GetUrl(), "/p/")
	token := strings.TrimSuffix(rest, "/")
	release := func(cert string) bool {
		t.Helper()
		r, err := s.edge.AuthorizeSecretRelease(ctx, &inventoryv1.AuthorizeSecretReleaseRequest{
			Token: token, Proof: inventoryv1.FetchProof_FETCH_PROOF_TOKEN_CERTIFICATE, CertificateSha256: cert,
			CertificateSubject: "CN=" + mac, SourceAddress: "198.18.0.11:40000", FileName: mac + ".cfg"})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetAllowed()
	}
	certA, certB := strings.Repeat("a", 64), strings.Repeat("b", 64)
	if !release(certA) || release(certB) {
		t.Fatal("want the first certificate allowed, the second refused")
	}
	page = b.get("/phones/" + mac)
	if !strings.Contains(page.body, `id="approve"`) || !strings.Contains(page.body, "cert:"+certB) || !strings.Contains(page.body, "198.18.0.11:40000") {
		t.Fatalf("pending identity or Approve button missing:\n%s", page.body)
	}

	ro := s.browser()
	ro.login("viewer", "pw-viewer-123")
	rp := ro.get("/phones/" + mac)
	if rp.code != 200 || !strings.Contains(rp.body, "cert:"+certB) || strings.Contains(rp.body, `id="approve"`) {
		t.Fatalf("readonly page: %d, approve shown or identity missing", rp.code)
	}
	if r := ro.post("/phones/" + mac + "/approve"); r.code != 403 {
		t.Fatalf("readonly approve: %d", r.code)
	}
	if r := b.do("POST", "/phones/"+mac+"/approve", nil); r.code != 403 {
		t.Fatalf("approve without CSRF: %d", r.code)
	}
	if p := s.waitPhone(mac, "still pending", func(*inventoryv1.Phone) bool { return true }); p.GetPendingRelease() == nil {
		t.Fatal("a refused approve cleared the pending identity")
	}

	page = b.get("/phones/" + mac)
	etag := ""
	if i := strings.Index(page.body, `name="etag" value="`); i >= 0 {
		etag = strings.SplitN(page.body[i+len(`name="etag" value="`):], `"`, 2)[0]
	}
	r := b.post("/phones/"+mac+"/approve", "etag", etag)
	if r.code != 303 {
		t.Fatalf("approve: %d %s", r.code, r.body)
	}
	p := s.waitPhone(mac, "approved", func(p *inventoryv1.Phone) bool { return p.GetPendingRelease() == nil })
	if p.GetSecretRelease().GetId() != "cert:"+certB {
		t.Fatalf("released to %v, want the approved certificate", p.GetSecretRelease())
	}
	if !strings.Contains(s.logs.String(), `"action":"approve"`) {
		t.Errorf("approval not logged:\n%s", s.logs)
	}
	if page := b.get("/phones/" + mac); strings.Contains(page.body, `id="approve"`) {
		t.Error("Approve still offered after the approval")
	}
}
