// Command phonesim simulates IP phones booting against Dialtone: the PnP
// SUBSCRIBE, the NOTIFY, the vendor's file downloads, and a report of the
// configuration the phone would apply. See "phonesim --help".
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/dialtone-voip/dialtone/cmd/internal/phonesim"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
)

func main() {
	ctx, stop := lifecycle.SignalContext(context.Background())
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "phonesim: %v\n", err)
	}
	os.Exit(phonesim.ExitCode(err))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return phonesim.Run(ctx, args, phonesim.Env{
		Getenv: getenv, Stdout: stdout, Stderr: stderr, IsTTY: isTerminal(stdout),
	})
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
