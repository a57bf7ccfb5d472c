package pnplan

import (
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/phonetest"
)

// setMAC gives host's eth0 the phone's MAC.
func (e *env) setMAC(host, mac string) {
	e.t.Helper()
	if err := e.lan.Host(host).SetMAC(mac); err != nil {
		e.t.Fatal(err)
	}
}

// assign creates an assigned phone with a line (so its files hold a secret).
func (e *env) assign(mac, model string) {
	t := e.t
	t.Helper()
	if _, err := e.admin.CreateTenant(e.ctx, &inventoryv1.CreateTenantRequest{TenantId: "acme", Tenant: &inventoryv1.Tenant{DisplayName: "ACME"}}); err != nil && !isExists(err) {
		t.Fatal(err)
	}
	if _, err := e.admin.CreateSipInterface(e.ctx, &inventoryv1.CreateSipInterfaceRequest{Parent: "tenants/acme", SipInterfaceId: "pbx",
		SipInterface: &inventoryv1.SipInterface{DisplayName: "PBX", Host: e.pbx.Addr().String(), UdpPort: 5060}}); err != nil && !isExists(err) {
		t.Fatal(err)
	}
	if _, err := e.admin.CreatePhone(e.ctx, &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: mac, Model: model}}); err != nil {
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

func isExists(err error) bool { return status.Code(err) == codes.AlreadyExists }

// forge sends a SUBSCRIBE naming mac from ph (multicast, or unicast to the
// pbx), checks the harmless 200 OK and that no NOTIFY follows.
func forge(t *testing.T, ph *phonetest.Phone, hostAddr, pbx netip.Addr, mac, callID string, unicast bool) {
	t.Helper()
	to := group
	if unicast {
		to = pbx.String() + ":5060"
	}
	ph.Send(to, phonetest.Subscribe("yealink", mac, hostAddr.String(), ph.Port(), callID))
	if res := ph.ExpectResponse(5 * time.Second); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	ph.ExpectNothing(1500 * time.Millisecond)
}

// TestLinkLayerProof: a host on the LAN naming an assigned phone's MAC —
// over multicast and unicast, while the phone is online and for one never
// seen — gets no NOTIFY (so no URL, so no file with a secret), is not
// discovered nor "last seen"; the real phone still gets its URL, and token
// rotation and check-sync reach only the real phone.
func TestLinkLayerProof(t *testing.T) {
	e := newEnv(t, "phone", "attacker")
	e.startListener(nil) // --pnp-link-check=require is the default
	pbx := e.pbx.Addr()
	const victim, absent = "001565c0ffee", "001565deadbe" // absent: assigned, never on the LAN
	e.setMAC("phone", victim)
	e.assign(victim, "T54W")
	e.assign(absent, "T54W")
	real, hp := e.phone("phone", 5059)
	evil, ha := e.phone("attacker", 5059)
	attackerMAC, err := ha.MAC()
	if err != nil {
		t.Fatal(err)
	}
	mismatches := func() float64 {
		return e.counter("dialtone_pnp_listener_datagrams_dropped_total", "reason", "link_layer_mismatch")
	}

	t.Run("phone never seen: multicast and unicast forgeries get nothing", func(t *testing.T) {
		forge(t, evil, ha.Addr(), pbx, victim, "f1", false)
		forge(t, evil, ha.Addr(), pbx, victim, "f2", true)
		forge(t, evil, ha.Addr(), pbx, absent, "f3", false)
		forge(t, evil, ha.Addr(), pbx, absent, "f4", true)
		waitFor(t, "4 mismatches", func() bool { return mismatches() == 4 })
		for _, mac := range []string{victim, absent} {
			if n := e.discoveries(mac); n != 0 {
				t.Errorf("%s: %d discoveries from forged SUBSCRIBEs", mac, n)
			}
		}
		// Flooding with invented phones fails the same way.
		forge(t, evil, ha.Addr(), pbx, "001565123456", "f5", false)
		waitFor(t, "the invented phone dropped", func() bool { return mismatches() == 5 })
		if n := e.discoveries("001565123456"); n != 0 {
			t.Errorf("invented phone discovered %d times", n)
		}
	})

	t.Run("the real phone still gets its URL", func(t *testing.T) {
		boot(t, real, hp, pbx, "yealink", victim, "r1")
		n := expectNotify(t, real, pbx, "r1", 200)
		if url, _ := e.url(victim); string(n.Body()) != url {
			t.Fatalf("NOTIFY body %q, inventory URL %q", n.Body(), url)
		}
		waitFor(t, "the phone's discovery", func() bool { return e.discoveries(victim) == 1 })
	})

	t.Run("phone online: forgeries get nothing and do not move it", func(t *testing.T) {
		forge(t, evil, ha.Addr(), pbx, victim, "f6", false)
		forge(t, evil, ha.Addr(), pbx, victim, "f7", true)
		waitFor(t, "2 more mismatches", func() bool { return mismatches() == 7 })
		real.ExpectNothing(200 * time.Millisecond)
	})

	t.Run("token rotation and check-sync reach only the real phone", func(t *testing.T) {
		if _, err := e.admin.RotateProvisioningToken(e.ctx, &inventoryv1.RotateProvisioningTokenRequest{Name: "phones/" + victim}); err != nil {
			t.Fatal(err)
		}
		n := expectNotify(t, real, pbx, "r1", 200)
		if url, _ := e.url(victim); string(n.Body()) != url {
			t.Fatalf("rotation NOTIFY body %q, inventory URL %q", n.Body(), url)
		}
		if _, err := e.admin.ReprovisionPhone(e.ctx, &inventoryv1.ReprovisionPhoneRequest{Name: "phones/" + victim}); err != nil {
			t.Fatal(err)
		}
		req, from := real.ExpectRequest(10 * time.Second)
		if req.Method != sip.NOTIFY || header(req, "Event") != "check-sync" {
			t.Fatalf("want check-sync, got %s %q", req.Method, header(req, "Event"))
		}
		real.Answer(req, from, 200)
		evil.ExpectNothing(500 * time.Millisecond)
	})

	t.Run("checked again at send time: the address now answers with another MAC", func(t *testing.T) {
		// The phone's address changes hands (the attacker's MAC on the
		// phone's port, the kernel's entry forgotten): rotation and
		// check-sync are withheld, not sent to the new holder.
		e.setMAC("phone", attackerMAC[:10]+"99")
		if out, err := e.pbx.Command("ip", "neigh", "flush", "dev", "eth0").CombinedOutput(); err != nil {
			t.Fatalf("ip neigh flush: %v: %s", err, out)
		}
		if _, err := e.admin.RotateProvisioningToken(e.ctx, &inventoryv1.RotateProvisioningTokenRequest{Name: "phones/" + victim}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "late NOTIFY withheld", func() bool {
			return e.counter("dialtone_pnp_listener_notifies_total", "kind", "late", "outcome", "link_layer_mismatch") == 1
		})
		if _, err := e.admin.ReprovisionPhone(e.ctx, &inventoryv1.ReprovisionPhoneRequest{Name: "phones/" + victim}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "check-sync withheld", func() bool {
			return e.counter("dialtone_pnp_listener_notifies_total", "kind", "check_sync", "outcome", "link_layer_mismatch") == 1
		})
		real.ExpectNothing(300 * time.Millisecond)
	})
}
