package testenv

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder captures Skipf/Fatalf instead of stopping the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestRequire(t *testing.T) {
	for _, tc := range []struct {
		ci         string
		ok         bool
		skip, fail bool
	}{
		{ci: "", ok: true},
		{ci: "true", ok: true},
		{ci: "", ok: false, skip: true},
		{ci: "false", ok: false, skip: true},
		{ci: "true", ok: false, fail: true},
		{ci: "1", ok: false, fail: true},
		{ci: "github", ok: false, fail: true},
	} {
		t.Run(fmt.Sprintf("CI=%q/ok=%v", tc.ci, tc.ok), func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			Require(r, "thing", tc.ok)
			if got := r.skipped != ""; got != tc.skip {
				t.Errorf("skipped = %v (%q), want %v", got, r.skipped, tc.skip)
			}
			if got := r.failed != ""; got != tc.fail {
				t.Errorf("failed = %v (%q), want %v", got, r.failed, tc.fail)
			}
		})
	}
}

func TestLookBinary(t *testing.T) {
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	if p := LookBinary(r, "sh"); p == "" || r.failed != "" {
		t.Fatalf("LookBinary(sh) = %q, failed %q", p, r.failed)
	}
	LookBinary(r, "dialtone-no-such-binary")
	if r.failed == "" {
		t.Fatal("missing binary did not fail in CI")
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	WaitFor(t, 10*time.Second, "three polls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
	r := &recorder{}
	WaitFor(r, 30*time.Millisecond, "never", func() bool { return false })
	if !strings.Contains(r.failed, "never") {
		t.Fatalf("failure %q does not name the condition", r.failed)
	}
	if err := Poll(0, func() bool { return false }); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Poll = %v, want ErrTimeout", err)
	}
	// PollEvery: 200 ms for at most 450 ms is at most four checks.
	n = 0
	if err := PollEvery(450*time.Millisecond, 200*time.Millisecond, func() bool { n++; return false }); !errors.Is(err, ErrTimeout) || n > 4 {
		t.Fatalf("PollEvery = %v after %d checks, want ErrTimeout after at most 4", err, n)
	}
}
