package redistest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Sentinel is a redis-server in Sentinel mode monitoring one master.
type Sentinel struct {
	*Server
}

// StartSentinel starts a Sentinel on a free TCP port that monitors master
// (started with TCP()) under masterName, with quorum 1. Clients find the
// master through Sentinel.Addr().
func StartSentinel(t testing.TB, master *Server, masterName string) *Sentinel {
	t.Helper()
	if master.Network() != "tcp" {
		t.Fatalf("redistest: a Sentinel needs a master started with TCP()")
	}
	// Sentinel rewrites its config file, so it needs its own writable one.
	dir, err := os.MkdirTemp("", "rs")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := filepath.Join(dir, "sentinel.conf")
	host, port, _ := net.SplitHostPort(master.Addr())
	body := fmt.Sprintf("sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %[1]s 1000\nsentinel failover-timeout %[1]s 5000\n",
		masterName, host, port)
	if master.cfg.password != "" {
		body += fmt.Sprintf("sentinel auth-pass %s %s\n", masterName, strconv.Quote(master.cfg.password))
	}
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s := Start(t, TCP(), func(c *config) { c.confFile, c.sentinel = conf, true })
	return &Sentinel{Server: s}
}
