package subcmd

import (
	"bytes"
	"context"
	"flag"
	"slices"
	"strings"
	"testing"
)

func TestParseInterleaved(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	ext := fs.String("extension", "", "")
	v := fs.Bool("v", false, "")
	pos, err := parseInterleaved(fs, []string{"MAC", "--extension", "201", "more", "-v", "--", "--not-a-flag"})
	if err != nil {
		t.Fatal(err)
	}
	if *ext != "201" || !*v || !slices.Equal(pos, []string{"MAC", "more", "--not-a-flag"}) {
		t.Errorf("got %q %v %q", *ext, *v, pos)
	}
}

func TestExecute(t *testing.T) {
	var out bytes.Buffer
	var global string
	var got []string
	var flagVal string
	app := &App{Name: "tool", Stdout: &out,
		Globals: func(fs *flag.FlagSet) { StringVar(fs, &global, "server", "address") }}
	app.Root = &Command{Name: "tool", Subs: []*Command{{Name: "grp", Short: "a group", Subs: []*Command{{
		Name: "leaf", Args: "X", NArgs: 1, Short: "a leaf",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&flagVal, "f", "def", "a flag") },
		Run:   func(_ context.Context, args []string) error { got = args; return nil },
	}}}}}
	if err := app.Execute(context.Background(), []string{"--server", "a", "grp", "leaf", "x1", "-f", "v", "--server", "b"}); err != nil {
		t.Fatal(err)
	}
	if global != "b" || flagVal != "v" || !slices.Equal(got, []string{"x1"}) {
		t.Errorf("global %q flag %q args %q", global, flagVal, got)
	}
	for _, args := range [][]string{{"grp"}, {"nope"}, {"grp", "leaf"}, {"grp", "leaf", "a", "b"}, {"grp", "leaf", "a", "--zz"}} {
		if err := app.Execute(context.Background(), args); !IsUsage(err) {
			t.Errorf("%q: err %v, want a usage error", args, err)
		}
	}
	out.Reset()
	if err := app.Execute(context.Background(), []string{"grp", "leaf", "--help"}); err != nil || !strings.Contains(out.String(), "Usage: tool grp leaf X [flags]") ||
		!strings.Contains(out.String(), "-f string") || !strings.Contains(out.String(), "--server string") {
		t.Errorf("help: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := app.Execute(context.Background(), []string{"help", "grp"}); err != nil || !strings.Contains(out.String(), "leaf X") {
		t.Errorf("help grp: %v\n%s", err, out.String())
	}
}
