package provisionhttp

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/provision-http/internal/lru"
)

func TestClientAddr(t *testing.T) {
	s := &Service{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}}
	cases := []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.1:5000", nil, "192.0.2.1:5000"},
		{"192.0.2.1:5000", []string{"198.51.100.9"}, "192.0.2.1:5000"}, // untrusted peer: XFF ignored
		{"10.1.1.1:5000", []string{"198.51.100.9"}, "198.51.100.9:0"},
		{"10.1.1.1:5000", []string{"203.0.113.5, 198.51.100.9, 10.2.2.2"}, "198.51.100.9:0"}, // rightmost untrusted
		{"10.1.1.1:5000", []string{"203.0.113.5", "198.51.100.9"}, "198.51.100.9:0"},
		{"10.1.1.1:5000", []string{"garbage, 198.51.100.9"}, "198.51.100.9:0"},
		{"10.1.1.1:5000", []string{"198.51.100.9, garbage"}, "10.1.1.1:5000"},
		{"10.1.1.1:5000", nil, "10.1.1.1:5000"},
		{"[fd00::1]:443", []string{"2001:db8::7"}, "[2001:db8::7]:0"},
		{"[::ffff:192.0.2.1]:5000", nil, "192.0.2.1:5000"},
		{"not an address", nil, "[::]:0"},
	}
	for _, c := range cases {
		r := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := s.clientAddr(r).String(); got != c.want {
			t.Errorf("remote %s xff %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

func TestIsTLS(t *testing.T) {
	s := &Service{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	for _, c := range []struct {
		remote string
		xfp    []string
		want   bool
	}{
		{"10.1.1.1:1", []string{"https"}, true},
		{"10.1.1.1:1", []string{"HTTPS"}, true},
		{"10.1.1.1:1", []string{"http, https"}, true},
		{"10.1.1.1:1", []string{"https, http"}, false}, // the proxy's own value is the last
		{"10.1.1.1:1", []string{"https", "http"}, false},
		{"10.1.1.1:1", nil, false},
		{"192.0.2.1:1", []string{"https"}, false}, // not a trusted proxy
	} {
		r := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
		for _, v := range c.xfp {
			r.Header.Add("X-Forwarded-Proto", v)
		}
		if got := s.isTLS(r); got != c.want {
			t.Errorf("%s %q: %v", c.remote, c.xfp, got)
		}
	}
	if (&Service{}).isTLS(&http.Request{RemoteAddr: "10.1.1.1:1", Header: http.Header{"X-Forwarded-Proto": {"https"}}}) {
		t.Error("X-Forwarded-Proto believed without trusted proxies")
	}
}

func TestETagMatch(t *testing.T) {
	const e = `"abc"`
	for _, c := range []struct {
		h    []string
		want bool
	}{
		{nil, false},
		{[]string{`"abc"`}, true},
		{[]string{`W/"abc"`}, true},
		{[]string{`"x", "abc"`}, true},
		{[]string{`"x"`, `"abc"`}, true},
		{[]string{`*`}, true},
		{[]string{`"abcd"`}, false},
		{[]string{`abc`}, false},
	} {
		if got := etagMatch(c.h, e); got != c.want {
			t.Errorf("If-None-Match %q: %v", c.h, got)
		}
	}
	for _, tag := range []string{`"a"`, `"0123abcdef"`} {
		if !validETag(tag) {
			t.Errorf("%s rejected", tag)
		}
	}
	for _, tag := range []string{``, `"`, `abc`, `"a"b"`, "\"a\nb\"", `W/"a"`} {
		if validETag(tag) {
			t.Errorf("%q accepted", tag)
		}
	}
}

func TestMsgID(t *testing.T) {
	at := func(sec int64) *eventsv1.ConfigFetched {
		return &eventsv1.ConfigFetched{Mac: "001565aabbcc", Revision: 7, FileName: "001565aabbcc.cfg", Etag: `"e1"`,
			FetchTime: timestamppb.New(time.Unix(sec, 0))}
	}
	if got, want := msgID(at(1_700_000_003)), "fetch-001565aabbcc-7-001565aabbcc.cfg-e1-170000000"; got != want {
		t.Fatalf("msgID = %q, want %q", got, want)
	}
	// A retry or a poll within the window is one event; a fetch after it
	// is another (it may repair a lost write), even inside JetStream's
	// 2-minute duplicate window.
	if msgID(at(1_700_000_003)) != msgID(at(1_700_000_009)) {
		t.Error("two fetches in one 10 s window have different ids")
	}
	if msgID(at(1_700_000_003)) == msgID(at(1_700_000_030)) {
		t.Error("a fetch 27 s later has the same id: JetStream would drop it")
	}
}

func FuzzHeaders(f *testing.F) {
	f.Add("10.1.1.1:5000", "203.0.113.5, 198.51.100.9", `"abc", W/"def"`)
	f.Add("[fd00::1]:443", "2001:db8::7,garbage", `*`)
	f.Add("192.0.2.1:1", "", "")
	f.Add("10.0.0.1:1", strings.Repeat("10.0.0.2,", 100), strings.Repeat(`"x",`, 100))
	s := &Service{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}}
	f.Fuzz(func(t *testing.T, remote, xff, inm string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		ap := s.clientAddr(r)
		if !ap.Addr().IsValid() {
			t.Fatalf("invalid client address from %q %q", remote, xff)
		}
		if ap.Addr().Is4In6() {
			t.Fatalf("mapped address %v not unmapped", ap)
		}
		if peer, err := netip.ParseAddrPort(remote); err == nil && !s.trusted(peer.Addr().Unmap()) && ap.Addr() != peer.Addr().Unmap() {
			t.Fatalf("X-Forwarded-For believed from untrusted peer %s", remote)
		}
		etagMatch([]string{inm}, `"abc"`)
	})
}

// TestChangeAction: the cache rule, event by event.
func TestChangeAction(t *testing.T) {
	a := func(x ...inventoryv1.PhoneAspect) []inventoryv1.PhoneAspect { return x }
	for _, c := range []struct {
		typ     inventoryv1.PhoneChangeType
		aspects []inventoryv1.PhoneAspect
		files   bool
		want    string
	}{
		{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_PROVISIONED, a(inventoryv1.PhoneAspect_PHONE_ASPECT_STATE, inventoryv1.PhoneAspect_PHONE_ASPECT_FETCH), false, actionKeep},
		// A discovery carries the link proof the release identity is named by.
		{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED, a(inventoryv1.PhoneAspect_PHONE_ASPECT_DISCOVERY), false, actionGrants},
		{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_RPS_STATUS, a(inventoryv1.PhoneAspect_PHONE_ASPECT_RPS_STATUS), false, actionKeep},
		{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_BOUND, a(inventoryv1.PhoneAspect_PHONE_ASPECT_RELEASE), false, actionGrants},
		{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UPDATED, a(inventoryv1.PhoneAspect_PHONE_ASPECT_SETTINGS), true, actionInvalidate},
		{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_TOKEN_ROTATED, a(inventoryv1.PhoneAspect_PHONE_ASPECT_URL), true, actionInvalidate},
		// An older publisher: the type decides.
		{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_PROVISIONED, nil, false, actionInvalidate},
		{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_SECRET_RELEASE_APPROVED, nil, false, actionGrants},
	} {
		ev := &eventsv1.PhoneChanged{ChangeType: c.typ, Aspects: c.aspects, FilesChanged: c.files}
		if got := changeAction(ev); got != c.want {
			t.Errorf("%v %v files_changed %v: %s, want %s", c.typ, c.aspects, c.files, got, c.want)
		}
	}
}

// TestGenerationsPerPhone: a look-up in flight is not cached when its
// phone was invalidated since it started, and is when another phone was;
// dropping everything stops every look-up in flight.
func TestGenerationsPerPhone(t *testing.T) {
	g := newGenerations()
	c := lru.New[string, int](1000, time.Hour)
	since := g.start()
	g.bump("805ec0000001")
	addFresh(g, c, since, "a", 1, "805ec0000001", 1, 0)
	addFresh(g, c, since, "b", 2, "805ec0000002", 1, 0)
	addFresh(g, c, since, "m", 3, "", 1, 0)
	if c.Contains("a") || !c.Contains("b") || !c.Contains("m") {
		t.Fatalf("after one phone's invalidation: a %v b %v m %v; want only b and m cached", c.Contains("a"), c.Contains("b"), c.Contains("m"))
	}
	since = g.start()
	addFresh(g, c, since, "a", 1, "805ec0000001", 1, 0)
	if !c.Contains("a") {
		t.Fatal("a look-up started after the invalidation was not cached")
	}
	g.bumpAll()
	addFresh(g, c, since, "c", 4, "805ec0000003", 1, 0)
	addFresh(g, c, since, "n", 5, "", 1, 0)
	if c.Contains("c") || c.Contains("n") {
		t.Fatal("a look-up in flight across a drop of everything was cached")
	}
}
