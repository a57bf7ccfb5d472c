package ctl

import (
	"strings"
	"testing"
)

// TestStateFetching: `fetching` is a state word of --state, and the usage
// error lists it.
func TestStateFetching(t *testing.T) {
	s := startServer(t)
	if r := s.run(t, "phones", "list", "--state", "fetching").ok(t); strings.Count(r.out, "\n") != 1 {
		t.Errorf("phones list --state fetching on an empty inventory:\n%s", r.out)
	}
	if st, err := parseState("Fetching"); err != nil || stateName(st) != "fetching" {
		t.Errorf("parseState(Fetching) = %v, %v", st, err)
	}
	if _, err := parseState("lost"); err == nil || !strings.Contains(err.Error(), "fetching") {
		t.Errorf("parseState(lost) = %v, want the list of states", err)
	}
}
