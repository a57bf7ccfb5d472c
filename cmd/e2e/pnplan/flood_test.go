package pnplan

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/sys/unix"

	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/lantest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/phonetest"
)

// Flood sizes: distinct forged hosts, and boots (new Call-IDs) each.
const (
	floodHosts  = 600
	floodRounds = 6
	floodSlots  = 200 // --max-inflight-notifies, small so the flood overflows it
)

// floodNet is the second subnet on the LAN for the forged hosts: lantest's
// /24 holds too few. Inside 198.18.0.0/15.
var (
	floodPBX   = netip.MustParsePrefix("198.19.0.1/16")
	floodFirst = netip.MustParseAddr("198.19.1.1")
)

// TestForgedBootFloodManySources (issue 15): with the link-layer check on,
// 600 forged hosts — each its own MAC and address, answering ARP like a
// real host, never answering a NOTIFY — send 3,600 boots of unknown phones
// while a real phone boots. The real phone gets its 200 OK, is recorded as
// discovered and, once assigned, gets its NOTIFY with the provisioning URL.
// Asserted are bounds, not timings: NOTIFY slots held by forged boots stay
// under the shed mark, the flow table under its bound, every refused boot
// is counted by reason, and the forged hosts receive at most 3x the bytes
// they sent.
func TestForgedBootFloodManySources(t *testing.T) {
	e := newEnv(t, "phone", "flood") // fails under CI=true without root and ip
	raiseNeighbourTable(t, floodHosts+1024)
	if out, err := e.pbx.Command("ip", "addr", "add", floodPBX.String(), "dev", lantest.Iface).CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v: %s", err, out)
	}
	e.startListener(func(c *pnplistener.Config) {
		c.LinkCheck = pnplistener.LinkRequire
		c.MaxInflight = floodSlots
		c.NotifyTimeout = 10 * time.Second // forged transactions hold their slots
	})
	shedMark := int(floodSlots * pnplistener.DefaultConfig().ShedAt)
	f := openForger(t, e.lan.Host("flood"), floodHosts)

	// Sample the bounds while the flood runs.
	peaks, _ := watchPeaks(t, e, 10*time.Millisecond, "dialtone_pnp_listener_notifies_inflight", "dialtone_pnp_listener_notify_flows")
	maxInflight, maxFlows := &peaks[0], &peaks[1]

	// The flood: every host boots floodRounds times (a new Call-ID each),
	// one round every 400 ms, in a goroutine of its own.
	var sent atomic.Int64
	roundsDone := make(chan int, floodRounds)
	floodDone := make(chan struct{})
	go func() {
		defer close(floodDone)
		tick := time.NewTicker(400 * time.Millisecond)
		defer tick.Stop()
		for r := range floodRounds {
			for i := range floodHosts {
				sent.Add(int64(f.subscribe(i, fmt.Sprintf("fl%d-%d", r, i))))
			}
			roundsDone <- r
			<-tick.C
		}
	}()

	// The real phone boots in the middle of the flood.
	const realMAC = "001565a1b2c3"
	e.setMAC("phone", realMAC)
	ph, hp := e.phone("phone", 5059)
	for r := range roundsDone {
		if r == 1 {
			break
		}
	}
	deadline0 := time.Now().Add(60 * time.Second)
	// Like a phone, it sends its SUBSCRIBE again until answered (RFC 3261
	// Timer A): a datagram may be lost in a flood.
	sub := phonetest.Subscribe("yealink", realMAC, hp.Addr().String(), ph.Port(), "real1")
	for wait, answered := 500*time.Millisecond, false; !answered; wait = min(2*wait, 4*time.Second) {
		if time.Now().After(deadline0) {
			t.Fatal("the real phone's SUBSCRIBE was never answered")
		}
		ph.Send(group, sub)
		m, _ := ph.Recv(wait)
		if res, ok := m.(*sip.Response); ok {
			if res.StatusCode != 200 {
				t.Fatalf("real phone: %d", res.StatusCode)
			}
			answered = true
		}
	}
	// Inventory records the 3,600 forged discoveries queued before it.
	waitForWithin(t, "the real phone recorded as discovered", 90*time.Second, func() bool {
		res, err := e.admin.GetPhone(e.ctx, &inventoryv1.GetPhoneRequest{Name: "phones/" + realMAC})
		return err == nil && res.GetPhone().GetState() == inventoryv1.PhoneState_PHONE_STATE_DISCOVERED
	})
	e.assignDiscovered(realMAC)
	want, bootstrap := e.url(realMAC)
	if bootstrap || want == "" {
		t.Fatalf("assigned phone's URL %q (bootstrap %v)", want, bootstrap)
	}
	// A bootstrap NOTIFY from its boot may come first.
	deadline := time.Now().Add(90 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("the assigned phone got no NOTIFY with its URL")
		}
		m, from := ph.Recv(time.Until(deadline))
		req, ok := m.(*sip.Request)
		if !ok || req.Method != sip.NOTIFY {
			continue
		}
		ph.Answer(req, from, 200)
		if string(req.Body()) == want {
			break
		}
	}
	<-floodDone
	subs := float64(floodHosts * floodRounds)
	waitForWithin(t, "the flood's boots decided", 60*time.Second, func() bool {
		return e.counter("dialtone_pnp_listener_subscribes_total") >= subs*0.9
	})
	// Let the last transactions run out; the watcher keeps sampling.
	waitForWithin(t, "forged transactions ended", 30*time.Second, func() bool {
		return gauges(e, "dialtone_pnp_listener_notifies_inflight")[0] == 0
	})

	c := func(name string, labels ...string) float64 { return e.counter(name, labels...) }
	boots := func(outcome string) float64 {
		return c("dialtone_pnp_listener_notifies_total", "kind", "boot", "outcome", outcome)
	}
	answered := c("dialtone_pnp_listener_subscribes_total", "outcome", "answered")
	mismatch := c("dialtone_pnp_listener_datagrams_dropped_total", "reason", "link_layer_mismatch")
	unresolved := c("dialtone_pnp_listener_datagrams_dropped_total", "reason", "link_layer_unresolved")
	ampDrops := c("dialtone_pnp_listener_datagrams_dropped_total", "reason", "amplification_budget")
	t.Logf("%d forged hosts sent %d SUBSCRIBEs (%d bytes) and received %d bytes in %d datagrams", floodHosts, floodHosts*floodRounds, sent.Load(), f.rxBytes.Load(), f.rxDatagrams.Load())
	t.Logf("subscribes answered %v; link mismatch %v unresolved %v; boot NOTIFYs ok %v timeout %v shed %v shed_queue %v overload %v stale %v; amplification drops %v; max in flight %d (shed mark %d), max flows %d",
		answered, mismatch, unresolved, boots("ok"), boots("timeout"), boots("shed"), boots("shed_queue"), boots("overload"), boots("stale"), ampDrops, maxInflight.Load(), shedMark, maxFlows.Load())

	if answered < floodHosts {
		t.Errorf("%v SUBSCRIBEs answered (link layer proven), want at least one per forged host (%d)", answered, floodHosts)
	}
	if mismatch != 0 {
		t.Errorf("%v link-layer mismatches: every forged host had the MAC it named", mismatch)
	}
	// The real phone's NOTIFYs may hold a slot or two above the mark.
	if got := maxInflight.Load(); got > int64(shedMark)+2 {
		t.Errorf("%d NOTIFY slots in use at once, want <= the shed mark %d (+ the real phone's)", got, shedMark)
	}
	if got := maxFlows.Load(); got > 2*floodSlots+2 {
		t.Errorf("%d flows at once, want <= %d", got, 2*floodSlots+2)
	}
	if boots("shed")+boots("shed_queue") == 0 {
		t.Error("no forged boot shed: the flood never exceeded the admission bounds")
	}
	if got := boots("overload") + c("dialtone_pnp_listener_notifies_total", "kind", "late", "outcome", "overload"); got != 0 {
		t.Errorf("%v known-lane overloads", got)
	}
	if rx, tx := f.rxBytes.Load(), sent.Load(); rx > 3*tx {
		t.Errorf("forged hosts received %d bytes for %d sent: more than 3x", rx, tx)
	}
}

// assignDiscovered assigns a phone inventory recorded as discovered.
func (e *env) assignDiscovered(mac string) {
	t := e.t
	t.Helper()
	if _, err := e.admin.CreateTenant(e.ctx, &inventoryv1.CreateTenantRequest{TenantId: "acme", Tenant: &inventoryv1.Tenant{DisplayName: "ACME"}}); err != nil && !isExists(err) {
		t.Fatal(err)
	}
	if _, err := e.admin.CreateSipInterface(e.ctx, &inventoryv1.CreateSipInterfaceRequest{Parent: "tenants/acme", SipInterfaceId: "pbx",
		SipInterface: &inventoryv1.SipInterface{DisplayName: "PBX", Host: e.pbx.Addr().String(), UdpPort: 5060}}); err != nil && !isExists(err) {
		t.Fatal(err)
	}
	if _, err := e.admin.AssignPhone(e.ctx, &inventoryv1.AssignPhoneRequest{
		Name: "phones/" + mac, Tenant: "tenants/acme",
		CreateExtension: &inventoryv1.Extension{Number: "2" + mac[9:], DisplayName: "Desk", SipPassword: "s3cret-" + mac},
		Settings:        &inventoryv1.ProvisioningSettings{SipInterface: "tenants/acme/sipInterfaces/pbx"},
	}); err != nil {
		t.Fatal(err)
	}
}

func waitForWithin(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, within, what, cond)
}

// gauges reads gauges from the listener's registry (0 when absent).
func gauges(e *env, names ...string) []float64 {
	out := make([]float64, len(names))
	mfs, err := e.reg.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		for i, n := range names {
			if mf.GetName() == n && len(mf.GetMetric()) > 0 {
				out[i] = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
	}
	return out
}

// watchPeaks samples the listener's gauges names every interval, while a
// flood runs, until stop (or the test's end), keeping each one's highest
// value.
func watchPeaks(t *testing.T, e *env, every time.Duration, names ...string) (peaks []atomic.Int64, stop func()) {
	peaks = make([]atomic.Int64, len(names))
	done := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			for i, v := range gauges(e, names...) {
				for {
					old := peaks[i].Load()
					if int64(v) <= old || peaks[i].CompareAndSwap(old, int64(v)) {
						break
					}
				}
			}
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { close(done); watch.Wait() }) }
	t.Cleanup(stop)
	return peaks, stop
}

// raiseNeighbourTable makes room for n entries in the kernel's neighbour
// table (shared by every namespace; gc_thresh3 is 1,024 by default, and
// every forged host the listener answers takes an entry), restoring the
// old limits when the test ends if nobody changed them meanwhile.
func raiseNeighbourTable(t *testing.T, n int) {
	const dir = "/proc/sys/net/ipv4/neigh/default/"
	read := func(name string) int {
		b, err := os.ReadFile(dir + name)
		if err != nil {
			t.Fatalf("neighbour table limits: %v", err)
		}
		v, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	names := []string{"gc_thresh1", "gc_thresh2", "gc_thresh3"}
	old := []int{read(names[0]), read(names[1]), read(names[2])}
	if old[2] >= n {
		return
	}
	set := []int{max(old[0], n/4), max(old[1], n/2), n}
	for i, name := range names {
		if err := os.WriteFile(dir+name, []byte(strconv.Itoa(set[i])), 0o644); err != nil {
			t.Fatalf("raising %s: %v", name, err)
		}
	}
	t.Logf("neighbour table gc_thresh raised from %v to %v for the test", old, set)
	t.Cleanup(func() {
		for i := len(names) - 1; i >= 0; i-- {
			if read(names[i]) == set[i] {
				_ = os.WriteFile(dir+names[i], []byte(strconv.Itoa(old[i])), 0o644)
			}
		}
	})
}

// forger plays many hosts on one LAN port through a packet socket: each
// has its own MAC and IPv4 address, answers ARP for it (so the listener's
// link-layer check sees a real, distinct host) and never answers SIP.
type forger struct {
	fd      int
	ifindex int
	macs    []net.HardwareAddr
	ips     []netip.Addr
	byIP    map[netip.Addr]int
	// mute lists hosts that never answer ARP (their link-layer address
	// cannot be resolved); nil: all answer.
	mute        []bool
	rxBytes     atomic.Int64 // UDP payload bytes received by the forged hosts
	rxDatagrams atomic.Int64
	// rxTFTPData counts datagrams that are TFTP DATA or OACK (a transfer
	// started towards a forged host).
	rxTFTPData atomic.Int64
	done       chan struct{}
	wg         sync.WaitGroup
}

// openForger opens the packet socket in host's namespace and starts
// answering ARP for n hosts: MAC 00:15:65:f0:xx:xx, address floodFirst+i.
func openForger(t *testing.T, host *lantest.Host, n int) *forger {
	return openForgerMuted(t, host, n, nil)
}

// openForgerMuted is openForger where the hosts i with mute[i] never
// answer ARP.
func openForgerMuted(t *testing.T, host *lantest.Host, n int, mute []bool) *forger {
	f := &forger{byIP: map[netip.Addr]int{}, done: make(chan struct{}), mute: mute}
	ip := floodFirst
	for i := range n {
		f.macs = append(f.macs, net.HardwareAddr{0x00, 0x15, 0x65, 0xf0, byte(i >> 8), byte(i)})
		f.ips = append(f.ips, ip)
		f.byIP[ip] = i
		ip = ip.Next()
	}
	if !netip.MustParsePrefix("198.18.0.0/15").Contains(f.ips[n-1]) || !floodPBX.Masked().Contains(f.ips[n-1]) {
		t.Fatalf("forged addresses run out of the flood subnet at %v", f.ips[n-1])
	}
	err := host.Run(func() error {
		ifi, err := net.InterfaceByName(lantest.Iface)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind: %w", err)
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		f.fd, f.ifindex = fd, ifi.Index
		return nil
	})
	if err != nil {
		t.Fatalf("forger: %v", err)
	}
	f.wg.Go(f.read)
	t.Cleanup(func() {
		close(f.done)
		f.wg.Wait()
		unix.Close(f.fd)
	})
	return f
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (f *forger) read() {
	buf := make([]byte, 65536)
	for {
		select {
		case <-f.done:
			return
		default:
		}
		n, _, err := unix.Recvfrom(f.fd, buf, 0)
		if err != nil || n < 14 {
			continue
		}
		fr := buf[:n]
		switch binary.BigEndian.Uint16(fr[12:14]) {
		case unix.ETH_P_ARP:
			f.arp(fr[14:])
		case unix.ETH_P_IP:
			p := fr[14:]
			if len(p) < 28 || p[9] != unix.IPPROTO_UDP {
				continue
			}
			if _, ours := f.byIP[netip.AddrFrom4([4]byte(p[16:20]))]; !ours {
				continue
			}
			ihl := int(p[0]&0x0f) * 4
			total := int(binary.BigEndian.Uint16(p[2:]))
			if total > ihl+8 {
				f.rxBytes.Add(int64(total - ihl - 8))
				f.rxDatagrams.Add(1)
				if u := p[ihl+8:]; len(u) >= 2 && u[0] == 0 && (u[1] == 3 || u[1] == 6) {
					f.rxTFTPData.Add(1)
				}
			}
		}
	}
}

// arp answers a request for one of the forged addresses.
func (f *forger) arp(a []byte) {
	if len(a) < 28 || binary.BigEndian.Uint16(a[6:]) != 1 {
		return
	}
	i, ours := f.byIP[netip.AddrFrom4([4]byte(a[24:28]))]
	if !ours || i < len(f.mute) && f.mute[i] {
		return
	}
	sha, spa := a[8:14], a[14:18]
	r := make([]byte, 42)
	copy(r[0:], sha)
	copy(r[6:], f.macs[i])
	binary.BigEndian.PutUint16(r[12:], unix.ETH_P_ARP)
	p := r[14:]
	binary.BigEndian.PutUint16(p[0:], 1)
	binary.BigEndian.PutUint16(p[2:], unix.ETH_P_IP)
	p[4], p[5] = 6, 4
	binary.BigEndian.PutUint16(p[6:], 2)
	copy(p[8:], f.macs[i])
	ip := f.ips[i].As4()
	copy(p[14:], ip[:])
	copy(p[18:], sha)
	copy(p[24:], spa)
	f.send(r, net.HardwareAddr(sha), unix.ETH_P_ARP)
}

func (f *forger) send(fr []byte, dst net.HardwareAddr, proto uint16) {
	sa := &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: f.ifindex, Halen: 6}
	copy(sa.Addr[:], dst)
	_ = unix.Sendto(f.fd, fr, 0, sa)
}

// groupMAC is 224.0.1.75's Ethernet address.
var groupMAC = net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x01, 0x4b}

// subscribe sends host i's multicast boot SUBSCRIBE naming its own MAC and
// returns its size.
func (f *forger) subscribe(i int, callID string) int {
	mac := strings.ReplaceAll(f.macs[i].String(), ":", "")
	body := []byte(phonetest.Subscribe("yealink", mac, f.ips[i].String(), 5060, callID))
	fr := make([]byte, 14+20+8+len(body))
	copy(fr[0:], groupMAC)
	copy(fr[6:], f.macs[i])
	binary.BigEndian.PutUint16(fr[12:], unix.ETH_P_IP)
	ip := fr[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(body)))
	ip[8] = 1 // a PnP SUBSCRIBE never leaves the LAN
	ip[9] = unix.IPPROTO_UDP
	s4 := f.ips[i].As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], []byte{224, 0, 1, 75})
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	u := fr[34:]
	binary.BigEndian.PutUint16(u[0:], 5060)
	binary.BigEndian.PutUint16(u[2:], 5060)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(body)))
	copy(u[8:], body) // UDP checksum 0: none (allowed over IPv4)
	f.send(fr, groupMAC, unix.ETH_P_IP)
	return len(body)
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
