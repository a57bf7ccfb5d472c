package edge_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
	"github.com/dialtone-voip/dialtone/services/provision-http/edgetest"
)

// fetchedEvents reads ConfigFetched events from the stream.
type fetchedEvents struct {
	t    testing.TB
	cons jetstream.Consumer
}

func watchFetched(t testing.TB, js jetstream.JetStream) *fetchedEvents {
	t.Helper()
	cons, err := js.OrderedConsumer(context.Background(), streams.Provisioning, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{streams.ConfigFetchedAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fetchedEvents{t: t, cons: cons}
}

func (f *fetchedEvents) next() (*eventsv1.ConfigFetched, jetstream.Msg) {
	f.t.Helper()
	m, err := f.cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		f.t.Fatalf("no ConfigFetched event: %v", err)
	}
	var ev eventsv1.ConfigFetched
	if err := natsjs.Decode(m, &ev); err != nil {
		f.t.Fatal(err)
	}
	return &ev, m
}

// none checks that no further event arrives within a short wait.
func (f *fetchedEvents) none() {
	f.t.Helper()
	if m, err := f.cons.Next(jetstream.FetchMaxWait(300 * time.Millisecond)); err == nil {
		f.t.Fatalf("unexpected event on %s", m.Subject())
	}
}

func (r *running) get(t testing.TB, base string, p testPhone, file string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	return edgetest.Get(t, base+"/p/"+p.token+"/"+file, p.ua, hdr)
}

// TestEventsInJetStream runs the edge against the real inventory on one
// embedded JetStream: ConfigFetched reaches inventory (the phone becomes
// provisioned), repeated fetches publish nothing new, and a change made in
// inventory reaches the edge as PhoneChanged and invalidates its cache.
func TestEventsInJetStream(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	edgetest.WriteCert(t, certFile, keyFile, 1)
	u := newUpstream(t)
	js := u.ns.JetStream()
	p := u.addPhone(t, "yealink", true, false)
	boot := u.addPhone(t, "yealink", false, true)
	r := startService(t, u, provisionhttp.Deps{JetStream: js}, func(c *provisionhttp.Config) {
		c.HTTPSAddr, c.TLSCert, c.TLSKey = "127.0.0.1:0", certFile, keyFile
	})
	events := watchFetched(t, js)

	// A fetch over HTTPS publishes ConfigFetched with the documented message id.
	code, h, body := r.get(t, r.httpsURL, p, p.macFile, nil)
	if code != 200 {
		t.Fatalf("GET: %d", code)
	}
	ev, m := events.next()
	rev := ev.GetRevision()
	want := &eventsv1.ConfigFetched{
		Mac: p.mac, FileName: p.macFile, UserAgent: p.ua, Etag: h.Get("ETag"), Https: true,
		Revision: rev, SourceAddress: ev.GetSourceAddress(), FetchTime: ev.GetFetchTime(),
		AccountFile: proto.Bool(true), Firmware: "96.86.0.100",
		Proof: inventoryv1.FetchProof_FETCH_PROOF_TOKEN_UA, // Yealink sends its MAC in the User-Agent
	}
	if !proto.Equal(ev, want) || rev < 1 {
		t.Fatalf("event\n%v\nwant\n%v", ev, want)
	}
	if !strings.HasPrefix(ev.GetSourceAddress(), "127.0.0.1:") || ev.GetSourceAddress() == "127.0.0.1:0" {
		t.Errorf("source address %q", ev.GetSourceAddress())
	}
	if d := time.Since(ev.GetFetchTime().AsTime()); d < 0 || d > time.Minute {
		t.Errorf("fetch time %v", ev.GetFetchTime().AsTime())
	}
	if id := m.Headers().Get(jetstream.MsgIDHeader); id != "fetch-"+p.mac+"-"+strconv.FormatInt(rev, 10)+"-"+p.macFile+"-"+strings.Trim(h.Get("ETag"), `"`)+"-"+strconv.FormatInt(ev.GetFetchTime().AsTime().Unix()/10, 10) {
		t.Errorf("message id %q", id)
	}
	if m.Subject() != streams.ConfigFetchedPrefix+p.mac {
		t.Errorf("subject %q", m.Subject())
	}

	// Inventory consumed it: the phone is provisioned, with this fetch.
	waitPhone(t, u, p.mac, func(ph *inventoryv1.Phone) bool {
		return ph.GetState() == inventoryv1.PhoneState_PHONE_STATE_PROVISIONED &&
			ph.GetLastFetch().GetFileName() == p.macFile && ph.GetLastFetch().GetSourceAddress() == ev.GetSourceAddress()
	})

	// A bootstrap fetch over plain HTTP says so.
	if code, _, _ := r.get(t, r.httpURL, boot, boot.commonFile, nil); code != 200 {
		t.Fatalf("bootstrap GET: %d", code)
	}
	if ev, _ := events.next(); !ev.GetBootstrap() || ev.GetHttps() || ev.GetMac() != boot.mac || ev.GetFileName() != boot.commonFile {
		t.Fatalf("bootstrap event %v", ev)
	}

	// Once the provisioning change has gone round (inventory's PhoneChanged
	// may drop the edge's cache once), repeated fetches — GET and 304 — hit
	// the cache and publish nothing new.
	r.changesHandled(t, js, p.mac, inventoryv1.PhoneState_PHONE_STATE_PROVISIONED)
	// Fetches share a message id within a 10-s window of fetch times
	// (provision-http fetch.go fetchIDWindow); a fetch in the next window
	// is rightly a new event. Start the repeated fetches (~1 s) with at
	// least 5 s of the window left (CI caught one across a boundary).
	testenv.WaitFor(t, 11*time.Second, "a fetch-id window with 5 s left", func() bool { return time.Now().Unix()%10 < 5 })
	r.get(t, r.httpsURL, p, p.macFile, nil)
	for {
		if _, err := events.cons.Next(jetstream.FetchMaxWait(300 * time.Millisecond)); err != nil {
			break
		}
	}
	before := u.calls()
	r.get(t, r.httpsURL, p, p.macFile, nil)
	if code, _, _ := r.get(t, r.httpsURL, p, p.macFile, map[string]string{"If-None-Match": h.Get("ETag")}); code != 304 {
		t.Fatalf("conditional GET: %d", code)
	}
	events.none()
	if after := u.calls(); after != before {
		t.Fatalf("cached fetches called upstream: %v -> %v", before, after)
	}

	// A change in inventory reaches the edge as PhoneChanged: the cached file
	// is dropped and the next fetch has the new content.
	newRev := u.change(t, p.mac)
	testenv.WaitFor(t, 10*time.Second, "the change to reach the edge", func() bool {
		_, h2, b := r.get(t, r.httpsURL, p, p.macFile, nil)
		if b != body && h2.Get("ETag") == h.Get("ETag") {
			t.Fatalf("new content under the old ETag")
		}
		return b != body
	})
	for {
		ev, _ := events.next()
		if ev.GetRevision() >= newRev {
			break
		}
	}
}

// TestPolyFetchStates: a Poly phone (added by MAC, never seen by SIP PnP)
// that fetched its master file is fetching; its phone{MAC}.cfg, the file with
// its account, makes it provisioned. Each fetch says which file it was and
// the firmware in the phone's User-Agent, which inventory records with the
// time as last seen.
func TestPolyFetchStates(t *testing.T) {
	u := newUpstream(t)
	js := u.ns.JetStream()
	p := u.addPhone(t, "poly", false, false)
	r := startService(t, u, provisionhttp.Deps{JetStream: js}, nil)
	events := watchFetched(t, js)

	if code, _, _ := r.get(t, r.httpURL, p, p.macFile, nil); code != 200 {
		t.Fatalf("GET %s: %d", p.macFile, code)
	}
	ev, _ := events.next()
	if ev.GetFileName() != p.macFile || ev.AccountFile == nil || ev.GetAccountFile() || ev.GetFirmware() != "6.4.6.2568" {
		t.Fatalf("master file event: %v", ev)
	}
	waitPhone(t, u, p.mac, func(ph *inventoryv1.Phone) bool {
		return ph.GetState() == inventoryv1.PhoneState_PHONE_STATE_FETCHING && ph.GetFirmware() == "6.4.6.2568" &&
			ph.GetLastSeenTime().AsTime().Equal(ev.GetFetchTime().AsTime())
	})

	account := "phone" + p.mac + ".cfg"
	if code, _, _ := r.get(t, r.httpURL, p, account, nil); code != 200 {
		t.Fatalf("GET %s: %d", account, code)
	}
	if ev, _ := events.next(); ev.GetFileName() != account || !ev.GetAccountFile() {
		t.Fatalf("account file event: %v", ev)
	}
	waitPhone(t, u, p.mac, func(ph *inventoryv1.Phone) bool {
		return ph.GetState() == inventoryv1.PhoneState_PHONE_STATE_PROVISIONED && ph.GetLastFetch().GetFileName() == account
	})
}

// changesHandled waits until inventory has published the PhoneChanged that
// put mac in state and the edge has handled it. The edge handles changes
// in stream order, so it publishes a marker after that change, one the edge
// cannot read (it drops its whole cache and logs it), and waits for the log.
func (r *running) changesHandled(t testing.TB, js jetstream.JetStream, mac string, state inventoryv1.PhoneState) {
	t.Helper()
	ctx := cctx(t)
	st, err := js.Stream(ctx, streams.Phones)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "PhoneChanged to "+state.String()+" of "+mac, func() bool {
		m, err := st.GetLastMsgForSubject(ctx, streams.Subject(streams.PhoneChangedPrefix, mac))
		var ev eventsv1.PhoneChanged
		return err == nil && proto.Unmarshal(m.Data, &ev) == nil && ev.GetPhone().GetState() == state
	})
	seen := strings.Count(r.logs.String(), "unreadable PhoneChanged")
	if _, err := js.Publish(ctx, streams.PhoneChangedPrefix+"marker", []byte("\xff\xff marker, not protobuf")); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "the edge handled the changes before the marker", func() bool {
		return strings.Count(r.logs.String(), "unreadable PhoneChanged") > seen
	})
}

func waitPhone(t testing.TB, u *upstream, mac string, ok func(*inventoryv1.Phone) bool) {
	t.Helper()
	var (
		resp *inventoryv1.GetPhoneResponse
		err  error
	)
	if testenv.Poll(10*time.Second, func() bool {
		resp, err = u.Admin.GetPhone(cctx(t), &inventoryv1.GetPhoneRequest{Name: "phones/" + mac})
		return err == nil && ok(resp.GetPhone())
	}) != nil {
		t.Fatalf("phone %s never reached the expected state: %v %v", mac, resp.GetPhone(), err)
	}
}

// TestUnreadableChangeEmptiesCache: a PhoneChanged the edge cannot read
// drops every cached entry rather than risk serving a stale file.
func TestUnreadableChangeEmptiesCache(t *testing.T) {
	u := newUpstream(t)
	p := u.addPhone(t, "poly", false, false)
	r := startService(t, u, provisionhttp.Deps{JetStream: u.ns.JetStream()}, nil)
	r.get(t, r.httpURL, p, p.macFile, nil)
	r.changesHandled(t, u.ns.JetStream(), p.mac, inventoryv1.PhoneState_PHONE_STATE_FETCHING) // inventory's change of the fetch came round
	r.get(t, r.httpURL, p, p.macFile, nil)
	before := u.calls()
	r.get(t, r.httpURL, p, p.macFile, nil)
	if u.calls() != before {
		t.Fatal("warm fetch called upstream")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := u.ns.JetStream().Publish(ctx, streams.PhoneChangedPrefix+"garbage", []byte("\xff\xff not protobuf")); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "an unreadable PhoneChanged to empty the cache", func() bool {
		r.get(t, r.httpURL, p, p.macFile, nil)
		return u.calls() != before
	})
	if n := strings.Count(r.logs.String(), "unreadable PhoneChanged"); n != 2 { // changesHandled's and this one
		t.Errorf("%d unreadable PhoneChanged logged, want 2", n)
	}
}
