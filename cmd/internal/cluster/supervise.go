package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// Supervision restarts members that exit on their own, as a Kubernetes
// kubelet restarts a crashed container: after Base, doubling for every
// further exit of a process that ran less than Stable, at most Max.
type Supervision struct {
	Base, Max, Stable time.Duration
	// OnChange is called (from any goroutine) after a member exited or was
	// restarted, e.g. to rewrite the state file.
	OnChange func()
}

// DefaultSupervision is what `dialtone-cluster run` uses.
var DefaultSupervision = Supervision{Base: time.Second, Max: 30 * time.Second, Stable: 30 * time.Second}

func (s *Supervision) backoff(crashes int) time.Duration {
	d := s.Base
	for i := 1; i < crashes && d < s.Max; i++ {
		d *= 2
	}
	return min(d, s.Max)
}

// Supervise turns on restarting members that exit unexpectedly. A member
// the caller wants down is held first (Hold, or the hold file of
// HoldFile); Restart starts it again and ends the hold.
func (c *Cluster) Supervise(s Supervision) {
	c.supMu.Lock()
	defer c.supMu.Unlock()
	c.sup = &s
}

// HoldFile is the file whose existence holds member name down: a member
// that exits while it exists is not restarted (`dialtone-cluster hold`).
func HoldFile(dir, name string) string { return Layout{Dir: dir}.path("hold", name) }

// Hold stops supervising member name: when it exits (Kill, a crash) it
// stays down until Restart or Release.
func (c *Cluster) Hold(name string) error {
	m := c.byName[name]
	if m == nil {
		return fmt.Errorf("no member %q", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.held = true
	return nil
}

// Release ends Hold; a member that is down is restarted at once.
func (c *Cluster) Release(name string) error {
	m := c.byName[name]
	if m == nil {
		return fmt.Errorf("no member %q", name)
	}
	m.mu.Lock()
	m.held = false
	m.mu.Unlock()
	c.Reconcile()
	return nil
}

// Reconcile restarts at once every member that is down and neither held
// (Hold, hold file) nor already due for a restart: after a hold file was
// removed (`dialtone-cluster release` sends the supervisor SIGHUP).
func (c *Cluster) Reconcile() {
	if !c.supervising() {
		return
	}
	for _, m := range c.Members {
		m.mu.Lock()
		if m.cmd != nil && !m.pending && !m.held && !m.runningLocked() && !c.holdFile(m) {
			m.pending = true
			old := m.cmd
			c.bg.Go(func() { c.restartAfter(m, old, 0) })
		}
		m.mu.Unlock()
	}
}

func (m *Member) runningLocked() bool {
	if m.exited == nil {
		return false
	}
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// MemberStatus is a member's supervision state.
type MemberStatus struct {
	Pid      int
	Restarts int    // made by the supervisor
	Held     bool   // not restarted if it exits
	Pending  bool   // a restart is scheduled
	LastExit string // how the last process ended ("" if none did)
}

// Status reports member name's supervision state.
func (c *Cluster) Status(name string) (MemberStatus, error) {
	m := c.byName[name]
	if m == nil {
		return MemberStatus{}, fmt.Errorf("no member %q", name)
	}
	pid := m.Pid()
	m.mu.Lock()
	defer m.mu.Unlock()
	return MemberStatus{Pid: pid, Restarts: m.restarts, Held: m.held || c.holdFile(m), Pending: m.pending, LastExit: m.lastExit}, nil
}

func (c *Cluster) supervising() bool {
	c.supMu.Lock()
	defer c.supMu.Unlock()
	return c.sup != nil && !c.stopping
}

func (c *Cluster) holdFile(m *Member) bool {
	_, err := os.Stat(HoldFile(c.Layout.Dir, m.Name))
	return err == nil
}

func (c *Cluster) changed() {
	c.supMu.Lock()
	s, stopping := c.sup, c.stopping
	c.supMu.Unlock()
	if s != nil && s.OnChange != nil && !stopping {
		s.OnChange()
	}
}

// onExit runs when a member's process cmd has ended with err, before the
// member's exited channel closes.
func (c *Cluster) onExit(m *Member, cmd *exec.Cmd, err error) {
	m.mu.Lock()
	m.lastExit = exitText(err)
	c.supMu.Lock()
	sup, stopping := c.sup, c.stopping
	c.supMu.Unlock()
	if sup == nil || stopping || m.held || m.cmd != cmd || c.holdFile(m) {
		m.mu.Unlock()
		if sup != nil && !stopping {
			c.bg.Go(c.changed)
		}
		return
	}
	if time.Since(m.started) < sup.Stable {
		m.crashes++
	} else {
		m.crashes = 1
	}
	delay := sup.backoff(m.crashes)
	m.pending = true
	m.mu.Unlock()
	c.log.Warn("member exited unexpectedly; restarting", "member", m.Name, "exit", m.lastExit, "after", delay)
	c.bg.Go(c.changed)
	c.bg.Go(func() { c.restartAfter(m, cmd, delay) })
}

// restartAfter starts m again after delay unless, meanwhile, the cluster
// stops, m is held, or someone else started it (m.cmd is no longer old).
func (c *Cluster) restartAfter(m *Member, old *exec.Cmd, delay time.Duration) {
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-c.stopCh:
		t.Stop()
	}
	m.mu.Lock()
	m.pending = false
	// Checked under m.mu: Stop sets stopping before it signals members
	// (which takes m.mu), so a process started here is always stopped.
	c.supMu.Lock()
	stopping := c.stopping
	c.supMu.Unlock()
	if stopping || m.held || m.cmd != old || c.holdFile(m) {
		m.mu.Unlock()
		return
	}
	err := c.launchLocked(m)
	if err == nil {
		m.restarts++
	} else {
		m.crashes++
		m.pending = true
	}
	c.supMu.Lock()
	delay = c.sup.backoff(m.crashes)
	c.supMu.Unlock()
	m.mu.Unlock()
	if err != nil {
		c.log.Error("restart failed; trying again", "member", m.Name, "error", err, "after", delay)
		c.bg.Go(func() { c.restartAfter(m, old, delay) })
		return
	}
	c.log.Info("member restarted by the supervisor", "member", m.Name)
	c.changed()
}

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String() // "signal: killed", "exit status 1"
	}
	if err != nil {
		return err.Error()
	}
	return "exit status 0"
}
