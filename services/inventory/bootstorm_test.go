package inventory_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/server"
)

// drained waits until the durable consumer has acknowledged everything in
// its stream.
func drained(tb testing.TB, js jetstream.JetStream, stream, durable string, d time.Duration) {
	tb.Helper()
	waitFor(tb, d, durable+" drained", func() bool {
		c, err := js.Consumer(context.Background(), stream, durable)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream > 0
	})
}

// bootStorm publishes n PhoneDiscovered of new phones and measures how
// long the service takes to absorb them; then assigns every phone and
// does the same with n ConfigFetched (each makes a phone PROVISIONED).
// Events are published as fast as one publisher can (a few thousand a
// second), so the consumers, not the publisher, set the pace.
func bootStorm(tb testing.TB, n int) (discover, fetch time.Duration) {
	ns := natstest.Start(tb)
	js := ns.JetStream()
	h := start(tb, boltStore(tb), js)
	seed(tb, h.admin, 1)
	mac := func(i int) string { return fmt.Sprintf("0015650b%04x", i) }
	ctx := context.Background()

	t0 := time.Now()
	for i := range n {
		if err := publishDiscovery(ctx, js, mac(i)); err != nil {
			tb.Fatal(err)
		}
	}
	drained(tb, js, streams.Discovery, server.ConsumerDiscovery, 5*time.Minute)
	discover = time.Since(t0)
	if got := countPhones(tb, h.admin, inventoryv1.PhoneState_PHONE_STATE_DISCOVERED); got != n {
		tb.Fatalf("%d phones discovered, want %d", got, n)
	}

	revs := make([]int64, n)
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < n; i += 32 {
				as, err := h.admin.AssignPhone(cctx(), &inventoryv1.AssignPhoneRequest{Name: mac(i), Extension: "tenants/acme/extensions/100"})
				if err != nil {
					tb.Error(err)
					return
				}
				revs[i] = as.GetPhone().GetRevision()
			}
		})
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}

	t0 = time.Now()
	for i := range n {
		ev := &eventsv1.ConfigFetched{Mac: mac(i), FileName: mac(i) + ".cfg", SourceAddress: "198.18.0.7:40000",
			Revision: revs[i], FetchTime: timestamppb.Now()}
		if err := natsjs.Publish(ctx, js, streams.Subject(streams.ConfigFetchedPrefix, mac(i)), ev, fmt.Sprintf("fetch-%s-%d", mac(i), revs[i])); err != nil {
			tb.Fatal(err)
		}
	}
	drained(tb, js, streams.Provisioning, server.ConsumerFetches, 5*time.Minute)
	fetch = time.Since(t0)
	if got := countPhones(tb, h.admin, inventoryv1.PhoneState_PHONE_STATE_PROVISIONED); got != n {
		tb.Fatalf("%d phones provisioned, want %d", got, n)
	}
	return discover, fetch
}

func countPhones(tb testing.TB, a inventoryv1.InventoryServiceClient, state inventoryv1.PhoneState) int {
	tb.Helper()
	n, tok := 0, ""
	for {
		r, err := a.ListPhones(cctx(), &inventoryv1.ListPhonesRequest{PageSize: 1000, PageToken: tok, State: state})
		if err != nil {
			tb.Fatal(err)
		}
		n += len(r.GetPhones())
		if tok = r.GetNextPageToken(); tok == "" {
			return n
		}
	}
}

// TestBootStorm runs a small storm (200 phones) through the consumers and
// logs the rates; BenchmarkConsumeBootStorm is the 2,000-phone figure.
func TestBootStorm(t *testing.T) {
	const n = 200
	d, f := bootStorm(t, n)
	t.Logf("%d discoveries in %v (%.0f/s), %d fetches in %v (%.0f/s)", n, d.Round(time.Millisecond), n/d.Seconds(), n, f.Round(time.Millisecond), n/f.Seconds())
}

// BenchmarkConsumeBootStorm: the embedded store (bbolt) with JetStream, as
// in the one-process dialtone, absorbing a boot storm of 2,000 phones:
// their discoveries, then (after assignment) their configuration fetches.
// Reports events per second for each and the storm's total seconds.
func BenchmarkConsumeBootStorm(b *testing.B) {
	const n = 2000
	var disc, fetch time.Duration
	for range b.N {
		d, f := bootStorm(b, n)
		disc += d
		fetch += f
	}
	b.ReportMetric(float64(n*b.N)/disc.Seconds(), "discoveries/s")
	b.ReportMetric(float64(n*b.N)/fetch.Seconds(), "fetches/s")
	b.ReportMetric((disc+fetch).Seconds()/float64(b.N), "storm-s")
}
