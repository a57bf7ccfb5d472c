package ctl

import (
	"strings"
	"testing"
)

// TestUsersCommands: dialtonectl users add/list/update/delete against a real
// inventory; the password goes in by flag or DIALTONE_USER_PASSWORD and is
// never printed.
func TestUsersCommands(t *testing.T) {
	s := startServer(t)
	s.run(t, "users", "add", "alice", "--role", "admin", "--display-name", "Alice", "--password", "correct horse").ok(t)
	runEnv(t, map[string]string{"DIALTONE_SERVER": s.addr, "DIALTONE_DATA_DIR": s.dataDir, "DIALTONE_USER_PASSWORD": "battery staple"}, false,
		"users", "add", "bob", "--scope-tenant", "default").ok(t)
	s.run(t, "users", "add", "carol").fails(t, 2, "DIALTONE_USER_PASSWORD")
	s.run(t, "users", "add", "carol", "--role", "boss", "--password", "12345678").fails(t, 2, "--role")
	s.run(t, "users", "add", "carol", "--password", "short").fails(t, 1, "invalid argument", "user.password")
	r := s.run(t, "users", "list").ok(t)
	for _, want := range []string{"alice", "Alice", "admin", "bob", "readonly", "default"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("users list lacks %q:\n%s", want, r.out)
		}
	}
	r = s.run(t, "users", "list", "-o", "json").ok(t)
	if strings.Contains(r.out, "correct horse") || strings.Contains(r.out, "$2a$") || !strings.Contains(r.out, `"has_password": true`) {
		t.Errorf("users list -o json:\n%s", r.out)
	}
	s.run(t, "users", "update", "bob", "--role", "admin", "--disabled").ok(t)
	r = s.run(t, "users", "list").ok(t)
	if !strings.Contains(r.out, "true") {
		t.Errorf("bob not disabled:\n%s", r.out)
	}
	s.run(t, "users", "update", "bob").fails(t, 2, "nothing to change")
	s.run(t, "users", "delete", "bob").ok(t)
	s.run(t, "users", "delete", "bob").fails(t, 1, "not found")
}
