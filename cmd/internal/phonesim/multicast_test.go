package phonesim

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/dialtone-voip/dialtone/cmd/internal/sipmsg"
	"github.com/dialtone-voip/dialtone/cmd/internal/vendorsim"
	"github.com/dialtone-voip/dialtone/platform/testenv"
)

const netnsEnv = "PHONESIM_TEST_IN_NETNS"

// TestMulticastSubscribe sends a real multicast SUBSCRIBE to 224.0.1.75:5060
// and checks it arrives as a phone's does: to the group, with TTL 1, out of
// the interface of the chosen local address. It runs inside a private
// network namespace (unshare -n) whose only interface is lo, with a
// multicast route on it, so no packet can leave the machine; the namespace
// dies with the child process.
func TestMulticastSubscribe(t *testing.T) {
	if os.Getenv(netnsEnv) == "" {
		testenv.RequireRoot(t)
		unshare := testenv.LookBinary(t, "unshare")
		testenv.LookBinary(t, "ip")
		script := `ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec "$0" -test.run '^TestMulticastSubscribe$' -test.count=1 -test.v`
		cmd := exec.Command(unshare, "-n", "sh", "-c", script, os.Args[0])
		cmd.Env = append(os.Environ(), netnsEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("in a network namespace: %v\n%s", err, out)
		}
		t.Logf("in a network namespace:\n%s", out)
		return
	}

	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	group := netip.MustParseAddrPort("224.0.1.75:5060")
	mc, err := net.ListenMulticastUDP("udp4", lo, net.UDPAddrFromAddrPort(group))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	pc := ipv4.NewPacketConn(mc)
	if err := pc.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
		t.Fatal(err)
	}
	reply, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer reply.Close()

	ps := newProvServer(t, "snom")
	type seen struct {
		ttl  int
		dst  net.IP
		ifi  int
		from netip.AddrPort
		msg  *sipmsg.Message
	}
	got := make(chan seen, 4)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, cm, src, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			m, err := sipmsg.Parse(buf[:n])
			if err != nil || m.Method != "SUBSCRIBE" {
				continue
			}
			from := src.(*net.UDPAddr).AddrPort()
			got <- seen{ttl: cm.TTL, dst: cm.Dst, ifi: cm.IfIndex, from: from, msg: m}
			resp := sipmsg.Response(m, 200, "OK", "t1")
			_, _ = reply.WriteToUDPAddrPort(resp.Bytes(), from)
			body := ps.base()
			nt := &sipmsg.Message{Method: "NOTIFY", RequestURI: sipmsg.URI(m.Get("Contact")), Body: []byte(body)}
			nt.Headers = []sipmsg.Header{
				{Name: "Via", Value: "SIP/2.0/UDP " + reply.LocalAddr().String() + ";branch=z9hG4bKmc"},
				{Name: "From", Value: m.Get("To") + ";tag=t1"}, {Name: "To", Value: m.Get("From")},
				{Name: "Call-ID", Value: m.Get("Call-ID")}, {Name: "CSeq", Value: "2 NOTIFY"},
				{Name: "Event", Value: "ua-profile"}, {Name: "Content-Type", Value: "application/url"},
				{Name: "Content-Length", Value: fmt.Sprint(len(body))},
			}
			_, _ = reply.WriteToUDPAddrPort(nt.Bytes(), from)
		}
	}()

	p, _ := vendorsim.NewPhone("snom", "D785", "000413aabbcc", "")
	rep, err := Boot(context.Background(), Options{Phone: p, Local: netip.MustParseAddr("127.0.0.1"), SIPPort: 5062,
		Group: group, Timeout: 5 * time.Second, WaitNotify: 5 * time.Second})
	if err != nil {
		t.Fatalf("boot: %v", err)
	}
	select {
	case s := <-got:
		if s.ttl != 1 {
			t.Errorf("SUBSCRIBE TTL %d, want 1", s.ttl)
		}
		if !s.dst.Equal(net.IPv4(224, 0, 1, 75)) {
			t.Errorf("SUBSCRIBE to %v, want the group", s.dst)
		}
		if s.ifi != lo.Index {
			t.Errorf("SUBSCRIBE arrived on interface %d, want lo (%d)", s.ifi, lo.Index)
		}
		if s.from != netip.MustParseAddrPort("127.0.0.1:5062") {
			t.Errorf("SUBSCRIBE from %s, want 127.0.0.1:5062 (--local-addr, --sip-port)", s.from)
		}
		if via := s.msg.Get("Via"); via != "SIP/2.0/UDP 127.0.0.1:5062;rport" {
			t.Errorf("Via %q", via)
		}
	case <-time.After(time.Second):
		t.Fatal("no SUBSCRIBE seen")
	}
	if rep.Config == nil || len(rep.Config.Accounts) != 2 {
		t.Errorf("config %+v", rep.Config)
	}
}
