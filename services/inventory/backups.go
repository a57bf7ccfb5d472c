package inventory

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/backup"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/sealstore"
)

// BackupExt ends the name of every scheduled backup file.
const BackupExt = ".dtbackup"

func (c *Config) registerBackupFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.KEKFile, "kek-file", "", "file of the key-encryption key that seals secrets at rest (base64, 32 bytes; first line current, later lines previous keys during a rotation)")
	fs.StringVar(&c.BackupDir, "backup-dir", "", "directory of scheduled backups (embedded store; empty: none)")
	fs.DurationVar(&c.BackupEvery, "backup-every", 24*time.Hour, "interval of scheduled backups (with --backup-dir)")
	fs.IntVar(&c.BackupKeep, "backup-keep", 7, "scheduled backups kept in --backup-dir (older ones are removed)")
}

func (c Config) validateBackup() []error {
	var errs []error
	if c.BackupDir != "" {
		if c.BackupEvery < time.Minute {
			errs = append(errs, errors.New("--backup-every must be at least 1m"))
		}
		if c.BackupKeep < 1 {
			errs = append(errs, errors.New("--backup-keep must be at least 1"))
		}
	}
	return errs
}

// backupState is what the scheduled backups report.
type backupState struct {
	mu      sync.Mutex
	last    time.Time // last good backup (or the newest file found at start)
	started time.Time
	results *prometheus.CounterVec
}

func (s *Service) registerBackupMetrics(reg prometheus.Registerer) error {
	s.backups.started = time.Now()
	s.backups.results = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dialtone_inventory_backups_total", Help: "Scheduled backups, by result (ok, error).",
	}, []string{"result"})
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dialtone_inventory_last_backup_age_seconds",
		Help: "Seconds since the last good scheduled backup (since start when there is none yet); 0 without --backup-dir.",
	}, func() float64 {
		if s.cfg.BackupDir == "" {
			return 0
		}
		s.backups.mu.Lock()
		defer s.backups.mu.Unlock()
		since := s.backups.last
		if since.IsZero() {
			since = s.backups.started
		}
		return time.Since(since).Seconds()
	})
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{s.backups.results, age} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

// WriteBackup writes a backup of the store to w (secrets stay sealed).
func (s *Service) WriteBackup(ctx context.Context, w io.Writer) (string, error) {
	h, err := backup.Export(ctx, s.sealed.Inner(), w, time.Now())
	if err != nil {
		return "", err
	}
	return h.Summary(), nil
}

// runBackups writes a backup into BackupDir every BackupEvery, counting
// from the newest one already there, and keeps the BackupKeep newest.
func (s *Service) runBackups(ctx context.Context) {
	if err := os.MkdirAll(s.cfg.BackupDir, 0o700); err != nil {
		s.log.Error("backup directory", "err", err)
	}
	if files := backupFiles(s.cfg.BackupDir); len(files) > 0 {
		if fi, err := os.Stat(files[len(files)-1]); err == nil {
			s.backups.mu.Lock()
			s.backups.last = fi.ModTime()
			s.backups.mu.Unlock()
		}
	}
	for {
		s.backups.mu.Lock()
		next := time.Until(s.backups.last.Add(s.cfg.BackupEvery))
		s.backups.mu.Unlock()
		t := time.NewTimer(max(next, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		path, summary, err := s.backupOnce(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.backups.results.WithLabelValues("error").Inc()
			s.log.Error("scheduled backup failed; retrying in a minute", "err", err)
			// Retry soon, not a whole interval later.
			s.backups.mu.Lock()
			s.backups.last = time.Now().Add(time.Minute - s.cfg.BackupEvery)
			s.backups.mu.Unlock()
			continue
		}
		s.backups.results.WithLabelValues("ok").Inc()
		s.log.Info("scheduled backup written", "path", path, "contents", summary)
	}
}

// backupOnce writes one backup file (temporary name, fsync, rename: a
// crash never leaves a half file under a backup's name) and prunes.
func (s *Service) backupOnce(ctx context.Context) (string, string, error) {
	now := time.Now().UTC()
	name := filepath.Join(s.cfg.BackupDir, "inventory-"+now.Format("20060102T150405Z")+BackupExt)
	f, err := os.CreateTemp(s.cfg.BackupDir, ".inventory-*.tmp")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(f.Name())
	summary, err := s.WriteBackup(ctx, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		return "", "", err
	}
	s.backups.mu.Lock()
	s.backups.last = now
	s.backups.mu.Unlock()
	files := backupFiles(s.cfg.BackupDir)
	for len(files) > s.cfg.BackupKeep {
		if err := os.Remove(files[0]); err != nil {
			s.log.Warn("cannot remove an old backup", "path", files[0], "err", err)
		}
		files = files[1:]
	}
	return name, summary, nil
}

// backupFiles lists the scheduled backups in dir, oldest first (the names
// sort by time).
func backupFiles(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "inventory-") && strings.HasSuffix(n, BackupExt) {
			out = append(out, filepath.Join(dir, n))
		}
	}
	slices.Sort(out)
	return out
}

// RestoreBackup checks the backup in r whole and writes it into st, which
// must be empty (dialtone restore: the embedded store of a new data
// directory). With kekFile, the backup's data keys must open with it and
// plaintext secrets of an older backup are sealed; without, a sealed
// backup is restored as it is and needs that KEK at the next start.
func RestoreBackup(ctx context.Context, st Store, r io.Reader, kekFile string) (string, error) {
	h, recs, err := backup.Read(r)
	if err != nil {
		return "", err
	}
	if err := backup.CheckEmpty(ctx, st); err != nil {
		return "", err
	}
	if kekFile == "" {
		if _, err := backup.Restore(ctx, st, recs); err != nil {
			return "", err
		}
		return h.Summary(), nil
	}
	w, err := sealstore.Open(ctx, st, sealstore.Options{KEKFile: kekFile})
	if err != nil {
		return "", err
	}
	if err := w.Sealer().CheckDataKeys(recs); err != nil {
		return "", fmt.Errorf("this backup cannot be opened with --kek-file %s: %w", kekFile, err)
	}
	if _, err := backup.Restore(ctx, st, recs); err != nil {
		return "", err
	}
	return h.Summary(), w.Sealer().Reload(ctx)
}
