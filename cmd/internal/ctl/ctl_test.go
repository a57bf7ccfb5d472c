package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	renderer "github.com/dialtone-voip/dialtone/services/config-renderer"
	"github.com/dialtone-voip/dialtone/services/inventory"
)

const (
	adminToken = "test-admin-token-0123456789"
	roToken    = "test-readonly-token-0123456789"
	edgeToken  = "test-edge-token-0123456789"
)

// server is a real inventory (embedded store, embedded JetStream) and a real
// config-renderer behind platform's gRPC server with token authentication,
// on loopback TCP: what the one-process dialtone serves.
type server struct {
	addr    string
	dataDir string
	admin   inventoryv1.InventoryServiceClient
	js      jetstream.JetStream
}

func startServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ns, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: filepath.Join(dir, "nats"), DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := natsjs.Connect(ctx, "", nil, natsjs.InProcess(ns))
	if err != nil {
		t.Fatal(err)
	}
	st, err := inventory.OpenBoltStore(filepath.Join(dir, "inventory.db"))
	if err != nil {
		t.Fatal(err)
	}
	ren, err := renderer.New(renderer.Config{}, renderer.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.New(inventory.Config{EdgeHTTPBase: "http://prov.test:8080", EdgeHTTPSBase: "https://prov.test:8443",
		Bootstrap: true, TokenGrace: time.Hour}, inventory.Deps{Store: st, JetStream: js, Models: localResolver{ren}})
	if err != nil {
		t.Fatal(err)
	}
	tf, _ := json.Marshal(auth.TokensFile{Tokens: []auth.TokenEntry{
		{Name: "admin", Role: auth.RoleAdmin, SHA256: auth.HashToken(adminToken)},
		{Name: "ro", Role: auth.RoleReadOnly, SHA256: auth.HashToken(roToken)},
		{Name: "edge", Role: auth.RoleEdge, SHA256: auth.HashToken(edgeToken)},
	}})
	tokens, err := auth.ParseTokens(tf)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpcserver.New(grpcserver.Options{Auth: tokens, ShutdownTimeout: time.Second})
	inv.RegisterGRPC(gs.GRPC())
	ren.RegisterGRPC(gs.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = gs.Serve(ctx, lis) })
	wg.Go(func() { _ = inv.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		nc.Close()
		_ = st.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if testenv.Poll(10*time.Second, func() bool { return inv.Ready() == nil }) != nil {
		t.Fatalf("inventory not ready: %v", inv.Ready())
	}
	if err := os.WriteFile(filepath.Join(dir, AdminTokenFile), []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken(adminToken, false)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &server{addr: lis.Addr().String(), dataDir: dir, admin: inventoryv1.NewInventoryServiceClient(conn), js: js}
	if _, err := s.admin.CreateTenant(context.Background(), &inventoryv1.CreateTenantRequest{TenantId: "default",
		Tenant: &inventoryv1.Tenant{DisplayName: "Default", NtpServer: "ntp.example.com"}}); err != nil {
		t.Fatal(err)
	}
	return s
}

type result struct {
	out, errOut string
	err         error
}

// run runs dialtonectl against s with the token from its data directory.
func (s *server) run(t *testing.T, args ...string) result {
	t.Helper()
	return runEnv(t, map[string]string{"DIALTONE_SERVER": s.addr, "DIALTONE_DATA_DIR": s.dataDir}, false, args...)
}

func runEnv(t *testing.T, env map[string]string, tty bool, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, Env{
		Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errOut, IsTTY: tty,
	})
	return result{out.String(), errOut.String(), err}
}

func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.err != nil {
		t.Fatalf("command failed: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.out, r.errOut)
	}
	return r
}

func (r result) fails(t *testing.T, wantCode int, contains ...string) result {
	t.Helper()
	if r.err == nil {
		t.Fatalf("command succeeded, want failure; stdout:\n%s", r.out)
	}
	if got := ExitCode(r.err); got != wantCode {
		t.Errorf("exit code %d, want %d (%v)", got, wantCode, r.err)
	}
	msg := r.err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, c := range contains {
		if !strings.Contains(msg, c) {
			t.Errorf("error %q does not contain %q", msg, c)
		}
	}
	return r
}

func TestHelpEverywhere(t *testing.T) {
	paths := [][]string{{}, {"extensions"}, {"extensions", "add"}, {"extensions", "list"}, {"extensions", "delete"},
		{"phones"}, {"phones", "list"}, {"phones", "show"}, {"phones", "assign"}, {"phones", "set"}, {"extensions", "update"},
		{"interfaces", "update"}, {"tenants", "update"}, {"phones", "add"}, {"phones", "url"},
		{"phones", "unassign"}, {"phones", "delete"}, {"phones", "reprovision"}, {"phones", "rotate-token"}, {"phones", "import"},
		{"interfaces"}, {"interfaces", "list"}, {"interfaces", "add"}, {"interfaces", "delete"}, {"models"}, {"models", "list"}, {"tenants"}, {"tenants", "list"}, {"tenants", "add"}, {"tenants", "device-cert"}, {"phones", "approve"}, {"phones", "device-cert"}, {"watch"}}
	for _, p := range paths {
		for _, h := range []string{"--help", "-h"} {
			r := runEnv(t, nil, false, append(append([]string{}, p...), h)...)
			if r.err != nil || !strings.HasPrefix(r.out, "Usage: dialtonectl") {
				t.Errorf("%v %s: err %v, output %q", p, h, r.err, r.out)
			}
		}
	}
	r := runEnv(t, nil, false, "help", "phones", "assign").ok(t)
	if !strings.Contains(r.out, "--extension") || !strings.Contains(r.out, "--create-extension") {
		t.Errorf("help phones assign: %s", r.out)
	}
	if r := runEnv(t, nil, false, "phones", "assign", "--help").ok(t); strings.Contains(r.out, adminToken) {
		t.Error("help shows a token")
	}
}

func TestArgumentErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "missing command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"phones", "assign", "001565aabbcc"}, "--extension is required"},
		{[]string{"phones", "assign"}, "want 1 argument(s): MAC"},
		{[]string{"phones", "assign", "zz:zz", "--extension", "1"}, `MAC "zz:zz"`},
		{[]string{"phones", "assign", "001565aabbcc", "--extension", "1", "--language", "klingon"}, "--language"},
		{[]string{"phones", "assign", "001565aabbcc", "--extension", "1", "--timezone", "Mars/Olympus"}, "--timezone"},
		{[]string{"phones", "assign", "001565aabbcc", "--extension", "1", "--codecs", "g722,mp3"}, "--codecs"},
		{[]string{"phones", "assign", "001565aabbcc", "--extension", "1", "--transport", "sctp"}, "--transport"},
		{[]string{"phones", "assign", "001565aabbcc", "--extension", "1", "--name", "x"}, "need --create-extension"},
		{[]string{"phones", "assign", "001565aabbcc", "--extension", "1", "--create-extension"}, "needs --password"},
		{[]string{"phones", "assign", "001565aabbcc", "--extension", "1", "--line3", "3"}, "consecutive"},
		{[]string{"phones", "add", "--mac", "001565aabbcc"}, "required"},
		{[]string{"phones", "list", "--state", "lost"}, "--state"},
		{[]string{"phones", "list", "--vendor", "nokia"}, "--vendor"},
		{[]string{"phones", "list", "-o", "yaml"}, "-o"},
		{[]string{"-o", "xml", "phones", "list"}, "-o"},
		{[]string{"phones", "list", "--bogus"}, "flag provided but not defined"},
		{[]string{"extensions", "add", "201"}, "--name and --password are required"},
		{[]string{"interfaces", "add", "pbx"}, "--host is required"},
		{[]string{"phones", "import"}, "FILE.csv"},
		{[]string{"phones", "import", "x.csv", "--offline"}, "--offline needs --dry-run"},
		{[]string{"watch", "--count", "-1"}, "--count"},
		{[]string{"phones", "assign", "001565aabbcc", "--extension", "1", "--device-cert", "maybe"}, "device-cert \"maybe\""},
		{[]string{"phones", "device-cert", "001565aabbcc", "sometimes"}, "want off, prefer or require"},
		{[]string{"phones", "approve"}, "want 1 argument(s): MAC"},
		{[]string{"tenants", "device-cert", "acme"}, "argument"},
	}
	for _, tt := range tests {
		r := runEnv(t, nil, false, tt.args...)
		r.fails(t, 2, tt.want)
	}
	// The environment is validated like the command line.
	r := runEnv(t, map[string]string{"DIALTONE_TIMEOUT": "soon"}, false, "phones", "list")
	r.fails(t, 2, "DIALTONE_TIMEOUT")
}

func TestCommandsAgainstInventory(t *testing.T) {
	s := startServer(t)

	// SIP interfaces.
	s.run(t, "interfaces", "add", "pbx", "--host", "pbx.example.com", "--tls-port", "5061", "--outbound-proxy", "sbc.example.com:5061").ok(t)
	r := s.run(t, "interfaces", "list").ok(t)
	if !strings.Contains(r.out, "pbx.example.com") || !strings.Contains(r.out, "5061") || !strings.Contains(r.out, "sbc.example.com:5061") {
		t.Errorf("interfaces list:\n%s", r.out)
	}
	var ifs []map[string]any
	r = s.run(t, "interfaces", "list", "-o", "json").ok(t)
	if err := json.Unmarshal([]byte(r.out), &ifs); err != nil || len(ifs) != 1 || ifs[0]["host"] != "pbx.example.com" {
		t.Errorf("interfaces list -o json: %v\n%s", err, r.out)
	}
	s.run(t, "interfaces", "add", "pbx", "--host", "other").fails(t, 1, "already exists")

	// Extensions: the password is sent, never printed.
	s.run(t, "extensions", "add", "201", "--name", "Alice Example", "--password", "s3cret-pw").ok(t)
	r = s.run(t, "extensions", "list").ok(t)
	if !strings.Contains(r.out, "Alice Example") || !strings.Contains(r.out, "set") || strings.Contains(r.out, "s3cret-pw") {
		t.Errorf("extensions list:\n%s", r.out)
	}
	r = s.run(t, "extensions", "list", "-o", "json").ok(t)
	if strings.Contains(r.out, "s3cret-pw") || !strings.Contains(r.out, `"has_sip_password": true`) {
		t.Errorf("extensions list -o json:\n%s", r.out)
	}
	s.run(t, "extensions", "add", "bad number!", "--name", "x", "--password", "y").fails(t, 1, "invalid argument", "number")

	// Manual flow: add by MAC with every setting, then the URL.
	mac := "00:04:F2:AA:BB:CC"
	r = s.run(t, "phones", "add", "--mac", mac, "--model", "VVX450", "--extension", "201", "--web-password", "Web-pw-1",
		"--language", "de", "--timezone", "Europe/Berlin", "--interface", "pbx", "--transport", "tls", "--https",
		"--codecs", "g722,pcmu").ok(t)
	if !strings.Contains(r.out, "added 00:04:f2:aa:bb:cc") || !strings.Contains(r.out, "assigned") {
		t.Errorf("phones add: %s", r.out)
	}
	r = s.run(t, "phones", "show", "0004.f2aa.bbcc").ok(t)
	for _, want := range []string{"assigned", "VVX450", "Line 1:", "201", "Web password:   set", "de", "Europe/Berlin", "pbx", "tls", "g722,pcmu", "HTTPS:          yes"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("phones show lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "Web-pw-1") || strings.Contains(r.out, "/p/") {
		t.Errorf("phones show prints a secret:\n%s", r.out)
	}
	r = s.run(t, "phones", "url", "0004f2aabbcc").ok(t)
	url := strings.TrimSpace(r.out)
	if !strings.HasPrefix(url, "https://prov.test:8443/p/") || !strings.HasSuffix(url, "/") || strings.Count(r.out, "\n") != 1 {
		t.Errorf("phones url: %q", r.out)
	}
	r = s.run(t, "phones", "list", "-o", "json").ok(t)
	if strings.Contains(r.out, url) || strings.Contains(r.out, "provisioning_url") || strings.Contains(r.out, "Web-pw-1") {
		t.Errorf("phones list -o json prints a secret:\n%s", r.out)
	}
	var phones []map[string]any
	if err := json.Unmarshal([]byte(r.out), &phones); err != nil || len(phones) != 1 || phones[0]["mac"] != "0004f2aabbcc" {
		t.Fatalf("phones list -o json: %v\n%s", err, r.out)
	}

	// Rotate the token: a new URL.
	s.run(t, "phones", "rotate-token", mac, "--grace", "1m").ok(t)
	if r := s.run(t, "phones", "url", mac).ok(t); strings.TrimSpace(r.out) == url {
		t.Error("URL unchanged after rotate-token")
	}

	// Unassign → discovered; assign with a new extension in the same step.
	s.run(t, "phones", "unassign", mac).ok(t)
	r = s.run(t, "phones", "list", "--state", "discovered").ok(t)
	if !strings.Contains(r.out, "00:04:f2:aa:bb:cc") {
		t.Errorf("unassigned phone not discovered:\n%s", r.out)
	}
	r = s.run(t, "phones", "assign", mac, "--extension", "202", "--create-extension", "--name", "Bob", "--password", "pw-202",
		"--line2", "201", "--language", "fr").ok(t)
	if !strings.Contains(r.out, "assigned 00:04:f2:aa:bb:cc") || !strings.Contains(r.out, "202,201") {
		t.Errorf("phones assign: %s", r.out)
	}
	if r := s.run(t, "phones", "list", "--state", "assigned", "--vendor", "poly", "--tenant-only").ok(t); !strings.Contains(r.out, "202,201") {
		t.Errorf("filtered list:\n%s", r.out)
	}
	// A phone added by hand was never seen on the LAN: no check-sync possible.
	s.run(t, "phones", "reprovision", mac, "--reboot").fails(t, 1, "refused", "never seen")

	// Refusals come back as one clear line.
	s.run(t, "extensions", "delete", "201").fails(t, 1, "refused")
	s.run(t, "phones", "assign", "001565000001", "--extension", "201").fails(t, 1, "not found")
	s.run(t, "phones", "show", "001565000001").fails(t, 1, "not found")

	// Models come from config-renderer on the same server.
	r = s.run(t, "models", "list", "--vendor", "poly").ok(t)
	if !strings.Contains(r.out, "VVX450") || strings.Contains(r.out, "T54W") {
		t.Errorf("models list --vendor poly:\n%s", r.out)
	}
	if r := s.run(t, "models", "list", "-o", "json").ok(t); !strings.Contains(r.out, `"model": "T54W"`) {
		t.Errorf("models list -o json lacks T54W")
	}
	if r := s.run(t, "templates", "show").ok(t); !strings.Contains(r.out, "VERSION") || !strings.Contains(r.out, "LOAD ERROR") {
		t.Errorf("templates show:\n%s", r.out)
	}
	if r := s.run(t, "templates", "show", "-o", "json").ok(t); !strings.Contains(r.out, `"name": "templateSet"`) || !strings.Contains(r.out, `"version"`) {
		t.Errorf("templates show -o json:\n%s", r.out)
	}

	// Tenants.
	s.run(t, "tenants", "add", "acme", "--display-name", "ACME", "--ntp", "ntp.acme.test").ok(t)
	if r := s.run(t, "tenants", "list").ok(t); !strings.Contains(r.out, "acme") || !strings.Contains(r.out, "ntp.acme.test") {
		t.Errorf("tenants list:\n%s", r.out)
	}
	if r := s.run(t, "--tenant", "acme", "extensions", "list").ok(t); strings.Contains(r.out, "202") {
		t.Errorf("tenant acme sees default's extensions:\n%s", r.out)
	}

	// Delete.
	s.run(t, "phones", "delete", mac).ok(t)
	s.run(t, "phones", "show", mac).fails(t, 1, "not found")
	s.run(t, "extensions", "delete", "201").ok(t)
	s.run(t, "interfaces", "delete", "pbx").ok(t)
}

func TestAuthentication(t *testing.T) {
	s := startServer(t)
	env := map[string]string{"DIALTONE_SERVER": s.addr, "DIALTONE_DATA_DIR": t.TempDir()} // no token file there
	runEnv(t, env, false, "phones", "list").fails(t, 1, "not authenticated", "--token")
	env["DIALTONE_TOKEN"] = "wrong-token"
	runEnv(t, env, false, "phones", "list").fails(t, 1, "not authenticated")
	env["DIALTONE_TOKEN"] = roToken
	runEnv(t, env, false, "phones", "list").ok(t)
	runEnv(t, env, false, "extensions", "add", "9", "--name", "n", "--password", "p").fails(t, 1, "permission denied")
	// --token wins over the environment; --token-file works too.
	runEnv(t, env, false, "--token", adminToken, "extensions", "add", "9", "--name", "n", "--password", "p").ok(t)
	tf := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(tf, []byte(adminToken), 0o600); err != nil {
		t.Fatal(err)
	}
	delete(env, "DIALTONE_TOKEN")
	runEnv(t, env, false, "--token-file", tf, "extensions", "delete", "9").ok(t)
	// An unreachable server is one line too.
	runEnv(t, map[string]string{"DIALTONE_SERVER": "127.0.0.1:1", "DIALTONE_TOKEN": "x"}, false, "--timeout", "2s", "phones", "list").
		fails(t, 1, "127.0.0.1:1")
}

func writeCSV(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "phones.csv")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const importFile = `mac,model,vendor,extension,name,password,web_password,language,timezone,interface,transport,rps,https,codecs
00:15:65:00:00:01,T54W,yealink,301,Ann,pw-301,web-1,de,Europe/Berlin,pbx,tls,no,yes,g722;pcmu
00-15-65-00-00-02,T54W,,302,Ben,pw-302,,en,America/New_York,,udp,,,
0004f2000003,,,303,Cid,pw-303,,,,,,,,
zz:zz,T54W,,304,Dan,pw-304,,,,,,,,
00:15:65:00:00:01,T54W,,305,Eve,pw-305,,,,,,,,
001565000006,T54W,,306,Fay,pw-306,,klingon,,,,,,
001565000007,T54W,,307,,,,,,,,,,
001565000008,T54W,,301,Ann,,,,,,,,,
`

func TestImport(t *testing.T) {
	s := startServer(t)
	s.run(t, "interfaces", "add", "pbx", "--host", "pbx.example.com", "--tls-port", "5061").ok(t)
	// 0004f2000003 is already known (discovered): its row assigns it.
	if _, err := s.admin.CreatePhone(context.Background(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "0004f2000003", Model: "VVX450"}}); err != nil {
		t.Fatal(err)
	}
	file := writeCSV(t, importFile)

	// Offline dry run: the file alone.
	r := s.run(t, "phones", "import", file, "--dry-run", "--offline")
	r.fails(t, 1, "3 of 8 row(s) failed")
	for _, want := range []string{"zz:zz", "not a MAC", "already on line 2", "klingon", "valid"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("offline dry run lacks %q:\n%s", want, r.out)
		}
	}
	// Dry run with lookups: nothing is written.
	r = s.run(t, "phones", "import", file, "--dry-run")
	r.fails(t, 1, "4 of 8 row(s) failed")
	for _, want := range []string{"would create extension, would add", "would create extension, would assign", "no row gives a password"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, r.out)
		}
	}
	if r := s.run(t, "phones", "list", "--state", "assigned").ok(t); strings.Count(r.out, "\n") != 1 {
		t.Errorf("dry run wrote phones:\n%s", r.out)
	}
	if r := s.run(t, "extensions", "list").ok(t); strings.Count(r.out, "\n") != 1 {
		t.Errorf("dry run wrote extensions:\n%s", r.out)
	}

	// The real import, with a progress bar as on a terminal.
	r = runEnv(t, map[string]string{"DIALTONE_SERVER": s.addr, "DIALTONE_DATA_DIR": s.dataDir}, true, "phones", "import", file, "--concurrency", "3")
	r.fails(t, 1, "4 of 8 row(s) failed")
	if !strings.Contains(r.out, "\r[") || !strings.Contains(r.out, "rows (") {
		t.Errorf("no progress bar on a terminal:\n%q", r.out)
	}
	lines := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(r.out[strings.LastIndex(r.out, "LINE"):]))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 1 && !strings.Contains(sc.Text(), "row(s)") {
			lines[f[0]] = sc.Text()
		}
	}
	for line, want := range map[string]string{
		"2": "ok: created extension, added", "3": "ok: created extension, added", "4": "ok: created extension, assigned",
		"5": "error", "6": "error: MAC", "7": "error: language", "8": "error: extension 307 does not exist", "9": "ok: added",
	} {
		if !strings.Contains(lines[line], want) {
			t.Errorf("line %s: %q, want %q", line, lines[line], want)
		}
	}
	r = s.run(t, "phones", "show", "001565000001").ok(t)
	for _, want := range []string{"assigned", "301", "Web password:   set", "de", "Europe/Berlin", "tls", "g722,pcmu", "HTTPS:          yes"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("imported phone lacks %q:\n%s", want, r.out)
		}
	}
	// Importing again assigns the known phones; JSON report.
	r = s.run(t, "phones", "import", file, "-o", "json")
	var res []ImportResult
	if err := json.Unmarshal([]byte(r.out), &res); err != nil || len(res) != 8 {
		t.Fatalf("json report: %v\n%s", err, r.out)
	}
	if res[0].Action != "assigned" || !res[0].OK || res[0].MAC != "001565000001" {
		t.Errorf("second import, first row: %+v", res[0])
	}
	// A file that is not a phones CSV.
	s.run(t, "phones", "import", writeCSV(t, "mac,colour\n1,2\n")).fails(t, 1, `unknown column "colour"`)
	s.run(t, "phones", "import", writeCSV(t, "model\nT54W\n")).fails(t, 1, `column "mac" is required`)
	s.run(t, "phones", "import", writeCSV(t, "")).fails(t, 1, "empty")
}

func TestWatch(t *testing.T) {
	s := startServer(t)
	done := make(chan result, 1)
	go func() {
		done <- s.run(t, "watch", "--count", "3", "-o", "json")
	}()
	s.run(t, "interfaces", "add", "pbx", "--host", "pbx.example.com").ok(t)
	s.waitWatchers(t, 1) // a fresh watch sees only changes made after it subscribed
	s.run(t, "extensions", "add", "401", "--name", "W", "--password", "pw").ok(t)
	s.run(t, "phones", "add", "--mac", "001565000401", "--model", "T54W", "--extension", "401").ok(t)
	s.run(t, "phones", "unassign", "001565000401").ok(t)
	s.run(t, "phones", "delete", "001565000401").ok(t)
	var r result
	select {
	case r = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("watch did not return after 3 changes")
	}
	r.ok(t)
	var seqs []uint64
	var kinds []string
	for l := range strings.SplitSeq(strings.TrimSpace(r.out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not NDJSON: %q", l)
		}
		kinds = append(kinds, ev["change_type"].(string))
		seq, _ := strconv.ParseUint(ev["sequence"].(string), 10, 64)
		seqs = append(seqs, seq)
		if strings.Contains(l, "provisioning_url") {
			t.Errorf("watch prints a URL: %s", l)
		}
	}
	if len(kinds) != 3 || kinds[1] != "unassigned" || kinds[2] != "deleted" {
		t.Fatalf("changes %v", kinds)
	}
	// Resume after the first change: the next one is the unassignment.
	r = s.run(t, "watch", "--since", strconv.FormatUint(seqs[0], 10), "--count", "1").ok(t)
	if !strings.Contains(r.out, "unassigned") || !strings.Contains(r.out, "00:15:65:00:04:01") {
		t.Errorf("resumed watch:\n%s", r.out)
	}
}

// waitWatchers waits until n consumers (WatchPhones streams) read the
// phones stream.
func (s *server) waitWatchers(t *testing.T, n int) {
	t.Helper()
	var err error
	if testenv.Poll(10*time.Second, func() bool {
		var st jetstream.Stream
		if st, err = s.js.Stream(context.Background(), streams.Phones); err != nil {
			return false
		}
		info, ierr := st.Info(context.Background())
		err = ierr
		return err == nil && info.State.Consumers >= n
	}) != nil {
		t.Fatalf("no %d watcher(s) on %s after 10 s (%v)", n, streams.Phones, err)
	}
}

func TestDescribe(t *testing.T) {
	g := defaultGlobals()
	if describe(nil, g) != nil {
		t.Error("nil error described")
	}
	plain := errors.New("boom")
	if got := describe(plain, g).Error(); got != "boom" {
		t.Errorf("plain error: %q", got)
	}
	u := subcmd.Usagef("bad flag")
	if !subcmd.IsUsage(describe(u, g)) {
		t.Error("usage error lost its kind")
	}
}
