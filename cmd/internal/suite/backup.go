package suite

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/dialtone-voip/dialtone/services/inventory"
)

// BackupConfig is the one-process dialtone's secrets-at-rest and backup
// settings (services/inventory: --kek-file, --backup-*).
type BackupConfig struct {
	KEKFile     string
	BackupDir   string
	BackupEvery time.Duration
	BackupKeep  int
}

func (b *BackupConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&b.KEKFile, "kek-file", "", "key-encryption key file that seals SIP/web passwords and tokens at rest (base64 32 bytes: head -c 32 /dev/urandom | base64); keep it outside --data-dir")
	fs.StringVar(&b.BackupDir, "backup-dir", "", "directory for scheduled inventory backups (empty: none; best on another disk)")
	fs.DurationVar(&b.BackupEvery, "backup-every", 24*time.Hour, "interval of scheduled backups (with --backup-dir)")
	fs.IntVar(&b.BackupKeep, "backup-keep", 7, "scheduled backups kept in --backup-dir")
}

func (b BackupConfig) validate() []error {
	var errs []error
	if b.BackupDir != "" && b.BackupEvery < time.Minute {
		errs = append(errs, errors.New("--backup-every must be at least 1m"))
	}
	if b.BackupDir != "" && b.BackupKeep < 1 {
		errs = append(errs, errors.New("--backup-keep must be at least 1"))
	}
	return errs
}

// apply copies the settings into inventory's configuration.
func (b BackupConfig) apply(c *inventory.Config) {
	c.KEKFile, c.BackupDir, c.BackupEvery, c.BackupKeep = b.KEKFile, b.BackupDir, b.BackupEvery, b.BackupKeep
}

// Restore writes the backup in file into the embedded store of dataDir,
// which must not hold any record yet (dialtone restore; dialtone must not
// be running: the store file is locked while it runs). Nothing is written
// unless the whole file checks out.
func Restore(ctx context.Context, dataDir, kekFile, file string, out io.Writer) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := prepareDataDir(dataDir); err != nil {
		return err
	}
	st, err := inventory.OpenBoltStore(filepath.Join(dataDir, "inventory.db"))
	if err != nil {
		return fmt.Errorf("%w (is dialtone running on this data directory? stop it first)", err)
	}
	defer st.Close()
	summary, err := inventory.RestoreBackup(ctx, st, f, kekFile)
	if err != nil {
		return fmt.Errorf("restore %s: %w", file, err)
	}
	fmt.Fprintf(out, "restored into %s: %s\n", dataDir, summary)
	fmt.Fprintf(out, "phones keep their provisioning URLs; start dialtone with --data-dir %s%s\n", dataDir, kekHint(kekFile))
	return nil
}

func kekHint(kekFile string) string {
	if kekFile == "" {
		return " (and the --kek-file the backup was sealed with, if it was)"
	}
	return " --kek-file " + kekFile
}
