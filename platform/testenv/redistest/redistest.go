// Package redistest runs a real redis-server child process for a test: on
// a unix socket by default (no port races), or on a free TCP port. A test
// can kill it (SIGKILL) and restart it on the same socket and data
// directory to check reconnects and persistence. The process is killed and
// its files removed when the test ends.
//
// redis-server must be in PATH (Debian package redis-server); when it is
// missing the test is skipped locally and fails in CI (testenv.Require).
package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dialtone-voip/dialtone/platform/testenv"
)

// Option configures Start.
type Option func(*config)

type config struct {
	appendfsync string // "" = no AOF
	dataDir     string
	tcp         bool
	password    string
	args        []string
	confFile    string // first argument, for Sentinel
	sentinel    bool
}

// AOF turns on the append-only file with the given appendfsync policy:
// "always" (every acknowledged write survives kill -9), "everysec" or "no".
func AOF(fsync string) Option { return func(c *config) { c.appendfsync = fsync } }

// DataDir puts the server's files (AOF, RDB) in dir instead of a private
// temporary directory.
func DataDir(dir string) Option { return func(c *config) { c.dataDir = dir } }

// TCP listens on a free 127.0.0.1 port instead of a unix socket (for
// tools like redis-benchmark).
func TCP() Option { return func(c *config) { c.tcp = true } }

// Password sets requirepass; Client and URL use it.
func Password(pw string) Option { return func(c *config) { c.password = pw } }

// Args appends raw redis-server arguments, e.g. Args("--maxmemory", "10mb").
func Args(args ...string) Option { return func(c *config) { c.args = append(c.args, args...) } }

// Server is a running (or killed) redis-server.
type Server struct {
	t      testing.TB
	bin    string
	cfg    config
	dir    string // private temp dir: socket, log
	sock   string
	port   int
	logf   string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	client redis.UniversalClient
}

// Start starts redis-server and waits until it answers PING.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin := testenv.LookBinary(t, "redis-server")
	s := &Server{t: t, bin: bin}
	for _, o := range opts {
		o(&s.cfg)
	}
	// t.TempDir paths include the test name and can exceed the ~108 byte
	// limit of unix socket paths; os.MkdirTemp("", "rt") stays short.
	dir, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s.dir = dir
	s.sock = filepath.Join(dir, "redis.sock")
	s.logf = filepath.Join(dir, "redis.log")
	if s.cfg.dataDir == "" {
		s.cfg.dataDir = filepath.Join(dir, "data")
	}
	if err := os.MkdirAll(s.cfg.dataDir, 0o700); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() {
		s.mu.Lock()
		c := s.client
		s.mu.Unlock()
		if c != nil {
			c.Close()
		}
		s.Kill()
		if t.Failed() {
			if b, err := os.ReadFile(s.logf); err == nil {
				t.Logf("redis-server log:\n%s", tail(b, 4096))
			}
		}
		os.RemoveAll(dir)
	})
	if s.cfg.tcp {
		s.startTCP()
	} else {
		s.start()
	}
	return s
}

// startTCP picks a free port; another process may take it between probe
// and bind, so it retries with a new port.
func (s *Server) startTCP() {
	s.t.Helper()
	var err error
	for range 5 {
		var l net.Listener
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.t.Fatalf("redistest: %v", err)
		}
		s.port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		if err = s.launch(); err == nil {
			return
		}
	}
	s.t.Fatalf("redistest: %v", err)
}

func (s *Server) start() {
	s.t.Helper()
	if err := s.launch(); err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
}

func (s *Server) args() []string {
	var a []string
	if s.cfg.confFile != "" {
		a = append(a, s.cfg.confFile)
	}
	a = append(a,
		"--dir", s.cfg.dataDir,
		"--logfile", s.logf,
		"--daemonize", "no",
		"--save", "",
		"--protected-mode", "no",
	)
	if s.cfg.tcp {
		a = append(a, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1")
	} else {
		a = append(a, "--port", "0", "--unixsocket", s.sock, "--unixsocketperm", "700")
	}
	if s.cfg.sentinel {
		return append(append(a, "--sentinel"), s.cfg.args...)
	}
	if s.cfg.appendfsync != "" {
		a = append(a, "--appendonly", "yes", "--appendfsync", s.cfg.appendfsync)
	} else {
		a = append(a, "--appendonly", "no")
	}
	if s.cfg.password != "" {
		a = append(a, "--requirepass", s.cfg.password)
	}
	return append(a, s.cfg.args...)
}

func (s *Server) launch() error {
	os.Remove(s.sock)
	cmd := exec.Command(s.bin, s.args()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	c := redis.NewClient(s.options())
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(s.logf)
			return fmt.Errorf("redis-server exited during start: %s", tail(b, 2048))
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("redis-server not answering PING: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (s *Server) options() *redis.Options {
	return &redis.Options{
		Network:  s.Network(),
		Addr:     s.Addr(),
		Password: s.cfg.password,
		// Tests kill the server on purpose; keep failing calls short.
		DialTimeout:     time.Second,
		MaxRetries:      2,
		MinRetryBackoff: 10 * time.Millisecond,
		MaxRetryBackoff: 100 * time.Millisecond,
	}
}

// Network is "unix" or "tcp".
func (s *Server) Network() string {
	if s.cfg.tcp {
		return "tcp"
	}
	return "unix"
}

// Addr is the socket path or "127.0.0.1:port".
func (s *Server) Addr() string {
	if s.cfg.tcp {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	}
	return s.sock
}

// Port is the TCP port, or 0 on a unix socket.
func (s *Server) Port() int { return s.port }

// URL is "unix:///path/redis.sock" or "redis://127.0.0.1:port", with the
// password when one is set. Give it to redisclient.New.
func (s *Server) URL() string {
	u := &url.URL{Scheme: "unix", Path: s.sock}
	if s.cfg.tcp {
		u = &url.URL{Scheme: "redis", Host: s.Addr()}
	}
	if s.cfg.password != "" {
		u.User = url.UserPassword("", s.cfg.password)
	}
	return u.String()
}

// DataDir is where the server keeps its AOF and RDB files.
func (s *Server) DataDir() string { return s.cfg.dataDir }

// Client returns a client for the server, shared by the test and closed
// at cleanup. It reconnects by itself after Restart.
func (s *Server) Client() redis.UniversalClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = redis.NewClient(s.options())
	}
	return s.client
}

// Kill sends SIGKILL and waits for the process to exit: nothing is
// flushed, like a crash. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.signal(syscall.SIGKILL, 0)
}

// Stop shuts the server down with SIGTERM (it writes its AOF/RDB first)
// and waits; after 10s it kills it.
func (s *Server) Stop() {
	s.signal(syscall.SIGTERM, 10*time.Second)
}

func (s *Server) signal(sig syscall.Signal, grace time.Duration) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-exited:
			return
		case <-time.After(grace):
			cmd.Process.Kill()
		}
	}
	<-exited
}

// Restart starts the server again on the same socket (or port) and data
// directory, stopping it first with SIGKILL if it still runs.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Running reports whether the process is running (it was not killed or
// stopped, and has not exited).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}
