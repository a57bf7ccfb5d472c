package pnplan

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dialtone-voip/dialtone/cmd/internal/tftptest"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/lantest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
)

// TFTP flood sizes: forged hosts (every muteEvery-th never answers ARP),
// rounds, and the front's limits, small so that the flood overflows them.
const (
	tftpFloodHosts  = 240
	tftpFloodRounds = 4
	tftpMuteEvery   = 8
	tftpMaxPerSrc   = 2
	tftpMaxTotal    = 12
	tftpMaxFile     = 8 << 10 // above a 7960's files (about 1 KiB)
)

// TestTFTPFloodManySources: 240 forged hosts, each its own MAC and address
// in 198.19.0.0/16 (every 8th never answers ARP, so its requests wait out
// the link check and hold transfer slots), flood the real TFTP front — in
// front of the real edge, renderer and inventory — with read requests
// (their own and common names, other phones' MACs among them the real
// phone's, names that are no phone file), write requests and malformed or
// oversized datagrams, several at once per host from different ports,
// while an assigned 7960 fetches its files. Asserted: the real phone gets
// its account (retrying as a phone does after a refusal) and ends bound to
// its link; the transfers in flight never exceed --tftp-max-transfers in
// all nor --tftp-max-per-source for one address; every refusal is counted
// by reason; no forged request reaches the edge, no forged host gets a
// TFTP DATA block; and the forged hosts receive at most 3x the UDP bytes
// of the requests they sent (a refusal is one 19-byte TFTP error, sent
// once and never retransmitted, the link check's probe a 4-byte datagram,
// and a malformed datagram gets nothing; 3x leaves room for the shortest
// requests).
func TestTFTPFloodManySources(t *testing.T) {
	e, edge := newTFTPEnv(t, nil, "phone", "flood") // fails under CI=true without root and ip
	raiseNeighbourTable(t, tftpFloodHosts+1024)
	if out, err := e.pbx.Command("ip", "addr", "add", floodPBX.String(), "dev", lantest.Iface).CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v: %s", err, out)
	}
	const realMAC = "0019aab2c3d5"
	e.setMAC("phone", realMAC)
	e.assign(realMAC, "7960")
	e.startListener(func(c *pnplistener.Config) {
		c.TFTPAddr = ":69"
		c.TFTPMaxPerSource, c.TFTPMaxTransfers = tftpMaxPerSrc, tftpMaxTotal
		c.TFTPFetchTimeout = 2 * time.Second
		c.TFTPMaxFileSize = tftpMaxFile
	})
	var pbxMAC net.HardwareAddr
	if err := e.pbx.Run(func() error {
		ifi, err := net.InterfaceByName(lantest.Iface)
		if err == nil {
			pbxMAC = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	mute := make([]bool, tftpFloodHosts)
	for i := range mute {
		mute[i] = i%tftpMuteEvery == tftpMuteEvery-1
	}
	f := openForgerMuted(t, e.lan.Host("flood"), tftpFloodHosts, mute)
	dst := floodPBX.Addr()

	// Sample the bounds while the flood runs.
	peaks, stop := watchPeaks(t, e, 5*time.Millisecond, "dialtone_pnp_listener_tftp_transfers_inflight", "dialtone_pnp_listener_tftp_source_transfers_max")
	maxTotal, maxPerSrc := &peaks[0], &peaks[1]

	// What each forged host sends per round, from ports of its own.
	realFile := "SIP" + strings.ToUpper(realMAC) + ".cnf"
	rrq := func(name string) []byte { return []byte("\x00\x01" + name + "\x00octet\x00") }
	// UDP payload bytes (all, and of read and write requests); datagrams; requests.
	var sent, reqSent, datagrams, requests atomic.Int64
	floodDone := make(chan struct{})
	go func() {
		defer close(floodDone)
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for r := range tftpFloodRounds {
			for i := range tftpFloodHosts {
				own := strings.ToUpper(strings.ReplaceAll(f.macs[i].String(), ":", ""))
				other := strings.ToUpper(strings.ReplaceAll(f.macs[(i+1)%tftpFloodHosts].String(), ":", ""))
				reqs := [][]byte{
					rrq([]string{"SIPDefault.cnf", "SIP" + own + ".cnf", "SEP" + own + ".cnf.xml"}[r%3]),
					rrq([]string{realFile, "SIP" + other + ".cnf", "SEP" + strings.ToUpper(realMAC) + ".cnf.xml"}[i%3]),
					rrq([]string{"../../etc/passwd", "OS79XX.TXT", "dialtone.bin"}[i%3] + "\x00blksize\x001468\x00tsize\x000"),
					append([]byte("\x00\x02"), "SIP"+own+".cnf\x00octet\x00"...), // a write
				}
				malformed := [][]byte{
					{0, 1}, // truncated
					append([]byte{0, 1}, strings.Repeat("A", 1400)...), // oversized, no NUL
					{0, 7, 'x', 0}, // unknown opcode
				}
				if i%4 == 3 {
					// Pace the flood (about 5 datagrams a millisecond) so
					// that the veth backlog, which drops silently, keeps up;
					// what the server's socket cannot take, the kernel counts.
					time.Sleep(time.Millisecond) // sleep: pacing the flood is the load under test
				}
				for k, p := range append(reqs, malformed...) {
					port := uint16(20000 + (r*16+k)%4096)
					n := int64(f.udp(i, pbxMAC, dst, port, 69, p))
					sent.Add(n)
					datagrams.Add(1)
					if k < len(reqs) {
						requests.Add(1)
						reqSent.Add(n)
					}
				}
			}
			<-tick.C
		}
	}()

	// The real phone, in the middle of the flood: like a 7960 it fetches
	// again after a refusal (a limit may be full) until it has its files.
	phone := e.lan.Host("phone")
	server := e.pbx.Addr().String() + ":69"
	waitFor(t, "the flood filling the front", func() bool {
		return e.counter("dialtone_pnp_listener_tftp_requests_total", "outcome", "limit_total") > 0
	})
	select {
	case <-floodDone:
		t.Fatal("the flood ended before the phone fetched")
	default:
	}
	fetch := func(name, want string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for tries := 1; ; tries++ {
			got, err := tftptest.Get(t, phone, server, name)
			if err == nil && strings.Contains(got, want) {
				t.Logf("real phone got %s after %d tries", name, tries)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the real phone never got %s: %q, %v", name, got, err)
			}
			time.Sleep(200 * time.Millisecond) // sleep: a phone's retry interval, not synchronisation
		}
	}
	fetch("SIPDefault.cnf", "SIPDefault.cnf")
	fetch(realFile, `line1_password: "s3cret-`+realMAC+`"`)
	<-floodDone

	c := func(outcome string) float64 {
		return e.counter("dialtone_pnp_listener_tftp_requests_total", "outcome", outcome)
	}
	counted := func() float64 { return e.counter("dialtone_pnp_listener_tftp_requests_total") }
	// Every forged datagram is decided (the muted hosts' requests wait out
	// the link check); a few may be lost in the socket buffers.
	// Every forged datagram is decided and counted, or was dropped by the
	// kernel because the server socket's buffer was full (the muted
	// hosts' requests wait out the link check first).
	if testenv.Poll(30*time.Second, func() bool {
		return counted()+socketDrops(t, e.pbx, 69) >= 0.95*float64(datagrams.Load()) &&
			gauges(e, "dialtone_pnp_listener_tftp_transfers_inflight")[0] == 0
	}) != nil {
		t.Errorf("%v outcomes counted and %v dropped by the kernel for %d forged datagrams", counted(), socketDrops(t, e.pbx, 69), datagrams.Load())
	}
	waitFor(t, "the phone provisioned by its link", func() bool {
		res, err := e.admin.GetPhone(e.ctx, &inventoryv1.GetPhoneRequest{Name: "phones/" + realMAC})
		p := res.GetPhone()
		return err == nil && p.GetState() == inventoryv1.PhoneState_PHONE_STATE_PROVISIONED && p.GetSecretRelease().GetId() == "link:"+realMAC
	})
	stop()

	reasons := []string{"served", "bad_name", "mac_mismatch", "link_unresolved", "limit_source", "limit_total", "unknown_phone",
		"write_refused", "malformed", "not_lan", "edge_not_found", "edge_error", "inventory_error", "send_error"}
	var line []string
	for _, r := range reasons {
		line = append(line, fmt.Sprintf("%s=%v", r, c(r)))
	}
	rx, tx, txReq := f.rxBytes.Load(), sent.Load(), reqSent.Load()
	t.Logf("%d forged hosts sent %d datagrams (%d bytes; %d requests, %d bytes) and received %d bytes in %d datagrams (%.2fx the requests' bytes); max in flight %d (limit %d), max per source %d (limit %d)",
		tftpFloodHosts, datagrams.Load(), tx, requests.Load(), txReq, rx, f.rxDatagrams.Load(), float64(rx)/float64(txReq), maxTotal.Load(), tftpMaxTotal, maxPerSrc.Load(), tftpMaxPerSrc)
	t.Logf("outcomes: %s; dropped by the kernel (socket buffer full): %v", strings.Join(line, " "), socketDrops(t, e.pbx, 69))

	if got := maxTotal.Load(); got > tftpMaxTotal {
		t.Errorf("%d transfers in flight at once, limit %d", got, tftpMaxTotal)
	}
	if got := maxPerSrc.Load(); got > tftpMaxPerSrc {
		t.Errorf("%d transfers in flight for one source, limit %d", got, tftpMaxPerSrc)
	}
	if maxTotal.Load() < tftpMaxTotal/2 {
		t.Errorf("at most %d transfers in flight: the flood never pressed the limit %d", maxTotal.Load(), tftpMaxTotal)
	}
	for _, r := range []string{"bad_name", "mac_mismatch", "link_unresolved", "limit_source", "limit_total", "unknown_phone", "write_refused", "malformed"} {
		if c(r) == 0 {
			t.Errorf("no refusal counted as %s", r)
		}
	}
	for _, r := range []string{"not_lan", "edge_error", "inventory_error"} {
		if c(r) != 0 {
			t.Errorf("%v requests ended %s", c(r), r)
		}
	}
	if got, most := counted(), float64(datagrams.Load())+100; got > most {
		t.Errorf("%v outcomes counted for %d forged datagrams and the phone's few", got, datagrams.Load())
	}
	// Only the real phone's requests reached the edge, each with the
	// listener's link assertion.
	if served, honoured := c("served"), edge.counter(t, "dialtone_provision_http_link_assertions_total", "outcome", "honoured"); honoured != served || served < 2 {
		t.Errorf("edge honoured %v link assertions, the front served %v files", honoured, served)
	}
	// The bound holds against the requests alone, not counting the
	// malformed and oversized datagrams, which get no answer at all.
	if rx > 3*txReq {
		t.Errorf("forged hosts received %d bytes for %d bytes of requests: more than 3x", rx, txReq)
	}
	if n := f.rxTFTPData.Load(); n != 0 {
		t.Errorf("forged hosts received %d TFTP DATA or OACK datagrams", n)
	}
	// The size cap: what was sent is the real phone's files, each below it.
	if b := e.counter("dialtone_pnp_listener_tftp_bytes_total"); b == 0 || b > c("served")*tftpMaxFile {
		t.Errorf("%v file bytes sent for %v files (cap %d each)", b, c("served"), tftpMaxFile)
	}
}

// udp sends payload from forged host i (its MAC, its address, port sport)
// to dst:dport at dstMAC and returns the payload's size.
func (f *forger) udp(i int, dstMAC net.HardwareAddr, dst netip.Addr, sport, dport uint16, payload []byte) int {
	fr := make([]byte, 14+20+8+len(payload))
	copy(fr[0:], dstMAC)
	copy(fr[6:], f.macs[i])
	binary.BigEndian.PutUint16(fr[12:], unix.ETH_P_IP)
	ip := fr[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8] = 64
	ip[9] = unix.IPPROTO_UDP
	s4, d4 := f.ips[i].As4(), dst.As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	u := fr[34:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload) // UDP checksum 0: none (allowed over IPv4)
	f.send(fr, dstMAC, unix.ETH_P_IP)
	return len(payload)
}

// socketDrops reads the kernel's drop count of the UDP socket bound to
// port in host's namespace (/proc/net/udp, last column): datagrams that
// arrived while its receive buffer was full.
func socketDrops(t *testing.T, h *lantest.Host, port int) float64 {
	t.Helper()
	out, err := h.Command("cat", "/proc/net/udp").Output()
	if err != nil {
		t.Fatalf("/proc/net/udp: %v", err)
	}
	var drops float64
	want := fmt.Sprintf(":%04X", port)
	for _, l := range strings.Split(string(out), "\n")[1:] {
		fs := strings.Fields(l)
		if len(fs) < 13 || !strings.HasSuffix(fs[1], want) {
			continue
		}
		var n float64
		if _, err := fmt.Sscan(fs[len(fs)-1], &n); err == nil {
			drops += n
		}
	}
	return drops
}
