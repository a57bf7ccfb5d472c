// Package subcmd is a tiny command dispatcher on top of package flag for
// dialtonectl and phonesim: nested commands ("phones assign"), flags
// accepted before and after positional arguments, --help on every level,
// and global flags that may appear anywhere on the line.
package subcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Command is one node of the command tree. A command has either Subs or Run.
type Command struct {
	Name string
	// Args documents the positional arguments, e.g. "MAC".
	Args  string
	Short string
	// Long is printed by --help under the usage line.
	Long string
	// Flags registers the command's own flags.
	Flags func(fs *flag.FlagSet)
	// NArgs is the exact number of positional arguments (-1: any).
	NArgs int
	Run   func(ctx context.Context, args []string) error
	Subs  []*Command
}

// App is a program: its command tree and the global flags every command accepts.
type App struct {
	Name string
	Root *Command
	// Globals registers the global flags on a flag set. It is called more
	// than once (root and leaf), so it must bind flag.Values that do not
	// reset their target (use Var with the helpers below, not StringVar).
	Globals func(fs *flag.FlagSet)
	// AfterParse runs after all flags are parsed, before Run (environment
	// fallbacks, validation). set holds the names given on the command line.
	AfterParse func(set map[string]bool) error
	Stdout     io.Writer
}

// UsageError is a mistake on the command line (exit status 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a UsageError.
func Usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// IsUsage reports whether err is a UsageError.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// Execute parses args (without the program name) and runs the command.
// --help prints help to Stdout and returns nil.
func (a *App) Execute(ctx context.Context, args []string) error {
	set := map[string]bool{}
	root := a.newFlagSet(a.Name)
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.help([]*Command{a.Root}, nil)
			return nil
		}
		return &UsageError{Msg: err.Error()}
	}
	root.Visit(func(f *flag.Flag) { set[f.Name] = true })
	rest := root.Args()
	path := []*Command{a.Root}
	cmd := a.Root
	for len(cmd.Subs) > 0 {
		if len(rest) == 0 {
			a.help(path, nil)
			return a.usagef(path, "missing command (see %s --help)", a.cmdline(path))
		}
		name := rest[0]
		if name == "help" {
			if sub := find(cmd, rest[1:]); sub != nil {
				a.help(append(path, sub...), nil)
				return nil
			}
			a.help(path, nil)
			return nil
		}
		next := findSub(cmd, name)
		if next == nil {
			return a.usagef(path, "unknown command %q (see %s --help)", name, a.cmdline(path))
		}
		cmd = next
		path = append(path, cmd)
		rest = rest[1:]
		if len(cmd.Subs) == 0 {
			break
		}
		// Global flags may sit between command words ("phones -o json list").
		fs := a.newFlagSet(a.cmdline(path))
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				a.help(path, nil)
				return nil
			}
			return &UsageError{Msg: err.Error()}
		}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		rest = fs.Args()
	}
	fs := a.newFlagSet(a.cmdline(path))
	if cmd.Flags != nil {
		cmd.Flags(fs)
	}
	pos, err := parseInterleaved(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.help(path, fs)
			return nil
		}
		return a.usagef(path, "%v", err)
	}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cmd.NArgs >= 0 && len(pos) != cmd.NArgs {
		want := "no arguments"
		if cmd.NArgs > 0 {
			want = fmt.Sprintf("%d argument(s): %s", cmd.NArgs, cmd.Args)
		}
		got := "none"
		if len(pos) > 0 {
			got = strings.Join(pos, " ")
		}
		return a.usagef(path, "want %s, got %s (see --help)", want, got)
	}
	if a.AfterParse != nil {
		if err := a.AfterParse(set); err != nil {
			return err
		}
	}
	return cmd.Run(ctx, pos)
}

func find(cmd *Command, words []string) []*Command {
	var out []*Command
	for _, w := range words {
		next := findSub(cmd, w)
		if next == nil {
			break
		}
		out = append(out, next)
		cmd = next
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func findSub(cmd *Command, name string) *Command {
	for _, s := range cmd.Subs {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// usagef is a UsageError that names the command without the program
// name: main prints that before every error ("dialtonectl: phones
// assign: …", never "dialtonectl: dialtonectl phones assign: …").
func (a *App) usagef(path []*Command, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if len(path) > 1 {
		names := make([]string, 0, len(path)-1)
		for _, c := range path[1:] {
			names = append(names, c.Name)
		}
		msg = strings.Join(names, " ") + ": " + msg
	}
	return &UsageError{Msg: msg}
}

func (a *App) cmdline(path []*Command) string {
	names := []string{a.Name}
	for _, c := range path[1:] {
		names = append(names, c.Name)
	}
	return strings.Join(names, " ")
}

func (a *App) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if a.Globals != nil {
		a.Globals(fs)
	}
	return fs
}

// parseInterleaved lets flags follow positional arguments ("assign MAC
// --extension 100"); everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func (a *App) help(path []*Command, fs *flag.FlagSet) {
	w := a.Stdout
	cmd := path[len(path)-1]
	line := a.cmdline(path)
	switch {
	case len(cmd.Subs) > 0:
		fmt.Fprintf(w, "Usage: %s COMMAND [flags]\n", line)
	case cmd.Args != "":
		fmt.Fprintf(w, "Usage: %s %s [flags]\n", line, cmd.Args)
	default:
		fmt.Fprintf(w, "Usage: %s [flags]\n", line)
	}
	if cmd.Short != "" {
		fmt.Fprintf(w, "\n%s\n", cmd.Short)
	}
	if cmd.Long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cmd.Long))
	}
	if len(cmd.Subs) > 0 {
		fmt.Fprintf(w, "\nCommands:\n")
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		for _, s := range cmd.Subs {
			name := s.Name
			if s.Args != "" {
				name += " " + s.Args
			}
			fmt.Fprintf(tw, "  %s\t%s\n", name, s.Short)
		}
		tw.Flush()
	}
	if fs == nil && len(cmd.Subs) == 0 {
		fs = a.newFlagSet(line)
		if cmd.Flags != nil {
			cmd.Flags(fs)
		}
	}
	global := a.newFlagSet("")
	if fs != nil {
		var own []*flag.Flag
		fs.VisitAll(func(f *flag.Flag) {
			if global.Lookup(f.Name) == nil {
				own = append(own, f)
			}
		})
		if len(own) > 0 {
			fmt.Fprintf(w, "\nFlags:\n")
			printFlags(w, own)
		}
	}
	var gl []*flag.Flag
	global.VisitAll(func(f *flag.Flag) { gl = append(gl, f) })
	if len(gl) > 0 {
		fmt.Fprintf(w, "\nGlobal flags:\n")
		printFlags(w, gl)
	}
	if len(cmd.Subs) > 0 {
		fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags.\n", line)
	}
}

func printFlags(w io.Writer, flags []*flag.Flag) {
	slices.SortFunc(flags, func(a, b *flag.Flag) int { return strings.Compare(a.Name, b.Name) })
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, f := range flags {
		name, usage := flag.UnquoteUsage(f)
		if tn, ok := f.Value.(interface{ TypeName() string }); ok && name == "value" {
			name = tn.TypeName()
		}
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		left := dash + f.Name
		if name != "" {
			left += " " + name
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "[]" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(tw, "  %s\t%s%s\n", left, usage, def)
	}
	tw.Flush()
}
