package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// backupTimeout is the least deadline of backup and restore: a large
// site's file takes longer than one ordinary call.
const backupTimeout = 10 * time.Minute

// BackupCommand is "backup FILE" (also the one-process dialtone's).
func (c *cli) backupCommand() *subcmd.Command {
	return &subcmd.Command{
		Name: "backup", Args: "FILE", NArgs: 1,
		Short: "Write a backup of the whole inventory to FILE while the suite runs.",
		Long: `Exports every tenant, SIP interface, extension and phone (with its provisioning
token) through inventory's ExportBackup: a consistent snapshot on the embedded store.
The file has a format version, a SHA-256 checksum and a summary of what it holds;
with --kek-file set on the server its secrets stay sealed and restoring needs the
same key file. FILE is written under a temporary name and renamed when complete.
"-" writes to standard output.`,
		Run: func(ctx context.Context, args []string) error {
			return c.callLong(ctx, func(ctx context.Context, cl *Clients) error {
				st, err := cl.Inventory.ExportBackup(ctx, &inventoryv1.ExportBackupRequest{})
				if err != nil {
					return err
				}
				var buf bytes.Buffer
				for {
					ch, err := st.Recv()
					if err == io.EOF {
						break
					}
					if err != nil {
						return err
					}
					buf.Write(ch.GetData())
				}
				summary := summarize(buf.Bytes())
				if args[0] == "-" {
					_, err := c.env.Stdout.Write(buf.Bytes())
					return err
				}
				if err := writeFileAtomic(args[0], buf.Bytes()); err != nil {
					return err
				}
				fmt.Fprintf(c.env.Stdout, "backup written to %s (%d bytes): %s\n", args[0], buf.Len(), summary)
				return nil
			})
		},
	}
}

func (c *cli) restoreCommand() *subcmd.Command {
	return &subcmd.Command{
		Name: "restore", Args: "FILE", NArgs: 1,
		Short: "Restore a backup into an empty inventory (all of it or nothing).",
		Long: `Sends FILE to inventory's ImportBackup. The file is checked whole (format,
checksum, length, contents) before anything is written; a damaged, truncated or
newer-format file is refused, and so is a store that is not empty. Phones keep
their provisioning tokens. For the one-process dialtone, stop it and use
"dialtone restore" instead, which writes the data directory directly.`,
		Run: func(ctx context.Context, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			return c.callLong(ctx, func(ctx context.Context, cl *Clients) error {
				st, err := cl.Inventory.ImportBackup(ctx)
				if err != nil {
					return err
				}
				for rest := data; len(rest) > 0; {
					m := min(len(rest), 256<<10)
					if err := st.Send(&inventoryv1.ImportBackupRequest{Data: rest[:m]}); err != nil {
						break // the server's answer says why
					}
					rest = rest[m:]
				}
				resp, err := st.CloseAndRecv()
				if err != nil {
					return err
				}
				fmt.Fprintf(c.env.Stdout, "restored %s\n", countsLine(resp.GetRecords()))
				return nil
			})
		},
	}
}

func (c *cli) keysCommand() *subcmd.Command {
	rotate := &subcmd.Command{
		Name: "rotate", NArgs: 0,
		Short: "Rotate the keys that seal secrets at rest (online).",
		Long: `Inventory re-reads its --kek-file (the first key is the current KEK), makes a new
data key wrapped by it, rewraps the older data keys with it and reseals every record
under the new data key while it keeps serving. To replace the KEK: put the new key
on the file's first line and keep the old one on the second, run this, then remove
the old line.`,
		Run: func(ctx context.Context, _ []string) error {
			return c.callLong(ctx, func(ctx context.Context, cl *Clients) error {
				r, err := cl.Inventory.RotateKeys(ctx, &inventoryv1.RotateKeysRequest{})
				if err != nil {
					return err
				}
				fmt.Fprintf(c.env.Stdout, "data key %s is current, wrapped by KEK %s; %d older data keys rewrapped, %d records resealed\n",
					r.GetDataKeyId(), r.GetKekId(), r.GetRewrappedDataKeys(), r.GetResealedRecords())
				return nil
			})
		},
	}
	return &subcmd.Command{Name: "keys", Short: "Keys that seal secrets at rest.", Subs: []*subcmd.Command{rotate}}
}

// callLong is call with at least backupTimeout.
func (c *cli) callLong(ctx context.Context, fn func(ctx context.Context, cl *Clients) error) error {
	cl, err := c.clients(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, max(c.g.Timeout, backupTimeout))
	defer cancel()
	return fn(ctx, cl)
}

// summarize reads the header line of a backup for the user.
func summarize(file []byte) string {
	_, rest, ok := bytes.Cut(file, []byte("\n"))
	if !ok {
		return "empty"
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	var h struct {
		Format  int              `json:"format"`
		Records map[string]int64 `json:"records"`
		Sealed  bool             `json:"sealed"`
	}
	if err := json.Unmarshal(line, &h); err != nil {
		return "unreadable header"
	}
	s := fmt.Sprintf("format %d, %s", h.Format, countsLine(h.Records))
	if h.Sealed {
		s += "; secrets sealed (restoring needs the same --kek-file)"
	}
	return s
}

func countsLine(m map[string]int64) string {
	if len(m) == 0 {
		return "no records"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, synced and renamed: a crash never leaves a half backup.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("write %s", path), err)
	}
	return nil
}
