// Package lantest builds a small private LAN for a test out of Linux
// network namespaces: one namespace per named host, each with an "eth0"
// veth whose peer is attached to a bridge in a separate switch namespace.
// Hosts get addresses in 198.18.0.0/24 (the benchmarking range
// 198.18.0.0/15, never routed), multicast is on, and 224.0.0.0/4 is routed
// via eth0, so SIP multicast PnP (224.0.1.75) works between hosts exactly
// as on a real LAN — and never leaks onto the machine's network.
//
// Namespaces are named "dt-<random>-<host>" and deleted in t.Cleanup, also
// when the test fails or panics. It needs root and the ip command
// (iproute2); otherwise testenv.Require skips the test locally and fails
// it in CI.
//
//	lan := lantest.New(t, "pbx", "phone1")
//	pbx := lan.Host("pbx")
//	var conn *net.UDPConn
//	err := pbx.Run(func() error { // sockets made here live in pbx's namespace
//		var err error
//		conn, err = net.ListenMulticastUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(224, 0, 1, 75), Port: 15060})
//		return err
//	})
//	out, err := lan.Host("phone1").Command("ping", "-c1", pbx.Addr().String()).CombinedOutput()
package lantest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/dialtone-voip/dialtone/platform/testenv"
)

// Subnet is the LAN's IPv4 subnet; hosts get .1, .2, … in New's order.
var Subnet = netip.MustParsePrefix("198.18.0.0/24")

// Iface is the name of every host's LAN interface.
const Iface = "eth0"

// NamePrefix starts every namespace lantest creates.
const NamePrefix = "dt-"

// LAN is a set of hosts on one bridged segment.
type LAN struct {
	id     string
	sw     string
	hosts  []*Host
	byName map[string]*Host
	t      testing.TB
}

// Host is one network namespace on the LAN.
type Host struct {
	name string
	ns   string
	addr netip.Addr
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,19}$`)

// New creates the LAN with one host per name (lower-case letters, digits
// and '-', at most 20 characters) and registers its removal with
// t.Cleanup. It fails the test if any step fails.
func New(t testing.TB, names ...string) *LAN {
	t.Helper()
	testenv.RequireRoot(t)
	ip := testenv.LookBinary(t, "ip")
	if len(names) == 0 || len(names) > 250 {
		t.Fatalf("lantest: need 1 to 250 hosts, got %d", len(names))
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("lantest: %v", err)
	}
	l := &LAN{id: hex.EncodeToString(b), byName: map[string]*Host{}, t: t}
	l.sw = NamePrefix + l.id + "-sw"
	addr := Subnet.Addr().Next()
	for _, n := range names {
		if !validName.MatchString(n) || n == "sw" {
			t.Fatalf("lantest: invalid host name %q", n)
		}
		if l.byName[n] != nil {
			t.Fatalf("lantest: duplicate host name %q", n)
		}
		h := &Host{name: n, ns: NamePrefix + l.id + "-" + n, addr: addr}
		addr = addr.Next()
		l.hosts = append(l.hosts, h)
		l.byName[n] = h
	}

	var created []string
	t.Cleanup(func() {
		for _, ns := range created {
			if out, err := exec.Command(ip, "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("lantest: delete namespace %s: %v: %s", ns, err, out)
			}
		}
	})
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("lantest: ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range l.Namespaces() {
		// A namespace left behind by a killed run with the same name.
		_ = exec.Command(ip, "netns", "del", ns).Run()
		run("netns", "add", ns)
		created = append(created, ns)
	}

	// The switch: a bridge that floods multicast (no IGMP snooping, so
	// delivery does not depend on querier timing).
	run("-n", l.sw, "link", "set", "lo", "up")
	run("-n", l.sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	run("-n", l.sw, "link", "set", "br0", "up")
	bits := fmt.Sprint(Subnet.Bits())
	for i, h := range l.hosts {
		port := fmt.Sprintf("p%d", i)
		run("-n", l.sw, "link", "add", port, "type", "veth", "peer", "name", Iface, "netns", h.ns)
		run("-n", l.sw, "link", "set", port, "master", "br0", "up")
		run("-n", h.ns, "link", "set", "lo", "up")
		run("-n", h.ns, "addr", "add", h.addr.String()+"/"+bits, "dev", Iface)
		run("-n", h.ns, "link", "set", Iface, "up", "multicast", "on")
		run("-n", h.ns, "route", "add", "224.0.0.0/4", "dev", Iface)
	}
	return l
}

// Host returns the host called name; it fails the test if there is none.
func (l *LAN) Host(name string) *Host {
	l.t.Helper()
	h := l.byName[name]
	if h == nil {
		l.t.Fatalf("lantest: no host %q", name)
	}
	return h
}

// Hosts returns the hosts in New's order.
func (l *LAN) Hosts() []*Host { return append([]*Host(nil), l.hosts...) }

// Namespaces returns the names of every namespace of the LAN, the switch's
// first.
func (l *LAN) Namespaces() []string {
	ns := []string{l.sw}
	for _, h := range l.hosts {
		ns = append(ns, h.ns)
	}
	return ns
}

// Name is the host's name as given to New.
func (h *Host) Name() string { return h.name }

// Netns is the host's network namespace name (for `ip netns exec`).
func (h *Host) Netns() string { return h.ns }

// Addr is the host's IPv4 address on the LAN.
func (h *Host) Addr() netip.Addr { return h.addr }

// Iface is the host's LAN interface name, "eth0".
func (h *Host) Iface() string { return Iface }

// Command returns a command that runs name inside the host's namespace
// (via `ip netns exec`).
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
}

// CommandContext is Command with a context that kills the command.
func (h *Host) CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
}

// Run calls fn on an OS thread switched into the host's namespace and
// returns its error. Sockets fn creates belong to the host's namespace and
// stay there, so they can be used from any goroutine afterwards. Only fn's
// own goroutine is inside the namespace: goroutines it starts run in the
// test's namespace. The thread is switched back afterwards (or discarded
// if that fails).
func (h *Host) Run(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread unless the namespace is restored: a locked
		// goroutine that exits takes its thread with it.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("lantest: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open(nsPath(h.ns))
		if err != nil {
			errc <- fmt.Errorf("lantest: host %s: %w", h.name, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("lantest: setns %s: %w", h.ns, err)
			return
		}
		ferr := callRecover(fn)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("lantest: restore network namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// nsPath is where `ip netns add` binds the namespace: /run/netns, or
// /var/run/netns where /var/run is not a link to /run.
func nsPath(ns string) string {
	p := filepath.Join("/run/netns", ns)
	if _, err := os.Stat(p); err != nil {
		return filepath.Join("/var/run/netns", ns)
	}
	return p
}

func callRecover(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("lantest: panic in Run: %v", p)
		}
	}()
	return fn()
}
