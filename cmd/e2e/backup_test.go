package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/testenv"
)

// TestBackupDuringStormRestores: a backup taken with `dialtone backup`
// while 200 phones boot, restored with `dialtone restore` into an empty
// data directory, serves every phone it holds the same files, byte for
// byte, under the same URLs (tokens); secrets are sealed with --kek-file
// throughout, and a truncated or tampered copy is refused without writing.
func TestBackupDuringStormRestores(t *testing.T) {
	s := newSite(t)
	kek := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(kek, []byte("q8kFh1wYpJ4mW3lq0qg0vN3c9m2dX7P5a1tYkz8B6r4=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.args = []string{"--kek-file", kek}
	s.start()
	// Twenty of the storm's phones are assigned beforehand: their files
	// carry SIP and web passwords; the others get bootstrap files.
	for i := range 20 {
		ext := fmt.Sprint(500 + i)
		s.ctl("extensions", "add", ext, "--name", "Storm "+ext, "--password", "storm-pw-"+ext)
		s.ctl("phones", "add", "--mac", fmt.Sprintf("805ec0%06x", i), "--model", "T54W", "--extension", ext, "--web-password", "web-"+ext)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	storm := s.phone.CommandContext(ctx, bins.phonesim, "storm", "--vendor", "yealink", "--model", "T54W", "--mac-prefix", "805ec0", "--count", "200",
		"--concurrency", "20", "--iface", s.phone.Iface(), "-o", "json",
		// Each phone its own MAC and address (.20 to .219 of the LAN), so the
		// link-layer check stays on.
		"--own-link", "198.18.0.20")
	var stormOut bytes.Buffer
	storm.Stdout = &stormOut
	if err := storm.Start(); err != nil {
		t.Fatal(err)
	}
	// Back up while phones are still being discovered.
	waitFor(t, 60*time.Second, "storm under way", func() bool { return countPhones(s) >= 60 })
	file := filepath.Join(t.TempDir(), "site.dtbackup")
	out := s.run(bins.dialtone, "backup", "--data-dir", s.dataDir, file)
	if !strings.Contains(out, "backup written") || !strings.Contains(out, " phone") {
		t.Fatalf("dialtone backup: %s", out)
	}
	// The storm's own outcome is not this test's subject (a phone may time
	// out on a loaded machine); it only has to run across the backup.
	_ = storm.Wait()
	var rep struct {
		OK, Failed int
		Failures   map[string]int
	}
	if err := json.Unmarshal(stormOut.Bytes(), &rep); err != nil || rep.OK < 100 {
		t.Fatalf("storm: %v: %s", err, stormOut.String())
	}
	t.Logf("storm: %d phones booted, %d failed %v", rep.OK, rep.Failed, rep.Failures)
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("storm-pw-500")) || bytes.Contains(raw, []byte("web-500")) {
		t.Fatal("the backup holds a password in plaintext")
	}

	// What the running site serves for every phone, now.
	before := map[string]string{} // mac -> url
	files := map[string][]byte{}  // mac -> its config file
	for _, mac := range phoneMACs(s) {
		u := strings.TrimSpace(s.ctl("phones", "url", mac))
		before[mac] = u
		files[mac] = s.fetch(u+mac+".cfg", mac)
	}
	if !bytes.Contains(files["805ec0000000"], []byte("storm-pw-500")) {
		t.Fatal("an assigned phone's file lacks its SIP password: the comparison would prove little")
	}
	s.stop()

	// A damaged copy is refused and writes nothing.
	empty := t.TempDir()
	for name, data := range map[string][]byte{"truncated": raw[:len(raw)-100], "tampered": flipByte(raw, len(raw)-50)} {
		bad := filepath.Join(t.TempDir(), name)
		os.WriteFile(bad, data, 0o600)
		if out, err := s.runErr(bins.dialtone, "restore", "--data-dir", empty, "--kek-file", kek, bad); err == nil {
			t.Fatalf("restore of a %s backup succeeded: %s", name, out)
		}
	}
	if out, err := s.runErr(bins.dialtone, "restore", "--data-dir", empty, "--kek-file", kek, file); err != nil {
		t.Fatalf("restore: %v %s", err, out)
	}
	s.dataDir = empty
	s.start()
	restored := phoneMACs(s)
	if !strings.Contains(strings.Join(restored, " "), "805ec0000000") {
		t.Fatal("an assigned phone is missing after the restore")
	}
	if len(restored) < 60 {
		t.Fatalf("restored %d phones, the backup was taken with at least 60", len(restored))
	}
	for _, mac := range restored {
		u := strings.TrimSpace(s.ctl("phones", "url", mac))
		if u != before[mac] {
			t.Fatalf("phone %s: provisioning URL changed by the restore", mac)
		}
		if got := s.fetch(u+mac+".cfg", mac); !bytes.Equal(got, files[mac]) {
			t.Fatalf("phone %s: file differs after the restore:\n%s\n---\n%s", mac, files[mac], got)
		}
	}
	t.Logf("%d phones at backup time of %d after the storm; all served byte for byte", len(restored), len(before))

	// Another KEK: dialtone refuses to start, with one line.
	s.stop()
	wrong := filepath.Join(t.TempDir(), "wrong-kek")
	os.WriteFile(wrong, []byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), 0o600)
	out, err = s.runErr(bins.dialtone, "--data-dir", s.dataDir, "--sip-interfaces", s.pbx.Iface(), "--public-host", s.pbxAddr(),
		"--pbx-host", s.pbxAddr(), "--kek-file", wrong)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err == nil || !strings.Contains(lines[len(lines)-1], "wrong --kek-file") || strings.Count(out, "kek") > 1 {
		t.Fatalf("start with another KEK: %v\n%s", err, out)
	}
	t.Logf("another KEK: %s", lines[len(lines)-1])
}

func flipByte(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	// Every 200 ms: the conditions run dialtonectl.
	if testenv.PollEvery(d, 200*time.Millisecond, ok) != nil {
		t.Fatalf("timed out waiting for %s", what)
	}
}

func phoneMACs(s *site) []string {
	s.t.Helper()
	var list []map[string]any
	out := s.ctl("phones", "list", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		s.t.Fatalf("phones list: %v: %.200s", err, out)
	}
	var macs []string
	for _, p := range list {
		if m, ok := p["mac"].(string); ok {
			macs = append(macs, strings.ToLower(strings.ReplaceAll(m, ":", "")))
		}
	}
	return macs
}

func countPhones(s *site) int {
	out, err := s.ctlErr("phones", "list", "-o", "json")
	if err != nil {
		return 0
	}
	var list []json.RawMessage
	_ = json.Unmarshal([]byte(out), &list)
	return len(list)
}

func (s *site) runErr(bin string, args ...string) (string, error) {
	cmd := s.pbx.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (s *site) run(bin string, args ...string) string {
	s.t.Helper()
	out, err := s.runErr(bin, args...)
	if err != nil {
		s.t.Fatalf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return out
}

// fetch GETs url from inside the pbx host's namespace as the Yealink
// phone mac (the edge checks the User-Agent against the phone).
func (s *site) fetch(url, mac string) []byte {
	s.t.Helper()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := s.pbx.Run(func() (err error) {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the site's self-signed test certificate
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	var colons []string
	for i := 0; i+2 <= len(mac); i += 2 {
		colons = append(colons, mac[i:i+2])
	}
	req.Header.Set("User-Agent", "Yealink SIP-T54W 96.86.0.45 "+strings.Join(colons, ":"))
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		s.t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s…: %s: %s", url[:strings.Index(url, "/p/")+3], resp.Status, b)
	}
	return b
}
