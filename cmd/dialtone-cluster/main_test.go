package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/dialtone-voip/dialtone/cmd/internal/cluster"
)

// TestHoldRelease: `hold` creates the member's hold file the supervisor
// reads when the member exits, `release` removes it; unknown members are
// refused. (The supervisor's side: cmd/internal/cluster TestSupervisorHold.)
func TestHoldRelease(t *testing.T) {
	dir := t.TempDir()
	st := cluster.State{Members: []cluster.MemberRecord{{Name: "nats-2", Kind: "nats"}}}
	b, _ := json.Marshal(st)
	if err := os.WriteFile(cluster.StateFile(dir), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"hold", "--dir", dir, "nats-2"}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	f := cluster.HoldFile(dir, "nats-2")
	if _, err := os.Stat(f); err != nil {
		t.Fatalf("no hold file after hold: %v", err)
	}
	if filepath.Dir(f) != filepath.Join(dir, "hold") {
		t.Errorf("hold file %s", f)
	}
	if err := run(t.Context(), []string{"release", "--dir", dir, "nats-2"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f); !os.IsNotExist(err) {
		t.Fatalf("hold file still there after release: %v", err)
	}
	if err := run(t.Context(), []string{"hold", "--dir", dir, "nats-9"}, &out, &errb); err == nil {
		t.Error("hold of an unknown member accepted")
	}
}
