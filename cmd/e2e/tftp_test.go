package e2e

import (
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/cmd/internal/tftptest"
)

// TestTFTPOneProcess: dialtone --tftp-addr wires the TFTP front to the
// edge with a relay token of its own, so a Cisco 7960 (a host with the
// phone's MAC) fetching its account by TFTP ends provisioned with its
// secret release bound to its link (link:{mac}), as a PnP phone's is.
func TestTFTPOneProcess(t *testing.T) {
	s := newSite(t)
	s.args = []string{"--tftp-addr", ":69"}
	s.start()
	const mac, pw = "00562b0e7960", "tftp-one-process-pw-7"
	if err := s.phone.SetMAC(mac); err != nil {
		t.Fatal(err)
	}
	s.ctl("extensions", "add", "379", "--name", "Cisco", "--password", pw)
	s.ctl("phones", "add", "--mac", mac, "--model", "7960", "--extension", "379", "--interface", "default")
	get := func(name string) (string, error) { return tftptest.Get(t, s.phone, s.pbxAddr()+":69", name) }
	if got, err := get("SIPDefault.cnf"); err != nil || !strings.Contains(got, "SIPDefault.cnf") {
		t.Fatalf("SIPDefault.cnf: %q, %v", got, err)
	}
	own := "SIP" + strings.ToUpper(mac) + ".cnf"
	if got, err := get(own); err != nil || !strings.Contains(got, `line1_password: "`+pw+`"`) {
		t.Fatalf("%s: %q, %v", own, got, err)
	}
	ph := s.waitPhone(mac, "provisioned by its link", func(m map[string]any) bool {
		sr, _ := m["secret_release"].(map[string]any)
		return m["state"] == "provisioned" && sr["id"] == "link:"+mac
	})
	if sr, _ := ph["secret_release"].(map[string]any); !strings.Contains(strings.ToLower(sr["proof"].(string)), "link") {
		t.Errorf("release %v", sr)
	}
	if strings.Contains(s.logs.String(), pw) {
		t.Error("the SIP password is in dialtone's log")
	}
}
