package phonesim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/sipmsg"
	"github.com/dialtone-voip/dialtone/cmd/internal/vendorsim"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	renderer "github.com/dialtone-voip/dialtone/services/config-renderer"
	"google.golang.org/protobuf/types/known/durationpb"
)

// provServer serves, under /p/<token>/ like provision-http, what the real
// config-renderer renders for the two-line profile (twoLineProfile) of the
// vendor's default model, and records every request.
type provServer struct {
	*httptest.Server
	token string
	mu    sync.Mutex
	reqs  []servedReq
	// files overrides what is served: name -> body (nil: rendered).
	files map[string][]byte
}

// servedMACs are the phones each vendor's provServer has files for.
var servedMACs = map[string]string{
	"yealink": "001565aabbcc", "grandstream": "000b82aabbcc", "snom": "000413aabbcc", "fanvil": "0c383eaabbcc",
	"gigaset": "7c2f80aabbcc", "htek": "001fc1aabbcc", "poly": "0004f2aabbcc", "cisco": "00562baabbcc",
}

// twoLineProfile: two lines over TLS to pbx.example.com:5061 through the
// outbound proxy sbc.example.com:5061, codecs g722 then pcmu, German when
// the model has it (else its first language), Europe/Berlin, NTP, a web password, and XML/cfg
// metacharacters in names and passwords.
func twoLineProfile(ren *renderer.Service, vendor, model, mac, url string) *provisioningv1.ProvisioningProfile {
	lang := ""
	if m, ok := ren.Model(vendor, model); ok && slices.Contains(m.GetLanguages(), "de") {
		lang = "de"
	} else if ok && len(m.GetLanguages()) > 0 {
		lang = m.GetLanguages()[0]
	}
	return &provisioningv1.ProvisioningProfile{
		Mac: mac, Vendor: vendor, Model: model, ProvisioningUrl: url, PollInterval: durationpb.New(24 * time.Hour),
		NtpServer: "ntp.example.com", TimeZone: "Europe/Berlin", Language: lang, WebPassword: "Adm!n<1>",
		SipServer: &provisioningv1.SipServer{Host: "pbx.example.com", Port: 5061, Transport: provisioningv1.Transport_TRANSPORT_TLS,
			OutboundProxyHost: "sbc.example.com", OutboundProxyPort: 5061, RegistrationExpiry: durationpb.New(time.Hour)},
		Codecs: []provisioningv1.Codec{provisioningv1.Codec_CODEC_G722, provisioningv1.Codec_CODEC_PCMU},
		Lines: []*provisioningv1.Line{
			{Index: 1, Extension: "201", AuthUser: "201", DisplayName: "Alice <&>", Password: "s3cr&t<1>"},
			{Index: 2, Extension: "202", AuthUser: "a202", DisplayName: "Bob", Password: "pw2"},
		},
	}
}

type servedReq struct {
	name, ua string
	status   int
}

func newProvServer(t *testing.T, vendor string) *provServer {
	t.Helper()
	ps := &provServer{token: "tok-" + vendor}
	ren := sharedRenderer(t)
	v, err := vendorsim.Lookup(vendor)
	if err != nil {
		t.Fatal(err)
	}
	ps.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/p/"+ps.token+"/")
		status := http.StatusNotFound
		var body []byte
		// Poly's MAC-less fallback master is left out: with it every MAC
		// would find a file, and the tests of unknown phones need a 404.
		if ok && name != "" && !strings.Contains(name, "/") && name != "000000000000.cfg" {
			ps.mu.Lock()
			b, over := ps.files[name]
			ps.mu.Unlock()
			if over {
				body = b
			} else if resp, err := ren.Render(r.Context(), twoLineProfile(ren, vendor, v.DefaultModel, servedMACs[vendor], ps.base()), name); err == nil {
				body = resp.GetContent()
			}
			if body != nil {
				status = http.StatusOK
			}
		}
		ps.mu.Lock()
		ps.reqs = append(ps.reqs, servedReq{name: name, ua: r.UserAgent(), status: status})
		ps.mu.Unlock()
		if status != http.StatusOK {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	}))
	t.Cleanup(ps.Close)
	return ps
}

func (ps *provServer) setFiles(files map[string][]byte) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.files = files
}

func (ps *provServer) base() string { return ps.URL + "/p/" + ps.token + "/" }

func (ps *provServer) requests() []servedReq {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Clone(ps.reqs)
}

// vendorCase is one vendor's expected boot from the served profile.
type vendorCase struct {
	vendor, model, mac string
	files              []string // "name status" in request order
	noCodecs           bool
	language           string
	dstUnknown         bool // the vendor's zone id implies DST
	provURL            func(base string) string
}

var twoLineCases = []vendorCase{
	{vendor: "yealink", model: "T54W", mac: "001565aabbcc", language: "de",
		files: []string{"001565aabbcc.boot 404", "y000000000000.boot 404", "y000000000096.cfg 200", "001565aabbcc.cfg 200"}},
	{vendor: "grandstream", model: "GRP2614", mac: "000b82aabbcc", language: "de",
		files: []string{"cfg000b82aabbcc 404", "cfg000b82aabbcc.xml 200"}},
	{vendor: "snom", model: "D785", mac: "000413aabbcc", language: "de", dstUnknown: true,
		files: []string{"snomD785.htm 200", "snomD785-000413AABBCC.htm 200", "000413AABBCC.xml 200"}},
	{vendor: "fanvil", model: "X4U", mac: "0c383eaabbcc", language: "de",
		files:   []string{"0c383eaabbcc.cfg 200"},
		provURL: func(b string) string { return b + "$mac.cfg" }},
	{vendor: "gigaset", model: "N870", mac: "7c2f80aabbcc", noCodecs: true,
		files: []string{"7c2f80aabbcc.xml 200"}},
	{vendor: "htek", model: "UC926", mac: "001fc1aabbcc", language: "en",
		files: []string{"cfg0010.xml 200", "cfg001fc1aabbcc 404", "cfg001fc1aabbcc.xml 200"}},
	{vendor: "poly", model: "VVX450", mac: "0004f2aabbcc", language: "de",
		files: []string{"0004f2aabbcc.cfg 200", "phone0004f2aabbcc.cfg 200"}},
	{vendor: "cisco", model: "CP-8851-3PCC", mac: "00562baabbcc", language: "en",
		files:   []string{"8851-3PCC.xml 200", "00562baabbcc.xml 200"},
		provURL: func(b string) string { return b + "$MA.xml" }},
}

func checkTwoLine(t *testing.T, tc vendorCase, ps *provServer, rep *Report) {
	t.Helper()
	var got []string
	p, _ := vendorsim.NewPhone(tc.vendor, tc.model, tc.mac, "")
	wantUA := p.Vendor.UserAgent(p)
	for _, r := range ps.requests() {
		got = append(got, fmt.Sprintf("%s %d", r.name, r.status))
		if r.ua != wantUA {
			t.Errorf("%s requested with User-Agent %q, want %q", r.name, r.ua, wantUA)
		}
	}
	if !slices.Equal(got, tc.files) {
		t.Errorf("requests %q, want %q", got, tc.files)
	}
	c := rep.Config
	if c == nil {
		t.Fatalf("no config in report: %+v", rep)
	}
	if len(c.Accounts) != 2 {
		t.Fatalf("%d accounts, want 2: %+v", len(c.Accounts), c.Accounts)
	}
	want := []vendorsim.Account{
		{Line: 1, Enabled: true, Server: "pbx.example.com", Port: 5061, Transport: "tls", User: "201", AuthUser: "201",
			Password: "s3cr&t<1>", DisplayName: "Alice <&>", OutboundProxy: "sbc.example.com:5061", ExpiresSecs: 3600,
			Codecs: []string{"g722", "pcmu"}},
		{Line: 2, Enabled: true, Server: "pbx.example.com", Port: 5061, Transport: "tls", User: "202", AuthUser: "a202",
			Password: "pw2", DisplayName: "Bob", OutboundProxy: "sbc.example.com:5061", ExpiresSecs: 3600,
			Codecs: []string{"g722", "pcmu"}},
	}
	for i, a := range c.Accounts {
		w := want[i]
		if tc.noCodecs {
			w.Codecs = nil
		}
		a.Label = "" // labels are vendor-optional
		if fmt.Sprint(a) != fmt.Sprint(w) {
			t.Errorf("account %d:\n got %+v\nwant %+v", i+1, a, w)
		}
	}
	if c.WebPassword != "Adm!n<1>" || !c.WebPasswordSet {
		t.Errorf("web password %q", c.WebPassword)
	}
	if c.NTPServer != "ntp.example.com" {
		t.Errorf("NTP %q", c.NTPServer)
	}
	if c.LanguageTag != tc.language {
		t.Errorf("language %q (tag %q), want tag %q", c.Language, c.LanguageTag, tc.language)
	}
	if c.UTCOffset == nil || *c.UTCOffset != 3600 {
		t.Errorf("UTC offset %v, want 3600 (time zone %q)", c.UTCOffset, c.TimeZone)
	}
	if tc.dstUnknown {
		if c.DST != nil {
			t.Errorf("DST %v, want unknown", *c.DST)
		}
	} else if c.DST == nil || !*c.DST {
		t.Errorf("DST %v, want true", c.DST)
	}
	wantProv := ps.base()
	if tc.provURL != nil {
		wantProv = tc.provURL(wantProv)
	}
	if c.ProvisioningURL != wantProv {
		t.Errorf("provisioning URL %q, want %q", c.ProvisioningURL, wantProv)
	}
	wantPoll := 86400
	if tc.vendor == "gigaset" {
		wantPoll = 0 // no polling key is known for Gigaset
	}
	if c.PollSeconds != wantPoll {
		t.Errorf("poll every %d s, want %d", c.PollSeconds, wantPoll)
	}
}

// TestBootURL boots each vendor from a directory URL (manual flow) against
// an HTTP server with the two-line profile.
func TestBootURL(t *testing.T) {
	for _, tc := range twoLineCases {
		t.Run(tc.vendor, func(t *testing.T) {
			ps := newProvServer(t, tc.vendor)
			p, err := vendorsim.NewPhone(tc.vendor, tc.model, tc.mac, "")
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Boot(context.Background(), Options{Phone: p, URL: ps.base()})
			if err != nil {
				t.Fatalf("boot: %v\n%+v", err, rep.Rounds)
			}
			if !rep.OK || rep.Flow != "url" || len(rep.Rounds) != 1 || rep.Warning == "" {
				t.Errorf("report %+v", rep)
			}
			checkTwoLine(t, tc, ps, rep)
		})
	}
}

func TestBootURLFailures(t *testing.T) {
	ps := newProvServer(t, "yealink")
	p, _ := vendorsim.NewPhone("yealink", "T54W", "001565000001", "") // nothing served for this MAC
	rep, err := Boot(context.Background(), Options{Phone: p, URL: ps.base(), WaitAccount: time.Second})
	if err == nil || rep.OK {
		t.Fatalf("boot of an unknown MAC succeeded: %+v", rep)
	}
	ps.setFiles(map[string][]byte{"001565aabbcc.cfg": []byte("#!version:1.0.0.1\naccount.1.user_name = 1\naccount.1.user_name = 2\n")})
	p, _ = vendorsim.NewPhone("yealink", "T54W", "001565aabbcc", "")
	if _, err := Boot(context.Background(), Options{Phone: p, URL: ps.base()}); err == nil || !strings.Contains(err.Error(), "already set") {
		t.Errorf("duplicate key not reported: %v", err)
	}
	if _, err := Boot(context.Background(), Options{Phone: p, URL: "ftp://x/"}); !errors.Is(err, ErrFetch) {
		t.Errorf("ftp URL: %v", err)
	}
	// A T30 has one account (the catalog's sip_accounts): a file with two
	// is for another model.
	ps.setFiles(map[string][]byte{"001565aabbcc.cfg": []byte("#!version:1.0.0.1\naccount.1.user_name = 1\naccount.2.user_name = 2\n")})
	p, _ = vendorsim.NewPhone("yealink", "T30", "001565aabbcc", "")
	rep, err = Boot(context.Background(), Options{Phone: p, URL: ps.base()})
	if err == nil || !strings.Contains(err.Error(), "2 accounts, the T30 has 1") || rep.Phone.ModelAccounts != 1 {
		t.Errorf("two accounts on a one-account model: %v (model accounts %d)", err, rep.Phone.ModelAccounts)
	}
}

// responder is a tiny PnP responder on 127.0.0.1: it answers each SUBSCRIBE
// with 200 OK and then sends NOTIFYs with the URL (and later check-syncs),
// checking the phone's answers. It is deliberately independent of
// pnp-listener: it tests phonesim's side of the exchange.
type responder struct {
	t    *testing.T
	conn *net.UDPConn
	// urlFor returns the NOTIFY body for a SUBSCRIBE (empty: send no NOTIFY).
	urlFor func(sub *sipmsg.Message) string
	// ignore drops this many SUBSCRIBEs before answering (retransmission test).
	ignore int

	mu         sync.Mutex
	subscribes []*sipmsg.Message
	notifyOKs  int
	contact    netip.AddrPort
	callID     string
	cseq       int
	fromTag    string
	sub        *sipmsg.Message
}

// newResponder starts a responder; urlFor and ignore are fixed before its
// goroutine starts.
func newResponder(t *testing.T, urlFor func(*sipmsg.Message) string, ignore int) *responder {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &responder{t: t, conn: c, cseq: 1, urlFor: urlFor, ignore: ignore}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			m, err := sipmsg.Parse(buf[:n])
			if err != nil {
				t.Errorf("responder: unparsable message: %v\n%s", err, buf[:n])
				continue
			}
			r.handle(m, from)
		}
	}()
	return r
}

func (r *responder) addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (r *responder) handle(m *sipmsg.Message, from netip.AddrPort) {
	if !m.IsRequest() {
		if _, method, _ := sipmsg.CSeq(m.Get("CSeq")); method == "NOTIFY" && m.StatusCode == 200 {
			r.mu.Lock()
			r.notifyOKs++
			r.mu.Unlock()
		}
		return
	}
	if m.Method != "SUBSCRIBE" {
		return
	}
	r.mu.Lock()
	r.subscribes = append(r.subscribes, m)
	if len(r.subscribes) <= r.ignore {
		r.mu.Unlock()
		return
	}
	first := r.sub == nil
	if first {
		r.sub = m
		r.callID = m.Get("Call-ID")
		r.contact = contactAddr(r.t, m.Get("Contact"))
		r.fromTag = "resp" + fmt.Sprint(len(r.subscribes))
	}
	r.mu.Unlock()
	resp := sipmsg.Response(m, 200, "OK", "resp1", sipmsg.Header{Name: "Expires", Value: "0"},
		sipmsg.Header{Name: "Contact", Value: "<sip:" + r.addr().String() + ">"})
	if _, err := r.conn.WriteToUDPAddrPort(resp.Bytes(), from); err != nil {
		r.t.Errorf("responder: %v", err)
	}
	if first && r.urlFor != nil {
		if u := r.urlFor(m); u != "" {
			r.notify("ua-profile", u)
		}
	}
}

// notify sends a NOTIFY in the SUBSCRIBE's dialog to the phone's Contact.
func (r *responder) notify(event, body string) {
	r.mu.Lock()
	r.cseq++
	sub := r.sub
	cseq := r.cseq
	r.mu.Unlock()
	m := &sipmsg.Message{Method: "NOTIFY", RequestURI: sipmsg.URI(sub.Get("Contact")), Body: []byte(body)}
	m.Headers = []sipmsg.Header{
		{Name: "Via", Value: "SIP/2.0/UDP " + r.addr().String() + ";branch=z9hG4bKresp" + fmt.Sprint(cseq) + ";rport"},
		{Name: "From", Value: sub.Get("To") + ";tag=resp1"},
		{Name: "To", Value: sub.Get("From")},
		{Name: "Call-ID", Value: sub.Get("Call-ID")},
		{Name: "CSeq", Value: fmt.Sprintf("%d NOTIFY", cseq)},
		{Name: "Max-Forwards", Value: "70"},
		{Name: "Event", Value: event},
		{Name: "Subscription-State", Value: "terminated;reason=timeout"},
		{Name: "Content-Type", Value: "application/url"},
		{Name: "Content-Length", Value: fmt.Sprint(len(body))},
	}
	if body == "" {
		m.Headers = slices.DeleteFunc(m.Headers, func(h sipmsg.Header) bool { return h.Name == "Content-Type" })
	}
	if _, err := r.conn.WriteToUDPAddrPort(m.Bytes(), r.contact); err != nil {
		r.t.Errorf("responder: notify: %v", err)
	}
}

func (r *responder) state() (subs, oks int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.subscribes), r.notifyOKs
}

func contactAddr(t testing.TB, contact string) netip.AddrPort {
	u := sipmsg.URI(contact)
	u = strings.TrimPrefix(u, "sip:")
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	u, _, _ = strings.Cut(u, ";")
	ap, err := netip.ParseAddrPort(u)
	if err != nil {
		t.Fatalf("contact %q: %v", contact, err)
	}
	return ap
}

// notifyURL is what pnp-listener writes into the NOTIFY: the directory URL,
// "{url}{mac}.xml" for snom (pnp-listener's default; the phone fills in its
// MAC) and "{url}<mac>.cfg" for Fanvil (config-renderer's pnp_url_template).
func notifyURL(vendor, base, mac string) string {
	switch vendor {
	case "fanvil":
		return base + mac + ".cfg"
	case "snom":
		return base + "{mac}.xml"
	}
	return base
}

// TestBootPnP runs the whole PnP exchange over loopback for every PnP
// vendor: SUBSCRIBE, 200, NOTIFY with the URL, the phone's 200, downloads.
func TestBootPnP(t *testing.T) {
	for _, tc := range twoLineCases {
		v, _ := vendorsim.Lookup(tc.vendor)
		if !v.PnP {
			continue
		}
		t.Run(tc.vendor, func(t *testing.T) {
			ps := newProvServer(t, tc.vendor)
			r := newResponder(t, func(*sipmsg.Message) string { return notifyURL(tc.vendor, ps.base(), tc.mac) }, 0)
			p, _ := vendorsim.NewPhone(tc.vendor, tc.model, tc.mac, "")
			rep, err := Boot(context.Background(), Options{
				Phone: p, Group: r.addr(), Local: netip.MustParseAddr("127.0.0.1"),
				Timeout: 5 * time.Second, WaitNotify: 5 * time.Second,
			})
			if err != nil {
				t.Fatalf("boot: %v\n%+v", err, rep)
			}
			// The phone's 200 OK to the NOTIFY is a datagram the responder
			// reads on its own goroutine: wait for it before counting.
			waitFor(t, func() bool { _, oks := r.state(); return oks >= 1 })
			subs, oks := r.state()
			if subs != 1 || rep.SIP.SubscribesSent != 1 {
				t.Errorf("%d SUBSCRIBEs received, %d sent; want 1", subs, rep.SIP.SubscribesSent)
			}
			if oks != 1 || rep.SIP.Notifies != 1 {
				t.Errorf("NOTIFY answered %d times, report says %d; want 1", oks, rep.SIP.Notifies)
			}
			if rep.SIP.Response != "200 OK" || rep.Timings.ToResponseMS <= 0 || rep.Timings.ToNotifyMS <= 0 || rep.Timings.ToProvisionedMS <= 0 {
				t.Errorf("SIP report %+v, timings %+v", rep.SIP, rep.Timings)
			}
			// The SUBSCRIBE the responder got is the vendor's, from the phone's socket.
			r.mu.Lock()
			sub := r.subscribes[0]
			r.mu.Unlock()
			l := vendorsim.Local{IP: "127.0.0.1", Port: int(contactAddr(t, sub.Get("Contact")).Port())}
			wantRaw := v.Subscribe(p, l, vendorsim.IDs{})
			wantMsg, _ := sipmsg.Parse(wantRaw)
			if sub.RequestURI != wantMsg.RequestURI || sub.Get("Event") != wantMsg.Get("Event") {
				t.Errorf("SUBSCRIBE %q %q, want %q %q", sub.RequestURI, sub.Get("Event"), wantMsg.RequestURI, wantMsg.Get("Event"))
			}
			if tc.vendor == "snom" {
				tc.files = []string{"000413AABBCC.xml 200"} // the NOTIFY named the file
			}
			checkTwoLine(t, tc, ps, rep)
		})
	}
}

// TestBootPnPRetransmit: the responder ignores the first SUBSCRIBE; the
// phone retransmits the identical request and boots.
func TestBootPnPRetransmit(t *testing.T) {
	ps := newProvServer(t, "yealink")
	r := newResponder(t, func(*sipmsg.Message) string { return ps.base() }, 1)
	p, _ := vendorsim.NewPhone("yealink", "T54W", "001565aabbcc", "")
	rep, err := Boot(context.Background(), Options{Phone: p, Group: r.addr(), Local: netip.MustParseAddr("127.0.0.1"), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("boot: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.subscribes) != 2 || rep.SIP.SubscribesSent != 2 {
		t.Fatalf("%d SUBSCRIBEs, want 2", len(r.subscribes))
	}
	if string(r.subscribes[0].Bytes()) != string(r.subscribes[1].Bytes()) {
		t.Error("retransmission differs from the original")
	}
}

// TestBootPnPNoAnswer: nobody answers; Grandstream sends 5 SUBSCRIBEs and
// gives up at its timeout.
func TestBootPnPNoAnswer(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, _ := vendorsim.NewPhone("grandstream", "", "000b82000001", "")
	rep, err := Boot(context.Background(), Options{Phone: p, Group: c.LocalAddr().(*net.UDPAddr).AddrPort(),
		Local: netip.MustParseAddr("127.0.0.1"), Timeout: 7600 * time.Millisecond})
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("err %v, want ErrNoAnswer", err)
	}
	if rep.SIP.SubscribesSent != 5 {
		t.Errorf("%d SUBSCRIBEs sent, want Grandstream's 5", rep.SIP.SubscribesSent)
	}
}

// TestBootPnPLateNotifyAndCheckSync is the PnP flow with assignment after
// discovery: the phone gets a bootstrap file without accounts, waits, gets
// the late NOTIFY with its real URL, then a check-sync and an empty NOTIFY
// make it re-read its configuration.
func TestBootPnPLateNotifyAndCheckSync(t *testing.T) {
	ps := newProvServer(t, "yealink")
	bootstrapTok := "tok-bootstrap"
	// A second server path plays the bootstrap URL: only the common file.
	var bootFetched atomic.Int32
	boot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/p/"+bootstrapTok+"/001565aabbcc.cfg" {
			bootFetched.Add(1)
			fmt.Fprintf(w, "#!version:1.0.0.1\nstatic.auto_provision.server.url = %s/p/%s/\nstatic.auto_provision.pnp_enable = 1\n", "http://"+r.Host, bootstrapTok)
			return
		}
		http.NotFound(w, r)
	}))
	defer boot.Close()
	r := newResponder(t, func(*sipmsg.Message) string { return boot.URL + "/p/" + bootstrapTok + "/" }, 0)
	p, _ := vendorsim.NewPhone("yealink", "T54W", "001565aabbcc", "")
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := Boot(context.Background(), Options{Phone: p, Group: r.addr(), Local: netip.MustParseAddr("127.0.0.1"),
			Timeout: 5 * time.Second, WaitAccount: 20 * time.Second, Linger: 2 * time.Second})
		done <- result{rep, err}
	}()
	waitFor(t, func() bool { _, oks := r.state(); return oks >= 1 })
	waitFor(t, func() bool { return bootFetched.Load() >= 1 }) // the bootstrap round ran
	r.notify("ua-profile", ps.base())                          // the late NOTIFY after assignment
	waitFor(t, func() bool { _, oks := r.state(); return oks >= 2 })
	waitFor(t, func() bool { return len(ps.requests()) >= 4 })
	r.notify("check-sync;reboot=false", "")
	waitFor(t, func() bool { return len(ps.requests()) >= 8 })
	r.notify("ua-profile", "") // empty NOTIFY: re-read
	res := <-done
	if res.err != nil {
		t.Fatalf("boot: %v", res.err)
	}
	rep := res.rep
	var triggers []string
	for _, rd := range rep.Rounds {
		triggers = append(triggers, fmt.Sprintf("%s:%d", rd.Trigger, rd.Accounts))
	}
	want := []string{"notify:0", "notify:2", "check-sync:2", "check-sync:2"}
	if !slices.Equal(triggers, want) {
		t.Errorf("rounds %q, want %q", triggers, want)
	}
	waitFor(t, func() bool { _, oks := r.state(); return oks >= 4 }) // the last 200 OK may still be in flight
	if _, oks := r.state(); oks != 4 || rep.SIP.Notifies != 4 {
		t.Errorf("%d NOTIFYs answered, report %d, want 4", oks, rep.SIP.Notifies)
	}
	if rep.Config == nil || len(rep.Config.Accounts) != 2 {
		t.Errorf("final config %+v", rep.Config)
	}
	if rep.Timings.ToProvisionedMS < rep.Rounds[1].StartMS {
		t.Errorf("provisioned at %.1f ms, before the second round started at %.1f", rep.Timings.ToProvisionedMS, rep.Rounds[1].StartMS)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, "the condition", cond)
}

// TestStorm boots 40 phones against the responder and checks the summary.
func TestStorm(t *testing.T) {
	ps := newProvServer(t, "grandstream")
	// Every phone gets the same file; the MAC in it must match, so serve a
	// MAC-less copy for all of them.
	resp, err := sharedRenderer(t).Render(context.Background(), twoLineProfile(sharedRenderer(t), "grandstream", "GRP2614", "000b82aabbcc", ps.base()), "cfg000b82aabbcc.xml")
	if err != nil {
		t.Fatal(err)
	}
	b := resp.GetContent()
	generic := []byte(strings.Replace(string(b), "<mac>000b82aabbcc</mac>\n", "", 1))
	files := map[string][]byte{}
	for i := range 40 {
		files["cfg"+vendorsim.MACFromOUI("000b82", 100+i)+".xml"] = generic
	}
	ps.setFiles(files)
	p, _ := vendorsim.NewPhone("grandstream", "GRP2614", "", "")
	tmpl := Options{Phone: p, Local: netip.MustParseAddr("127.0.0.1"), Timeout: 5 * time.Second, WaitNotify: 5 * time.Second}
	multi := newMultiResponder(t, func(*sipmsg.Message) string { return ps.base() })
	tmpl.Group = multi.addr()
	var progress int
	rep, err := Storm(context.Background(), StormOptions{Template: tmpl, Count: 40, Concurrency: 8, Start: 100,
		Progress: func(done, _ int) { progress = max(progress, done) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK != 40 || rep.Failed != 0 || progress != 40 {
		t.Fatalf("storm: %d ok, %d failed (%v %v), progress %d", rep.OK, rep.Failed, rep.Failures, rep.Examples, progress)
	}
	if rep.FirstMAC != "000b82000064" || rep.LastMAC != "000b8200008b" {
		t.Errorf("MACs %s..%s", rep.FirstMAC, rep.LastMAC)
	}
	if rep.Provisioned.P50 <= 0 || rep.Provisioned.P50 > rep.Provisioned.P99 || rep.Provisioned.P99 > rep.Provisioned.Max {
		t.Errorf("percentiles %+v", rep.Provisioned)
	}
	ports := map[uint16]bool{}
	for _, a := range multi.sources() {
		ports[a.Port()] = true
	}
	// Each phone has its own socket; a phone that finished closed it, and
	// the kernel may hand its random ephemeral port to a later phone (40
	// draws from ~28,000 ports: one reuse in ~3% of runs, two in ~0.04%).
	if len(ports) < 39 {
		t.Errorf("%d distinct source ports, want 40 (39 with one reuse)", len(ports))
	}
}

// multiResponder answers every SUBSCRIBE and NOTIFYs each phone.
type multiResponder struct {
	conn *net.UDPConn
	mu   sync.Mutex
	srcs []netip.AddrPort
}

func newMultiResponder(t testing.TB, urlFor func(*sipmsg.Message) string) *multiResponder {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	mr := &multiResponder{conn: c}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			m, err := sipmsg.Parse(buf[:n])
			if err != nil || !m.IsRequest() || m.Method != "SUBSCRIBE" {
				continue
			}
			mr.mu.Lock()
			mr.srcs = append(mr.srcs, from)
			mr.mu.Unlock()
			resp := sipmsg.Response(m, 200, "OK", "x")
			_, _ = c.WriteToUDPAddrPort(resp.Bytes(), from)
			body := urlFor(m)
			nt := &sipmsg.Message{Method: "NOTIFY", RequestURI: sipmsg.URI(m.Get("Contact")), Body: []byte(body)}
			nt.Headers = []sipmsg.Header{
				{Name: "Via", Value: "SIP/2.0/UDP " + c.LocalAddr().String() + ";branch=z9hG4bKn"},
				{Name: "From", Value: m.Get("To") + ";tag=x"}, {Name: "To", Value: m.Get("From")},
				{Name: "Call-ID", Value: m.Get("Call-ID")}, {Name: "CSeq", Value: "2 NOTIFY"},
				{Name: "Event", Value: "ua-profile"}, {Name: "Content-Type", Value: "application/url"},
				{Name: "Content-Length", Value: fmt.Sprint(len(body))},
			}
			_, _ = c.WriteToUDPAddrPort(nt.Bytes(), contactAddr(t, m.Get("Contact")))
		}
	}()
	return mr
}

func (mr *multiResponder) addr() netip.AddrPort { return mr.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (mr *multiResponder) sources() []netip.AddrPort {
	mr.mu.Lock()
	defer mr.mu.Unlock()
	return slices.Clone(mr.srcs)
}
