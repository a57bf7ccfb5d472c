package redistest

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/dialtone-voip/dialtone/platform/testenv"
)

func TestStartUnixSocket(t *testing.T) {
	s := Start(t)
	if s.Network() != "unix" || !strings.HasPrefix(s.URL(), "unix:///") || len(s.Addr()) > 100 {
		t.Errorf("Network %q, Addr %q, URL %q", s.Network(), s.Addr(), s.URL())
	}
	c := s.Client()
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if s.Running() {
		t.Error("Running after Kill")
	}
	if err := c.Get(ctx, "k").Err(); err == nil {
		t.Fatal("GET succeeded against a killed server")
	}
	s.Restart()
	// No persistence by default: the key is gone, but the client is back.
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after restart = %v, want redis.Nil", err)
	}
}

func TestAOFAlwaysSurvivesKill(t *testing.T) {
	s := Start(t, AOF("always"))
	c := s.Client()
	ctx := t.Context()
	if err := c.Set(ctx, "phone:001565aabbcc", "assigned", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill() // SIGKILL right after the acknowledgement
	s.Restart()
	got, err := c.Get(ctx, "phone:001565aabbcc").Result()
	if err != nil || got != "assigned" {
		t.Fatalf("GET after kill -9 = %q, %v; want the acknowledged value", got, err)
	}
}

func TestStopPersistsEverysec(t *testing.T) {
	s := Start(t, AOF("everysec"))
	c := s.Client()
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop() // SIGTERM flushes the AOF
	s.Restart()
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET after graceful stop = %q, %v", got, err)
	}
}

func TestTCPAndPassword(t *testing.T) {
	s := Start(t, TCP(), Password("redistest-pw"))
	if s.Network() != "tcp" || s.Port() == 0 || !strings.HasPrefix(s.URL(), "redis://:redistest-pw@127.0.0.1:") {
		t.Errorf("Network %q, Port %d, URL %q", s.Network(), s.Port(), s.URL())
	}
	if err := s.Client().Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	noAuth := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer noAuth.Close()
	if err := noAuth.Ping(t.Context()).Err(); err == nil {
		t.Error("PING without password accepted")
	}
}

// TestRedisBenchmarkTCP shows the TCP mode works with redis-benchmark.
func TestRedisBenchmarkTCP(t *testing.T) {
	bin := testenv.LookBinary(t, "redis-benchmark")
	s := Start(t, TCP())
	out, err := exec.CommandContext(t.Context(), bin, "-h", "127.0.0.1", "-p", strings.TrimPrefix(s.Addr(), "127.0.0.1:"),
		"-n", "2000", "-c", "4", "-t", "set,get", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "requests per second") {
		t.Fatalf("unexpected redis-benchmark output:\n%s", out)
	}
	t.Logf("redis-benchmark:\n%s", out)
}
