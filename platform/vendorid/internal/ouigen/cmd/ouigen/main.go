// Command ouigen writes platform/vendorid/table.go (run by go generate).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/dialtone-voip/dialtone/platform/vendorid/internal/ouigen"
)

func main() {
	dir := flag.String("registry", ouigen.DefaultRegistryDir, "directory of the IEEE registry CSVs (Debian ieee-data)")
	sup := flag.String("supplement", "supplement.csv", "blocks the installed registry snapshot lacks")
	out := flag.String("out", "table.go", "output file")
	flag.Parse()
	s, err := os.ReadFile(*sup)
	if err == nil {
		var src []byte
		src, err = ouigen.Build(*dir, s)
		if err == nil {
			err = os.WriteFile(*out, src, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ouigen:", err)
		os.Exit(1)
	}
}
