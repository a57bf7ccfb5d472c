package ctl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
)

// TestBackupAndRestoreCommands: `backup FILE` writes a complete file and
// says what it holds; `restore` refuses a non-empty inventory and a
// damaged file with one line; `keys rotate` without --kek-file says so.
func TestBackupAndRestoreCommands(t *testing.T) {
	s := startServer(t)
	s.run(t, "interfaces", "add", "pbx", "--host", "pbx.example.com").ok(t)
	s.run(t, "extensions", "add", "101", "--name", "Alice", "--password", "pw-101").ok(t)
	s.run(t, "phones", "add", "--mac", "0004f2000001", "--model", "VVX450", "--extension", "101").ok(t)
	file := filepath.Join(t.TempDir(), "site.dtbackup")
	r := s.run(t, "backup", file).ok(t)
	if !strings.Contains(r.out, "backup written to "+file) || !strings.Contains(r.out, "1 phone") || !strings.Contains(r.out, "1 extension") {
		t.Fatalf("backup said %q", r.out)
	}
	data, err := os.ReadFile(file)
	if err != nil || !strings.HasPrefix(string(data), "DIALTONE-INVENTORY-BACKUP\n") {
		t.Fatalf("backup file: %v %.40q", err, data)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*.tmp")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	s.run(t, "restore", file).fails(t, 1, "not empty")
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, data[:len(data)-7], 0o600)
	s.run(t, "restore", bad).fails(t, 1, "truncated")
	s.run(t, "keys", "rotate").fails(t, 1, "--kek-file")

	// Into an empty inventory: the phone is back with its URL.
	url := strings.TrimSpace(s.run(t, "phones", "url", "0004f2000001").ok(t).out)
	empty := startServer(t)
	if _, err := empty.admin.DeleteTenant(context.Background(), &inventoryv1.DeleteTenantRequest{Name: "tenants/default"}); err != nil {
		t.Fatal(err)
	}
	r = empty.run(t, "restore", file).ok(t)
	if !strings.Contains(r.out, "restored") || !strings.Contains(r.out, "1 phone") {
		t.Fatalf("restore said %q", r.out)
	}
	if got := strings.TrimSpace(empty.run(t, "phones", "url", "0004f2000001").ok(t).out); got != url {
		t.Fatalf("URL after restore differs")
	}
}

// TestRpsRecheck: after a restore, registrations are checked at the vendor
// (CheckDevice), not pushed again: without --fix nothing is registered.
func TestRpsRecheck(t *testing.T) {
	s := startServer(t)
	rpsAddr, rpsAdmin := startRps(t)
	s.run(t, "interfaces", "add", "pbx", "--host", "pbx.example.com").ok(t)
	s.run(t, "extensions", "add", "101", "--name", "Alice", "--password", "pw-101").ok(t)
	s.run(t, "phones", "add", "--mac", "805ec0000001", "--model", "T54W", "--extension", "101", "--rps").ok(t)
	s.run(t, "phones", "add", "--mac", "805ec0000002", "--model", "T54W", "--extension", "101").ok(t)
	env := map[string]string{"DIALTONE_SERVER": s.addr, "DIALTONE_DATA_DIR": s.dataDir, "DIALTONE_RPS_SERVER": rpsAddr}
	r := runEnv(t, env, false, "rps", "recheck").fails(t, 1, "1 of 1 phones with RPS need attention")
	if !strings.Contains(r.out, "80:5e:c0:00:00:01") || !strings.Contains(r.out, "check-failed") || strings.Contains(r.out, "80:5e:c0:00:00:02") {
		t.Fatalf("recheck:\n%s", r.out)
	}
	if strings.Contains(r.out, "/p/") {
		t.Fatalf("recheck printed a URL:\n%s", r.out)
	}
	list, err := rpsAdmin.ListDeviceStatuses(context.Background(), &rpsv1.ListDeviceStatusesRequest{})
	if err != nil || len(list.GetStatuses()) != 0 {
		t.Fatalf("recheck without --fix registered something: %v %v", list.GetStatuses(), err)
	}
}
