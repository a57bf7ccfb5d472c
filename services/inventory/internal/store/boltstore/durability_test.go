package boltstore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/boltstore"
)

const childEnv = "INVENTORY_BOLT_CHILD_DB"

// TestMain doubles as the child of TestDurableAfterKill9: it writes records
// forever and prints "ack N" after each Apply returns.
func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(childWriter(path))
	}
	os.Exit(m.Run())
}

func childWriter(path string) int {
	s, err := boltstore.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i := 0; ; i++ {
		_, err := s.Apply(context.Background(), func(int64) (store.Batch, error) {
			return store.Batch{
				Ops:    []store.Op{{Kind: store.KindPhone, ID: fmt.Sprintf("%012d", i), Terms: []string{"s=1"}, Keys: []string{"k" + strconv.Itoa(i)}, Value: []byte("value")}},
				Outbox: []store.Message{{Subject: "s", MsgID: strconv.Itoa(i), Data: []byte("d")}},
			}, nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintf(os.Stdout, "ack %d\n", i)
	}
}

// TestDurableAfterKill9 re-executes the test binary as a writer, kills it
// with SIGKILL in the middle of its writes, reopens the file and checks
// that every acknowledged write is there, with its index entries.
func TestDurableAfterKill9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inventory.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	acked := -1
	deadline := time.Now().Add(30 * time.Second)
	for sc.Scan() {
		n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ack "))
		if err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		acked = n
		if acked >= 300 || time.Now().After(deadline) {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Acks printed after our last read also count: drain them.
	for sc.Scan() {
		if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ack ")); err == nil {
			acked = n
		}
	}
	_ = cmd.Wait()
	if acked < 10 {
		t.Fatalf("child acknowledged only %d writes", acked+1)
	}
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; i <= acked; i++ {
		if _, _, err := s.Resolve(ctx, store.KindPhone, "k"+strconv.Itoa(i)); err != nil {
			t.Fatalf("acknowledged write %d of %d lost: %v", i, acked+1, err)
		}
	}
	recs, err := s.List(ctx, store.ListQuery{Kind: store.KindPhone, Terms: []string{"s=1"}, Limit: 100000})
	if err != nil || len(recs) < acked+1 {
		t.Fatalf("index lists %d, acknowledged %d: %v", len(recs), acked+1, err)
	}
	t.Logf("%d acknowledged writes survived kill -9", acked+1)
}
