package cluster

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// setupLAN builds the phone LAN: a bridge in the host namespace holding
// HostLANAddr (so the namespaces reach the services), and two namespaces
// on it — PBXNetns for the pnp-listener and PhoneNetns for phonesim — with
// multicast routed to the LAN, as on an office network. Addresses are in
// 198.18.0.0/15, which is never routed.
func setupLAN() error {
	teardownLAN()
	steps := [][]string{
		{"link", "add", Bridge, "type", "bridge", "mcast_snooping", "0"},
		{"addr", "add", HostLANAddr + "/" + lanBits, "dev", Bridge},
		{"link", "set", Bridge, "up"},
	}
	for i, ns := range []struct{ name, addr string }{{PBXNetns, PBXAddr}, {PhoneNetns, PhoneAddr}} {
		host := fmt.Sprintf("dtc-v%d", i)
		steps = append(steps,
			[]string{"netns", "add", ns.name},
			[]string{"link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns.name},
			[]string{"link", "set", host, "master", Bridge, "up"},
			[]string{"-n", ns.name, "link", "set", "lo", "up"},
			[]string{"-n", ns.name, "addr", "add", ns.addr + "/" + lanBits, "dev", "eth0"},
			[]string{"-n", ns.name, "link", "set", "eth0", "up", "multicast", "on"},
			[]string{"-n", ns.name, "route", "add", "224.0.0.0/4", "dev", "eth0"},
		)
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			teardownLAN()
			return fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return nil
}

// teardownLAN removes what setupLAN made; missing pieces are not errors.
func teardownLAN() error {
	var errs []error
	for _, s := range [][]string{{"netns", "del", PBXNetns}, {"netns", "del", PhoneNetns}, {"link", "del", Bridge}} {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil &&
			!strings.Contains(string(out), "No such file") && !strings.Contains(string(out), "Cannot find device") && !strings.Contains(string(out), "does not exist") {
			errs = append(errs, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out))
		}
	}
	return errors.Join(errs...)
}
