package suite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dialtone-voip/dialtone/platform/auth"
)

// AdminTokenFile is the admin token's file name inside the data directory;
// dialtonectl reads it from there when no token is given.
const AdminTokenFile = "admin.token"

// prepareDataDir creates dir (0700) and its sub-directories.
func prepareDataDir(dir string) error {
	for _, sub := range []string{"", "nats", "rps", "templates"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	return nil
}

// adminToken returns the admin token stored in dir, creating it on first run.
// created reports whether it was created now.
func adminToken(dir string) (token string, created bool, err error) {
	path := filepath.Join(dir, AdminTokenFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		token = strings.TrimSpace(string(b))
		if token == "" {
			return "", false, fmt.Errorf("admin token file %s is empty: delete it to create a new one", path)
		}
		return token, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	token, err = auth.GenerateToken()
	if err != nil {
		return "", false, err
	}
	// O_EXCL: two processes starting at once must not both write a token.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	return token, true, f.Close()
}
