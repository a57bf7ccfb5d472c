//go:build linux

package phonesim

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/sipmsg"
	"github.com/dialtone-voip/dialtone/cmd/internal/vendorsim"
	"github.com/dialtone-voip/dialtone/platform/testenv/lantest"
)

// TestOwnLink boots two phones through one Link on a LAN of network
// namespaces: each phone's SUBSCRIBE comes from its own address, and the
// responder's kernel resolves each address to that phone's own MAC (the
// Link answers ARP), as the PnP listener's link-layer check needs.
func TestOwnLink(t *testing.T) {
	lan := lantest.New(t, "pbx", "lan")
	pbx, host := lan.Host("pbx"), lan.Host("lan")
	var mc *net.UDPConn
	if err := pbx.Run(func() (err error) {
		ifi, err := net.InterfaceByName(lantest.Iface)
		if err != nil {
			return err
		}
		mc, err = net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 1, 75), Port: 5060})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	ps := newProvServer(t, "snom")
	from := make(chan netip.AddrPort, 8)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, src, err := mc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			m, err := sipmsg.Parse(buf[:n])
			if err != nil || m.Method != "SUBSCRIBE" {
				continue
			}
			from <- src
			_, _ = mc.WriteToUDPAddrPort(sipmsg.Response(m, 200, "OK", "t1").Bytes(), src)
			body := ps.base()
			nt := &sipmsg.Message{Method: "NOTIFY", RequestURI: sipmsg.URI(m.Get("Contact")), Body: []byte(body)}
			nt.Headers = []sipmsg.Header{
				{Name: "Via", Value: "SIP/2.0/UDP " + pbx.Addr().String() + ":5060;branch=z9hG4bKol"},
				{Name: "From", Value: m.Get("To") + ";tag=t1"}, {Name: "To", Value: m.Get("From")},
				{Name: "Call-ID", Value: m.Get("Call-ID")}, {Name: "CSeq", Value: "2 NOTIFY"},
				{Name: "Event", Value: "ua-profile"}, {Name: "Content-Type", Value: "application/url"},
				{Name: "Content-Length", Value: fmt.Sprint(len(body))},
			}
			_, _ = mc.WriteToUDPAddrPort(nt.Bytes(), src)
		}
	}()

	var link *Link
	if err := host.Run(func() (err error) { link, err = OpenLink(lantest.Iface); return err }); err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	phones := map[string]string{"198.18.0.100": "000413aabb01", "198.18.0.101": "000413aabb02"}
	for ip, mac := range phones {
		p, _ := vendorsim.NewPhone("snom", "D785", mac, "")
		rep, err := Boot(context.Background(), Options{Phone: p, Link: link, Local: netip.MustParseAddr(ip),
			Timeout: 5 * time.Second, WaitNotify: 5 * time.Second})
		if err != nil {
			t.Fatalf("boot %s: %v", mac, err)
		}
		// The NOTIFY reached the phone through the Link, and it fetched.
		if len(rep.Rounds) == 0 || len(rep.Rounds[0].Files) == 0 || rep.Rounds[0].Error != "" {
			t.Errorf("%s: rounds %+v", mac, rep.Rounds)
		}
		if src := <-from; src.Addr().String() != ip {
			t.Errorf("SUBSCRIBE from %s, want %s", src, ip)
		}
	}
	out, err := pbx.Command("ip", "neigh", "show", "dev", lantest.Iface).CombinedOutput()
	if err != nil {
		t.Fatalf("ip neigh: %v: %s", err, out)
	}
	for ip, mac := range phones {
		want := ip + " lladdr " + strings.Join([]string{mac[0:2], mac[2:4], mac[4:6], mac[6:8], mac[8:10], mac[10:12]}, ":")
		if !strings.Contains(string(out), want) {
			t.Errorf("pbx neighbour table lacks %q:\n%s", want, out)
		}
	}
}
