// Package testenv gates tests on things outside the Go toolchain (binaries,
// root, kernel features). Locally a missing dependency skips the test; in CI
// (the CI environment variable is set) it fails the test, so a green CI run
// means every integration test really ran.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI: the CI environment variable is
// set to anything but "", "0" or "false".
func InCI() bool {
	switch os.Getenv("CI") {
	case "", "0", "false":
		return false
	}
	return true
}

// Require stops the test when ok is false: t.Fatalf in CI, t.Skipf otherwise.
// what names the missing dependency, e.g. "redis-server in PATH".
func Require(t testing.TB, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("testenv: %s is required (CI is set, so this fails instead of skipping)", what)
		return
	}
	t.Skipf("testenv: %s is not available; skipping (set CI=true to make this fail)", what)
}

// LookBinary returns the path of the executable name, or stops the test via
// Require when it is not in PATH.
func LookBinary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	Require(t, name+" in PATH", err == nil)
	return path
}

// RequireRoot stops the test via Require unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, "root (euid 0)", os.Geteuid() == 0)
}

// SkipShort skips a long test under -short (make test-short) outside CI;
// in CI it always runs. why says what makes it long.
func SkipShort(t testing.TB, why string) {
	t.Helper()
	if testing.Short() && !InCI() {
		t.Skipf("-short outside CI: %s", why)
	}
}
