package lantest

import (
	"fmt"
	"net"
	"os/exec"
)

// SetMAC gives the host's eth0 the link-layer address mac (any form
// net.ParseMAC reads, or 12 hex digits), so that a test phone's MAC in its
// SUBSCRIBE is its real one — or, for an attacker, is not.
func (h *Host) SetMAC(mac string) error {
	if len(mac) == 12 {
		mac = mac[0:2] + ":" + mac[2:4] + ":" + mac[4:6] + ":" + mac[6:8] + ":" + mac[8:10] + ":" + mac[10:12]
	}
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return fmt.Errorf("lantest: %w", err)
	}
	if out, err := exec.Command("ip", "-n", h.ns, "link", "set", Iface, "address", hw.String()).CombinedOutput(); err != nil {
		return fmt.Errorf("lantest: set %s's MAC: %w: %s", h.name, err, out)
	}
	return nil
}

// MAC returns the host's eth0 link-layer address as 12 lower-case hex digits.
func (h *Host) MAC() (string, error) {
	var hw net.HardwareAddr
	err := h.Run(func() error {
		ifi, err := net.InterfaceByName(Iface)
		if err == nil {
			hw = ifi.HardwareAddr
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("lantest: %w", err)
	}
	return fmt.Sprintf("%x", []byte(hw)), nil
}
