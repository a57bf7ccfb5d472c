package suite

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
)

// startError is a failure to start that the administrator fixes with a
// flag: Run returns it as it is, one line naming the flag, without the
// component prefixes of the lifecycle group.
type startError struct {
	msg string
	err error
}

func (e *startError) Error() string { return e.msg }
func (e *startError) Unwrap() error { return e.err }

// cause is the most precise reason in err: the system call's error
// ("address already in use") when there is one, else err without the
// service's own "name: " prefix (the group adds the component's name).
func cause(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	if inner := errors.Unwrap(err); inner != nil {
		return inner.Error()
	}
	return err.Error()
}

// sipError turns the SIP listener's failure to bind into one line naming
// the flag to change. bound says whether the sockets were open (a later
// failure is a fault, not a setting: it keeps its cause, once).
func sipError(err error, bound bool, cfg Config) error {
	if err == nil {
		return nil
	}
	if bound {
		return withoutPrefix(err, "pnp-listener: ")
	}
	inUse := errors.Is(err, syscall.EADDRINUSE)
	switch {
	case cfg.SIPBindMode == pnplistener.BindBesidePBX && inUse && strings.Contains(err.Error(), "reply socket"):
		return &startError{err: err, msg: fmt.Sprintf(
			"cannot bind the SIP reply socket on udp port %d (--sip-reply-port): %s; choose another --sip-reply-port",
			cfg.SIPReplyPort, cause(err))}
	case cfg.SIPBindMode == pnplistener.BindBesidePBX && inUse:
		return &startError{err: err, msg: fmt.Sprintf(
			"cannot bind SIP multicast 224.0.1.75 beside the program holding the port of --sip-addr %s: %s; "+
				"beside-pbx needs that program to open its socket with SO_REUSEADDR, else choose another --sip-addr",
			cfg.SIPAddr, cause(err))}
	case inUse:
		return &startError{err: err, msg: fmt.Sprintf(
			"cannot listen for SIP on udp %s (--sip-addr): %s; if a PBX on this host holds the port, start with --sip-bind-mode beside-pbx",
			cfg.SIPAddr, cause(err))}
	}
	return &startError{err: err, msg: fmt.Sprintf(
		"cannot open the SIP sockets (--sip-addr %s, --sip-bind-mode %s, --sip-interfaces %q): %s",
		cfg.SIPAddr, cfg.SIPBindMode, cfg.SIPInterfaces, strings.TrimPrefix(cause(err), "sipsock: "))}
}

// listenError does the same for the phone-facing HTTP(S) listeners. A
// failure to listen is a *net.OpError of op "listen"; any other is a fault
// while serving.
func listenError(err error, cfg Config) error {
	if err == nil {
		return nil
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "listen" {
		return withoutPrefix(err, "provision-http: ")
	}
	flagName, addr := "--http-addr", cfg.HTTPAddr
	if cfg.HTTPSAddr != "" && strings.Contains(err.Error(), "listen "+cfg.HTTPSAddr+":") {
		flagName, addr = "--https-addr", cfg.HTTPSAddr
	}
	return &startError{err: err, msg: fmt.Sprintf("cannot listen for phones on tcp %s (%s): %s", addr, flagName, cause(err))}
}

// prefixed is an error whose message lost the service's own prefix: the
// lifecycle group adds the component's name, the same word.
type prefixed struct {
	msg string
	err error
}

func (e *prefixed) Error() string { return e.msg }
func (e *prefixed) Unwrap() error { return e.err }

func withoutPrefix(err error, prefix string) error {
	if msg, ok := strings.CutPrefix(err.Error(), prefix); ok {
		return &prefixed{msg: msg, err: err}
	}
	return err
}
