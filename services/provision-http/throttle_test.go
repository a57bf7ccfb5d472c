package provisionhttp_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
)

// clientFrom returns an HTTP client whose connections come from the loopback
// address ip (Linux routes all of 127.0.0.0/8 to lo), so the edge sees real,
// distinct source addresses.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}
}

func fetch(t testing.TB, c *http.Client, url, ua string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("User-Agent", ua)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func randomToken() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, 43)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// TestRandomTokenFlood sends 10,000 requests with random tokens from 3,020
// source addresses: 20 heavy scanners (200 requests each) and 3,000 rotating
// addresses (2 each). The throttle engages for the scanners, its table never
// grows past its capacity, blocked requests do not reach inventory, and
// valid phones — even behind a blocked address — are served.
func TestRandomTokenFlood(t *testing.T) {
	const (
		capacity  = 256
		heavy     = 20
		perHeavy  = 200
		rotating  = 3000
		perRotate = 2
		tokenSize = 1000
	)
	u := newUpstream(t)
	e := newEdge(t, u, func(c *provisionhttp.Config) {
		c.ThrottleSize = capacity
		c.ThrottleThreshold = 5
		c.ThrottleBase = 5 * time.Minute // outlasts the test, even under -race
		c.ThrottleMax = 10 * time.Minute
		c.ThrottledLookupRate = 5
		c.TokenCacheSize = tokenSize
		c.CacheTTL = time.Hour
	})
	phone := e.addPhone(t, "yealink", false, false)
	base := e.plain.URL

	// The phone fetches once from its own address: its token is now known valid.
	if code, _ := fetch(t, clientFrom("127.3.0.1"), base+"/p/"+phone.token+"/"+phone.macFile, phone.ua); code != 200 {
		t.Fatalf("phone before the flood: %d", code)
	}

	// Watch the table while the flood runs.
	var maxSources, maxTokens atomic.Int64
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		for {
			if v := int64(metrictest.Value(t, e.reg, "dialtone_provision_http_throttle_sources")); v > maxSources.Load() {
				maxSources.Store(v)
			}
			if v := int64(metrictest.Value(t, e.reg, "dialtone_provision_http_token_cache_entries")); v > maxTokens.Load() {
				maxTokens.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})

	type job struct {
		ip string
		n  int
	}
	jobs := make(chan job)
	var codes [600]atomic.Int64
	var missingRetryAfter atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for j := range jobs {
				c := clientFrom(j.ip)
				for range j.n {
					code, h := fetch(t, c, base+"/p/"+randomToken()+"/"+phone.macFile, phone.ua)
					codes[code].Add(1)
					if code == http.StatusTooManyRequests && h.Get("Retry-After") == "" {
						missingRetryAfter.Add(1)
					}
				}
				c.CloseIdleConnections()
			}
		})
	}
	before, began := u.calls()[0], time.Now()
	for i := range heavy {
		jobs <- job{ip: fmt.Sprintf("127.2.0.%d", i+1), n: perHeavy}
	}
	for i := range rotating {
		jobs <- job{ip: fmt.Sprintf("127.1.%d.%d", i/250, i%250+1), n: perRotate}
	}
	close(jobs)
	wg.Wait()
	flood := time.Since(began)
	close(stop)
	watch.Wait()
	lookups := u.calls()[0] - before

	total := int64(0)
	for i := range codes {
		total += codes[i].Load()
	}
	n404, n429 := codes[404].Load(), codes[429].Load()
	t.Logf("%d requests: %d × 404, %d × 429; inventory look-ups %d; throttle table max %d (cap %d), token cache max %d (cap %d), evictions %.0f",
		total, n404, n429, lookups, maxSources.Load(), capacity, maxTokens.Load(), tokenSize, metrictest.Value(t, e.reg, "dialtone_provision_http_throttle_evictions"))
	if total != heavy*perHeavy+rotating*perRotate || n404+n429 != total {
		t.Fatalf("unexpected answers: %d total, %d 404, %d 429", total, n404, n429)
	}
	// Each scanner gets 5 free misses, then 429s.
	if n429 < heavy*(perHeavy-10) {
		t.Errorf("throttle did not engage: %d × 429", n429)
	}
	if missingRetryAfter.Load() != 0 {
		t.Errorf("%d answers 429 without Retry-After", missingRetryAfter.Load())
	}
	if maxSources.Load() > capacity || maxTokens.Load() > tokenSize {
		t.Errorf("memory not bounded: table max %d (cap %d), token cache max %d (cap %d)", maxSources.Load(), capacity, maxTokens.Load(), tokenSize)
	}
	// Blocked requests were answered without asking inventory, apart from
	// the shared budget: ThrottledLookupRate a second (and as much burst)
	// for as long as the flood ran, which on a loaded machine is longer.
	if max := int(n404) + 5 + int(5*flood.Seconds()+1); lookups > max {
		t.Errorf("%d inventory look-ups for %d non-throttled answers in %v (budget 5/s)", lookups, n404, flood.Round(time.Second))
	}

	blocked := clientFrom("127.2.0.1")
	if code, h := fetch(t, blocked, base+"/p/"+randomToken()+"/"+phone.macFile, phone.ua); code != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("scanner address after the flood: %d", code)
	}
	// The valid phone behind the blocked address is still served (its token
	// is cached), and keeps being served after its cache entry is gone (its
	// token hash is remembered as valid).
	if code, _ := fetch(t, blocked, base+"/p/"+phone.token+"/"+phone.macFile, phone.ua); code != 200 {
		t.Fatalf("valid phone behind a blocked address: %d", code)
	}
	u.change(t, phone.mac)
	e.svc.Invalidate(phone.mac)
	if code, _ := fetch(t, blocked, base+"/p/"+phone.token+"/"+phone.macFile, phone.ua); code != 200 {
		t.Fatalf("valid phone behind a blocked address, cold cache: %d", code)
	}
	// A phone never seen before, behind the blocked address, gets in through
	// the shared budget for such look-ups (phones retry; so does this).
	fresh := u.addPhone(t, "yealink", false, false)
	testenv.WaitFor(t, 10*time.Second, "a new phone behind a blocked address to get in", func() bool {
		code, _ := fetch(t, blocked, base+"/p/"+fresh.token+"/"+fresh.macFile, fresh.ua)
		if code != 200 && code != 429 {
			t.Fatalf("new phone behind a blocked address: %d", code)
		}
		return code == 200
	})
	if !strings.Contains(e.logs.String(), "source blocked after repeated failures") {
		t.Error("blocks are not logged")
	}
}

// TestYealinkBootNeverThrottled: Yealink phones boot by asking for
// <mac>.boot and y000000000000.boot, which the catalog does not render
// (404), before their configuration files. Two misses per boot, from many
// phones behind one address (a NAT, the cluster's phone host), must never
// trip the per-source throttle: misses of a known token do not count (its
// fallback chain is normal phone behaviour, whatever the vendor or
// firmware asks for). A scanner of random tokens and paths from another
// address of the same network is blocked.
func TestYealinkBootNeverThrottled(t *testing.T) {
	u := newUpstream(t)
	e := newEdge(t, u, func(c *provisionhttp.Config) {
		c.ThrottleThreshold = 5 // the default is 20: a stricter edge
		c.ThrottleBase = 5 * time.Minute
		c.ThrottleMax = 10 * time.Minute
		// Phones reach the edge through a proxy that names them (the
		// cluster's front, an Ingress).
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	get := func(from, path, ua string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.plain.URL+path, nil)
		req.Header.Set("User-Agent", ua)
		req.Header.Set("X-Forwarded-For", from)
		resp, err := e.plain.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	const nat = "198.18.40.1"
	phones := make([]testPhone, 40)
	for i := range phones {
		phones[i] = u.addPhone(t, "yealink", false, false)
	}
	// Every phone boots three times (power cut, resync, reboot): 240 misses
	// from one address in a few seconds, 48 times the threshold.
	for round := range 3 {
		for _, p := range phones {
			for _, f := range []struct {
				file string
				want int
			}{{p.mac + ".boot", 404}, {"y000000000000.boot", 404}, {p.commonFile, 200}, {p.macFile, 200}} {
				if code := get(nat, "/p/"+p.token+"/"+f.file, p.ua); code != f.want {
					t.Fatalf("round %d, phone %s, %s: %d, want %d", round, p.mac, f.file, code, f.want)
				}
			}
		}
	}
	if n := metrictest.Value(t, e.reg, "dialtone_provision_http_throttle_blocks_total"); n != 0 {
		t.Fatalf("%v blocks after Yealink boots; want none", n)
	}

	// A scanner: random tokens and paths.
	const scanner = "198.18.40.2"
	codes := map[int]int{}
	for i := range 20 {
		path := "/p/" + randomToken() + "/y000000000000.boot"
		if i%2 == 1 {
			path = "/cgi-bin/" + randomToken()
		}
		codes[get(scanner, path, "Mozilla/5.0")]++
	}
	if codes[http.StatusTooManyRequests] == 0 || metrictest.Value(t, e.reg, "dialtone_provision_http_throttle_blocks_total") != 1 {
		t.Fatalf("scanner: answers %v; want it blocked (429)", codes)
	}
	// The phones behind the NAT still boot.
	p := phones[0]
	if code := get(nat, "/p/"+p.token+"/"+p.mac+".boot", p.ua); code != 404 {
		t.Errorf("phone after the scan: %s.boot %d", p.mac, code)
	}
	if code := get(nat, "/p/"+p.token+"/"+p.macFile, p.ua); code != 200 {
		t.Errorf("phone after the scan: %s %d", p.macFile, code)
	}
}
