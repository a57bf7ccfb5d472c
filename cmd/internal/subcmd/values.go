package subcmd

import (
	"flag"
	"strconv"
	"time"
)

// The Var helpers bind flags that may be registered on several flag sets
// (global flags) without resetting the target to its default each time:
// set the default in the variable before the first registration.

type stringValue struct{ p *string }

func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}
func (v stringValue) Set(s string) error { *v.p = s; return nil }
func (stringValue) TypeName() string     { return "string" }

// StringVar binds a string flag to *p.
func StringVar(fs *flag.FlagSet, p *string, name, usage string) {
	fs.Var(stringValue{p}, name, usage)
}

type secretValue struct{ p *string }

func (v secretValue) String() string     { return "" }
func (v secretValue) Set(s string) error { *v.p = s; return nil }
func (secretValue) TypeName() string     { return "string" }

// SecretVar binds a string flag whose value is never shown (help prints
// no default for it).
func SecretVar(fs *flag.FlagSet, p *string, name, usage string) {
	fs.Var(secretValue{p}, name, usage)
}

type boolValue struct{ p *bool }

func (v boolValue) String() string {
	if v.p == nil {
		return "false"
	}
	return strconv.FormatBool(*v.p)
}
func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*v.p = b
	return nil
}
func (v boolValue) IsBoolFlag() bool { return true }
func (boolValue) TypeName() string   { return "" }

// BoolVar binds a boolean flag to *p.
func BoolVar(fs *flag.FlagSet, p *bool, name, usage string) {
	fs.Var(boolValue{p}, name, usage)
}

type durationValue struct{ p *time.Duration }

func (v durationValue) String() string {
	if v.p == nil {
		return "0s"
	}
	return v.p.String()
}
func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*v.p = d
	return nil
}

func (durationValue) TypeName() string { return "duration" }

// DurationVar binds a duration flag to *p.
func DurationVar(fs *flag.FlagSet, p *time.Duration, name, usage string) {
	fs.Var(durationValue{p}, name, usage)
}
