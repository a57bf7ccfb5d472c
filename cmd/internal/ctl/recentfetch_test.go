package ctl

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
)

// TestPhonesShowRecentFetches: 'phones show' ends with the newest few of
// the phone's recorded fetches, newest first, with proof, revision and ETag.
func TestPhonesShowRecentFetches(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	s.run(t, "interfaces", "add", "pbx", "--host", "pbx.example.com", "--udp-port", "5060").ok(t)
	s.run(t, "extensions", "add", "302", "--name", "Eve", "--password", "Sip-pw-302").ok(t)
	const mac = "001565aabb02"
	s.run(t, "phones", "add", "--mac", mac, "--model", "T54W", "--extension", "302").ok(t)
	ph, err := s.admin.GetPhone(ctx, &inventoryv1.GetPhoneRequest{Name: "phones/" + mac})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-time.Minute)
	for i := range 7 {
		ev := &eventsv1.ConfigFetched{Mac: mac, FileName: fmt.Sprintf("file-%d.cfg", i), SourceAddress: "198.18.0.12:40000",
			Etag: fmt.Sprintf(`"etag-%d"`, i), Revision: ph.GetPhone().GetRevision(), Proof: inventoryv1.FetchProof_FETCH_PROOF_TOKEN,
			FetchTime: timestamppb.New(at.Add(time.Duration(i) * time.Second))}
		if err := natsjs.Publish(ctx, s.js, streams.Subject(streams.ConfigFetchedPrefix, mac), ev, fmt.Sprintf("fetch-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var (
		p      *inventoryv1.GetPhoneResponse
		getErr error
	)
	if testenv.Poll(10*time.Second, func() bool {
		p, getErr = s.admin.GetPhone(ctx, &inventoryv1.GetPhoneRequest{Name: "phones/" + mac})
		return getErr == nil && len(p.GetPhone().GetRecentFetches()) == 7
	}) != nil {
		t.Fatalf("fetches not recorded: %v %v", getErr, p.GetPhone().GetRecentFetches())
	}
	out := s.run(t, "phones", "show", mac).ok(t).out
	_, hist, ok := strings.Cut(out, "Recent fetches (newest first, 5 of 7):")
	if !ok {
		t.Fatalf("no recent fetches:\n%s", out)
	}
	if i6, i2 := strings.Index(hist, "file-6.cfg"), strings.Index(hist, "file-2.cfg"); i6 < 0 || i2 < i6 || strings.Contains(hist, "file-1.cfg") {
		t.Errorf("want file-6 … file-2, newest first:\n%s", hist)
	}
	if !strings.Contains(hist, `"etag-6"`) || !strings.Contains(hist, "198.18.0.12:40000") || !strings.Contains(hist, fmt.Sprint(ph.GetPhone().GetRevision())) {
		t.Errorf("recent fetches lack the ETag, source or revision:\n%s", hist)
	}
}
