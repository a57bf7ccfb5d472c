// Command dialtonectl is the administrator's command line for Dialtone:
// extensions, phones (assign, add by MAC, provisioning URL, CSV import),
// SIP interfaces, the model catalog and a live watch of phone changes.
// See "dialtonectl --help".
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/dialtone-voip/dialtone/cmd/internal/ctl"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
)

func main() {
	ctx, stop := lifecycle.SignalContext(context.Background())
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialtonectl: %v\n", err)
	}
	os.Exit(ctl.ExitCode(err))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return ctl.Run(ctx, args, ctl.Env{Getenv: getenv, Stdout: stdout, Stderr: stderr, IsTTY: isTerminal(stdout)})
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
