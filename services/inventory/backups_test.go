package inventory_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory"
)

// TestScheduledBackups: with --backup-dir the service writes a backup at
// once when the directory holds none recent, keeps --backup-keep files,
// reports the age of the last good one, and the file restores.
func TestScheduledBackups(t *testing.T) {
	dir := t.TempDir()
	// Three old backups from earlier days: one is kept with the new one.
	old := time.Now().Add(-72 * time.Hour)
	for i, name := range []string{"inventory-20201101T000000Z.dtbackup", "inventory-20201102T000000Z.dtbackup", "inventory-20201103T000000Z.dtbackup"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old.Add(time.Duration(i)*time.Hour), old.Add(time.Duration(i)*time.Hour))
	}
	reg := prometheus.NewRegistry()
	cfg := inventory.Config{EdgeHTTPBase: "http://prov.test:8080", Bootstrap: true, TokenGrace: time.Hour,
		BackupDir: dir, BackupEvery: 24 * time.Hour, BackupKeep: 2}
	st := boltStore(t)
	svc, err := inventory.New(cfg, inventory.Deps{Store: st, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if age := gauge(t, reg, "dialtone_inventory_last_backup_age_seconds"); age < 0 {
		t.Fatalf("age %v", age)
	}
	// Seed through the API before Run starts the schedule.
	a := mustStartKEK(t, st, "").admin
	seedSecrets(t, a, 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 20*time.Second, "a scheduled backup", func() bool { return counter(reg, "dialtone_inventory_backups_total") >= 1 })
	files, _ := filepath.Glob(filepath.Join(dir, "inventory-*.dtbackup"))
	if len(files) != 2 || !strings.HasSuffix(files[0], "20201103T000000Z.dtbackup") {
		t.Fatalf("backup dir holds %v, want the newest old one and the new one", files)
	}
	if age := gauge(t, reg, "dialtone_inventory_last_backup_age_seconds"); age > 10 {
		t.Fatalf("last backup age %v s just after a backup", age)
	}
	f, err := os.Open(files[1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dst := boltStore(t)
	summary, err := inventory.RestoreBackup(cctx(), dst, f, "")
	if err != nil || !strings.Contains(summary, "3 phones") {
		t.Fatalf("restore of the scheduled backup: %q, %v", summary, err)
	}
	r := mustStartKEK(t, dst, "")
	ph, err := r.admin.ListPhones(cctx(), &inventoryv1.ListPhonesRequest{})
	if err != nil || len(ph.GetPhones()) != 3 {
		t.Fatalf("restored phones: %d, %v", len(ph.GetPhones()), err)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func counter(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == "ok" {
						sum += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return sum
}
