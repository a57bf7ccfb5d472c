package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
)

// stormPhones is the storm's size: every phone has its own address on the
// LAN's /24 (.10 to .249), so the link-layer check stays on.
const stormPhones = 240

// TestStormEventsPerPhone: stormPhones assigned Yealink phones boot at
// once, each with its own link layer. Read from JetStream afterwards, each
// phone's PhoneChanged events are at most one discovery, one assignment
// (its creation by the import), one FETCHING and one PROVISIONED transition;
// no event caused by a fetch says its files changed; every event names its
// aspects. The edge's cache hit ratio during the storm is logged (issue 20:
// fetches no longer empty the edge's cache).
func TestStormEventsPerPhone(t *testing.T) {
	s := newSite(t)
	const natsAddr = "127.0.0.1:14222"
	s.args = []string{"--nats-addr", natsAddr}
	s.start()

	csv := s.run(bins.phonesim, "macs", "--vendor", "yealink", "--model", "T54W", "--count", strconv.Itoa(stormPhones), "--csv",
		"--extension-start", "20000", "--password-prefix", "storm-pw-")
	file := filepath.Join(t.TempDir(), "phones.csv")
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	s.ctl("phones", "import", file, "--concurrency", "8")
	before := s.edgeCache()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	storm := s.phone.CommandContext(ctx, bins.phonesim, "storm", "--vendor", "yealink", "--model", "T54W",
		"--count", strconv.Itoa(stormPhones), "--concurrency", "30", "--iface", s.phone.Iface(), "--timeout", "60s", "-o", "json",
		"--own-link", "198.18.0.10")
	var out, errb bytes.Buffer
	storm.Stdout, storm.Stderr = &out, &errb
	err := storm.Run()
	var rep struct {
		OK, Failed int
		Failures   map[string]int
		WallMS     float64 `json:"wall_ms"`
	}
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil || rep.OK < stormPhones*9/10 {
		t.Fatalf("storm: %v %v\n%s\n%s", err, jerr, out.String(), errb.String())
	}
	t.Logf("storm: %d phones booted, %d failed %v, in %.1f s", rep.OK, rep.Failed, rep.Failures, rep.WallMS/1000)
	after := s.edgeCache()

	// Every booted phone is provisioned in inventory, and its transition
	// event has reached the stream.
	js := s.jetStream(natsAddr)
	var evs map[string][]*eventsv1.PhoneChanged
	waitFor(t, 90*time.Second, "every booted phone's PROVISIONED event", func() bool {
		evs = phoneChangedEvents(t, js)
		n := 0
		for _, list := range evs {
			if slices.ContainsFunc(list, becameProvisioned) {
				n++
			}
		}
		return n >= rep.OK
	})

	var total, fetchOnly, counted int
	worst, sums := map[string]int{}, map[string]int{}
	for mac, list := range evs {
		kinds := map[string]int{}
		for _, ev := range list {
			if len(ev.GetAspects()) == 0 {
				t.Errorf("phone %s: %v event without aspects", mac, ev.GetChangeType())
			}
			fetch := slices.Contains(ev.GetAspects(), inventoryv1.PhoneAspect_PHONE_ASPECT_FETCH)
			if fetch && ev.GetFilesChanged() {
				t.Errorf("phone %s: a fetch's event says its files changed: %v %v", mac, ev.GetChangeType(), ev.GetAspects())
			}
			prev, now := ev.GetPreviousState(), ev.GetPhone().GetState()
			switch {
			case ev.GetChangeType() == inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED:
				kinds["discovered"]++
			case now == inventoryv1.PhoneState_PHONE_STATE_ASSIGNED && prev != now:
				kinds["assigned"]++
			case becameProvisioned(ev):
				kinds["provisioned"]++
			case now == inventoryv1.PhoneState_PHONE_STATE_FETCHING && prev != now:
				kinds["fetching"]++
			case fetch:
				kinds["fetch"]++
				fetchOnly++
			default:
				kinds["other "+ev.GetChangeType().String()]++
			}
		}
		for k, n := range kinds {
			worst[k] = max(worst[k], n)
			sums[k] += n
			if n > 1 && k != "fetch" {
				t.Errorf("phone %s: %d %s events: %v", mac, n, k, kinds)
			}
		}
		total += len(list)
		counted++
	}
	if counted < rep.OK {
		t.Fatalf("events of %d phones, %d booted", counted, rep.OK)
	}
	t.Logf("PhoneChanged per phone: %.2f on average (%d events, %d phones); by kind %v; most of one kind on one phone: %v; %d events of a fetch alone",
		float64(total)/float64(counted), total, counted, sums, worst, fetchOnly)

	for _, c := range []string{"token", "file"} {
		hit, miss := after[c+"/hit"]-before[c+"/hit"], after[c+"/miss"]-before[c+"/miss"]
		t.Logf("edge %s cache during the storm: %.0f hits, %.0f misses, hit ratio %.2f", c, hit, miss, hit/max(1, hit+miss))
	}
	t.Logf("edge PhoneChanged actions: invalidated %.0f, grants %.0f, kept %.0f",
		after["changes/invalidated"]-before["changes/invalidated"], after["changes/grants"]-before["changes/grants"], after["changes/kept"]-before["changes/kept"])
	if inv := after["changes/invalidated"] - before["changes/invalidated"]; inv > 0 {
		t.Errorf("the storm invalidated the edge's cache %.0f times; no boot changes a phone's files", inv)
	}
}

func becameProvisioned(ev *eventsv1.PhoneChanged) bool {
	return ev.GetPhone().GetState() == inventoryv1.PhoneState_PHONE_STATE_PROVISIONED &&
		ev.GetPreviousState() != inventoryv1.PhoneState_PHONE_STATE_PROVISIONED
}

// jetStream connects to dialtone's embedded NATS (--nats-addr, loopback of
// the pbx namespace).
func (s *site) jetStream(addr string) jetstream.JetStream {
	s.t.Helper()
	nc, err := nats.Connect("nats://"+addr, nats.SetCustomDialer(nsDialer{s}), nats.Timeout(10*time.Second))
	if err != nil {
		s.t.Fatalf("connect to NATS: %v", err)
	}
	s.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		s.t.Fatal(err)
	}
	return js
}

// nsDialer dials from inside the pbx namespace.
type nsDialer struct{ s *site }

func (d nsDialer) Dial(network, address string) (net.Conn, error) {
	var c net.Conn
	err := d.s.pbx.Run(func() (err error) {
		c, err = net.DialTimeout(network, address, 10*time.Second)
		return err
	})
	return c, err
}

// phoneChangedEvents reads every PhoneChanged the stream holds, by MAC.
func phoneChangedEvents(t *testing.T, js jetstream.JetStream) map[string][]*eventsv1.PhoneChanged {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, streams.Phones)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(ctx, streams.Phones, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{streams.PhoneChangedAll}, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*eventsv1.PhoneChanged{}
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		var last uint64
		for m := range batch.Messages() {
			n++
			if md, err := m.Metadata(); err == nil {
				last = md.Sequence.Stream
			}
			ev := &eventsv1.PhoneChanged{}
			if proto.Unmarshal(m.Data(), ev) != nil {
				t.Fatalf("undecodable PhoneChanged on %s", m.Subject())
			}
			out[ev.GetPhone().GetMac()] = append(out[ev.GetPhone().GetMac()], ev)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			t.Fatal(err)
		}
		if n == 0 || last >= info.State.LastSeq {
			return out
		}
	}
}

// edgeCache reads the edge's cache counters from dialtone's /metrics:
// "token/hit", "file/miss"..., and "changes/kept"... (PhoneChanged actions).
func (s *site) edgeCache() map[string]float64 {
	s.t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nsDialer{s}.Dial(network, addr)
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://127.0.0.1:9190/metrics")
	if err != nil {
		s.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var key string
		switch {
		case strings.HasPrefix(line, "dialtone_provision_http_cache_lookups_total{"):
			key = label(line, "cache") + "/" + label(line, "result")
		case strings.HasPrefix(line, "dialtone_provision_http_phone_changes_total{"):
			key = "changes/" + label(line, "action")
		default:
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			out[key] += v
		}
	}
	return out
}

// label returns a label's value from a Prometheus text line.
func label(line, name string) string {
	i := strings.Index(line, name+`="`)
	if i < 0 {
		return ""
	}
	rest := line[i+len(name)+2:]
	return rest[:strings.IndexByte(rest, '"')]
}
