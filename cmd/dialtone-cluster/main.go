// Command dialtone-cluster runs the suite as a cluster on one machine (see
// cmd/internal/cluster and deploy/local/README.md):
//
//	dialtone-cluster up      build, start everything in the background, wait until ready
//	dialtone-cluster status  every process, NATS and Redis roles
//	dialtone-cluster down    stop everything, remove the network namespaces
//	dialtone-cluster run     the same as up, in the foreground (Ctrl-C stops)
//	dialtone-cluster hold M  keep member M down: the supervisor does not restart it when it exits
//	dialtone-cluster release M  end the hold (a member that is down is restarted)
//
// The supervisor restarts a member that exits unexpectedly after 1 s,
// doubling for every further quick exit up to 30 s; status shows the
// restarts.
//
// nats-node is internal: one member of the NATS cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "dialtone-cluster:", err)
		os.Exit(1)
	}
}

const usage = `Usage: dialtone-cluster up|down|status|run [flags]
       dialtone-cluster hold|release [--dir D] MEMBER

  up       build every service, start the cluster in the background, wait until ready
  status   show every process (pid, readiness, supervisor restarts) and the NATS / Redis roles
  down     stop the cluster and remove its network namespaces
  run      like up, in the foreground
  hold     the supervisor stops restarting MEMBER when it exits (kill it yourself)
  release  the supervisor restarts MEMBER again (at once if it is down)

Flags (every command): --dir (default deploy/local/state), and for up/run
--base-port (default 24000: ports 24000-24199), --lan (pnp-listener in a
network namespace on a phone LAN; default on when run as root),
--restart (default true: restart members that exit unexpectedly).
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	cmd, args := args[0], args[1:]
	if cmd == "nats-node" {
		return natsNode(ctx, args)
	}
	fs := flag.NewFlagSet("dialtone-cluster "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	dir := fs.String("dir", "deploy/local/state", "folder of the cluster's ports, tokens, data and logs")
	base := fs.Int("base-port", 24000, "first of the 200 ports the cluster uses")
	lan := fs.Bool("lan", os.Geteuid() == 0, "run pnp-listener in a network namespace on a phone LAN (needs root)")
	bin := fs.String("bin", "", "directory of already built binaries (default: build into <dir>/bin)")
	restart := fs.Bool("restart", true, "restart members that exit unexpectedly (with backoff)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	l := cluster.Layout{Dir: abs, BasePort: *base, Host: "127.0.0.1", LAN: *lan}
	if l.LAN {
		l.Host = cluster.HostLANAddr
	}
	switch cmd {
	case "hold", "release":
		if fs.NArg() != 1 {
			return fmt.Errorf("%s: want one member name", cmd)
		}
		return holdMember(abs, fs.Arg(0), cmd == "hold", stdout)
	case "status":
		st, err := cluster.ReadState(abs)
		if err != nil {
			return fmt.Errorf("no cluster in %s (%w)", abs, err)
		}
		cluster.PrintStatus(ctx, stdout, st)
		return nil
	case "down":
		return down(abs, stdout)
	case "up", "run":
		if st, err := cluster.ReadState(abs); err == nil && st.Supervisor > 0 && syscall.Kill(st.Supervisor, 0) == nil {
			return fmt.Errorf("a cluster is already running in %s (supervisor pid %d); dialtone-cluster down first", abs, st.Supervisor)
		}
		if err := os.MkdirAll(filepath.Join(abs, "logs"), 0o755); err != nil {
			return err
		}
		bins := cluster.Binaries{Dir: *bin}
		if *bin == "" {
			root, err := repoRoot()
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, "building the services…")
			if bins, err = cluster.Build(ctx, root, filepath.Join(abs, "bin"), stderr); err != nil {
				return err
			}
		}
		if cmd == "run" {
			return supervise(ctx, l, bins, *restart, stdout)
		}
		return up(ctx, l, bins, *restart, stdout)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// supervise starts the cluster, records its state and stops it when ctx
// ends.
func supervise(ctx context.Context, l cluster.Layout, bins cluster.Binaries, restart bool, stdout io.Writer) error {
	log := slog.New(slog.NewTextHandler(stdout, nil))
	os.Remove(cluster.StateFile(l.Dir))
	c, err := cluster.Start(ctx, l, bins, log)
	if err != nil {
		return err
	}
	if restart {
		s := cluster.DefaultSupervision
		s.OnChange = func() {
			if err := c.WriteState(); err != nil {
				log.Error("writing the cluster state", "error", err)
			}
		}
		c.Supervise(s)
		// SIGHUP (dialtone-cluster release): start members no longer held.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-hup:
					c.Reconcile()
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	if err := c.WriteState(); err != nil {
		c.Stop()
		return err
	}
	fmt.Fprintf(stdout, "cluster ready in %s\n", l.Dir)
	printTour(stdout, l)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping the cluster")
	err = c.Stop()
	if werr := c.WriteState(); werr != nil && err == nil {
		err = werr
	}
	return err
}

// up runs `run` detached (its own session, output in logs/supervisor.log)
// and waits until it has written the cluster's state.
func up(ctx context.Context, l cluster.Layout, bins cluster.Binaries, restart bool, stdout io.Writer) error {
	logf, err := os.OpenFile(filepath.Join(l.Dir, "logs", "supervisor.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	lan := "--lan=false"
	if l.LAN {
		lan = "--lan=true"
	}
	os.Remove(cluster.StateFile(l.Dir))
	cmd := exec.Command(filepath.Join(bins.Dir, "dialtone-cluster"), "run", "--dir", l.Dir, "--base-port", fmt.Sprint(l.BasePort), lan, "--bin", bins.Dir,
		fmt.Sprintf("--restart=%t", restart))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(stdout, "starting the cluster (supervisor pid %d, log %s)…\n", cmd.Process.Pid, logf.Name())
	deadline := time.After(3 * time.Minute)
	for {
		if st, err := cluster.ReadState(l.Dir); err == nil && st.Supervisor == cmd.Process.Pid {
			fmt.Fprintf(stdout, "cluster ready in %s\n", l.Dir)
			printTour(stdout, l)
			return nil
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("the supervisor exited (%v):\n%s", err, b)
		case <-deadline:
			cmd.Process.Signal(syscall.SIGTERM)
			return errors.New("cluster not ready after 3 minutes; see " + logf.Name())
		case <-ctx.Done():
			cmd.Process.Signal(syscall.SIGTERM)
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// holdMember creates or removes the member's hold file, which the
// supervisor reads when the member exits.
func holdMember(dir, name string, hold bool, stdout io.Writer) error {
	st, err := cluster.ReadState(dir)
	if err != nil {
		return fmt.Errorf("no cluster in %s (%w)", dir, err)
	}
	found := false
	for _, m := range st.Members {
		found = found || m.Name == name
	}
	if !found {
		return fmt.Errorf("no member %q", name)
	}
	f := cluster.HoldFile(dir, name)
	if !hold {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		// Wake the supervisor: a member that is down is started again.
		if st.Supervisor > 0 {
			syscall.Kill(st.Supervisor, syscall.SIGHUP)
		}
		fmt.Fprintf(stdout, "%s released: the supervisor restarts it when it exits\n", name)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s held: the supervisor leaves it down when it exits (dialtone-cluster release %s)\n", name, name)
	return nil
}

func down(dir string, stdout io.Writer) error {
	st, err := cluster.ReadState(dir)
	if err != nil {
		return fmt.Errorf("no cluster in %s (%w)", dir, err)
	}
	if st.Supervisor <= 0 || syscall.Kill(st.Supervisor, 0) != nil {
		fmt.Fprintln(stdout, "the cluster is not running")
		return nil
	}
	syscall.Kill(st.Supervisor, syscall.SIGTERM)
	for i := 0; i < 600; i++ {
		if syscall.Kill(st.Supervisor, 0) != nil {
			fmt.Fprintln(stdout, "cluster stopped")
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("supervisor %d still running after 60s", st.Supervisor)
}

func printTour(w io.Writer, l cluster.Layout) {
	fmt.Fprintf(w, `
  inventory (gRPC): %s   rps-client: %s
  provisioning edge: %s   phones' SIP: %s
  NATS: %s
  Redis Sentinels: %s (master %q)
  admin token file: %s

  export DIALTONE_SERVER=%s DIALTONE_RENDERER_SERVER=%s DIALTONE_RPS_SERVER=%s DIALTONE_TOKEN_FILE=%s
  dialtone-cluster status --dir %s
`, l.InventoryAddr(), l.RPSAddr(), l.EdgeURL(), l.SIPAddr(), l.NATSURLs(), l.SentinelAddrs(), cluster.SentinelMaster,
		l.AdminTokenFile(), l.InventoryAddr(), l.RendererAddr(), l.RPSAddr(), l.AdminTokenFile(), l.Dir)
}

func natsNode(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("nats-node", flag.ContinueOnError)
	var n cluster.NATSNode
	fs.StringVar(&n.Name, "name", "", "server name")
	fs.StringVar(&n.Host, "host", "127.0.0.1", "listen host")
	fs.IntVar(&n.Port, "port", 4222, "client port")
	fs.IntVar(&n.ClusterPort, "cluster-port", 6222, "route port")
	fs.IntVar(&n.HTTPPort, "http-port", 8222, "monitoring port")
	fs.StringVar(&n.StoreDir, "store-dir", "", "JetStream directory")
	fs.StringVar(&n.ClusterName, "cluster-name", "dialtone", "cluster name")
	fs.Func("route", "route URL of another node (repeatable)", func(s string) error { n.Routes = append(n.Routes, s); return nil })
	if err := fs.Parse(args); err != nil {
		return err
	}
	return cluster.RunNATSNode(ctx, n)
}

// repoRoot is the directory holding go.work, from the working directory up.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("not inside the Dialtone repository (no go.work found); pass --bin")
		}
		d = p
	}
}
