package pnplan

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/phonetest"
)

// pbxSocket binds 0.0.0.0:5060 in the pbx namespace as a PBX would; with
// reuse it sets SO_REUSEADDR (Asterisk, FreeSWITCH and most PBXes do).
func (e *env) pbxSocket(reuse bool) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := e.pbx.Run(func() error {
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				if reuse {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
				}
			}); err != nil {
				return err
			}
			return serr
		}}
		pc, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:5060")
		if err != nil {
			return err
		}
		c = pc.(*net.UDPConn)
		return nil
	})
	if err == nil {
		e.t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func TestBesidePBX(t *testing.T) {
	e := newEnv(t, "phone1")
	pbxSock, err := e.pbxSocket(true)
	if err != nil {
		t.Fatal(err)
	}
	// Alone mode cannot share the PBX's port... (both set SO_REUSEADDR, so
	// the kernel would allow it and the later socket would steal the PBX's
	// unicast: that is exactly why beside-pbx mode exists.)
	e.startListener(func(c *pnplistener.Config) {
		c.BindMode = "beside-pbx"
		c.ReplyPort = 5062
	})
	pbx := e.pbx.Addr()
	ph, h := e.phone("phone1", 5060)
	const mac = "0004130a0b01" // snom
	e.setMAC("phone1", mac)
	boot(t, ph, h, pbx, "snom", mac, "sn1")
	n := expectNotify(t, ph, pbx, "sn1", 200)
	if n.Via().Port != 5062 || n.Contact().Address.Port != 5062 {
		t.Errorf("NOTIFY Via %v Contact %v: want the reply port 5062", n.Via(), n.Contact())
	}
	url, _ := e.url(mac)
	if want := url + "{mac}.xml"; string(n.Body()) != want {
		t.Errorf("snom NOTIFY body %q, want %q", n.Body(), want)
	}

	// Unicast SIP to the host's port 5060 still reaches the PBX only.
	opts := "OPTIONS sip:pbx@" + pbx.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + h.Addr().String() + ":5060;branch=z9hG4bKopt1\r\n" +
		"From: <sip:p@" + h.Addr().String() + ">;tag=1\r\nTo: <sip:pbx@" + pbx.String() + ">\r\nCall-ID: opt1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	ph.Send(pbx.String()+":5060", opts)
	buf := make([]byte, 4096)
	_ = pbxSock.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := pbxSock.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("the PBX socket never got the unicast OPTIONS: %v", err)
		}
		if strings.HasPrefix(string(buf[:n]), "OPTIONS ") {
			break // (it may also see the multicast SUBSCRIBEs; a PBX ignores those)
		}
	}
	ph.ExpectNothing(300 * time.Millisecond) // the listener did not answer 405
	if got := e.counter("dialtone_pnp_listener_unexpected_requests_total"); got != 0 {
		t.Errorf("the listener saw the PBX's unicast: %v", got)
	}
}

func TestBesidePBXNeedsReuse(t *testing.T) {
	e := newEnv(t, "phone1")
	if _, err := e.pbxSocket(false); err != nil {
		t.Fatal(err)
	}
	cfg := pnplistener.DefaultConfig()
	cfg.BindMode = "beside-pbx"
	svc, err := pnplistener.New(cfg, pnplistener.Deps{Inventory: dial(t, e.invAddr, listenerToken), InNetns: e.pbx.Run})
	if err != nil {
		t.Fatal(err)
	}
	err = svc.Run(e.ctx)
	if err == nil || !strings.Contains(err.Error(), "SO_REUSEADDR") {
		t.Fatalf("Run beside a PBX socket without SO_REUSEADDR: %v", err)
	}
}

func TestForeignSourceDropped(t *testing.T) {
	e := newEnv(t, "phone1")
	e.startListener(nil)
	h := e.lan.Host("phone1")
	// A second address outside every subnet of the pbx's interfaces.
	if out, err := h.Command("ip", "addr", "add", "203.0.113.7/24", "dev", h.Iface()).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var c *net.UDPConn
	if err := h.Run(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 5060})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ph := phonetest.Wrap(t, c)
	ph.Send(group, phonetest.Subscribe("yealink", "001565f0f0f0", "203.0.113.7", 5060, "x1"))
	ph.ExpectNothing(time.Second)
	waitFor(t, "the drop to be counted", func() bool {
		return e.counter("dialtone_pnp_listener_datagrams_dropped_total", "reason", "foreign_source") == 1
	})
	if _, err := e.admin.GetPhone(e.ctx, &inventoryv1.GetPhoneRequest{Name: "phones/001565f0f0f0"}); err == nil {
		t.Error("a phone from a foreign subnet was discovered")
	}
}
