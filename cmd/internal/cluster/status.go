package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
)

// State is what a running supervisor records in Dir/cluster.json for
// `status` and `down`.
type State struct {
	Supervisor int            `json:"supervisor_pid"`
	Layout     Layout         `json:"layout"`
	Members    []MemberRecord `json:"members"`
}

// MemberRecord is one member in State.
type MemberRecord struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Pid   int    `json:"pid"`
	Addr  string `json:"addr,omitempty"`
	Ready string `json:"ready,omitempty"`
	Netns string `json:"netns,omitempty"`
	// Supervision: restarts made by the supervisor, whether the member is
	// held down, how its last process ended.
	Restarts int    `json:"restarts"`
	Held     bool   `json:"held,omitempty"`
	LastExit string `json:"last_exit,omitempty"`
}

// StateFile is the state's path under dir.
func StateFile(dir string) string { return filepath.Join(dir, "cluster.json") }

// WriteState records the cluster's members and their pids.
func (c *Cluster) WriteState() error {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	st := State{Supervisor: os.Getpid(), Layout: c.Layout}
	for _, m := range c.Members {
		ms, _ := c.Status(m.Name)
		st.Members = append(st.Members, MemberRecord{Name: m.Name, Kind: m.Kind, Pid: ms.Pid, Addr: m.Addr, Ready: m.Ready, Netns: m.Netns,
			Restarts: ms.Restarts, Held: ms.Held, LastExit: ms.LastExit})
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := StateFile(c.Layout.Dir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, StateFile(c.Layout.Dir))
}

// ReadState reads dir's cluster.json.
func ReadState(dir string) (State, error) {
	var st State
	b, err := os.ReadFile(StateFile(dir))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// Roles are the NATS and Redis roles seen now.
type Roles struct {
	NATSMetaLeader string            `json:"nats_meta_leader"`
	StreamLeaders  map[string]string `json:"stream_leaders"`
	RedisRoles     map[string]string `json:"redis_roles"` // addr → master/slave (down)
	SentinelMaster string            `json:"sentinel_master"`
}

// QueryRoles asks the NATS monitors and the Redis nodes and Sentinels.
func QueryRoles(ctx context.Context, l Layout) Roles {
	r := Roles{StreamLeaders: map[string]string{}, RedisRoles: map[string]string{}}
	hc := &http.Client{Timeout: time.Second}
	for i := range 3 {
		resp, err := hc.Get("http://" + l.NATSMonitor(i) + "/jsz?streams=true")
		if err != nil {
			continue
		}
		var jsz struct {
			Meta struct {
				Leader string `json:"leader"`
			} `json:"meta_cluster"`
			Accounts []struct {
				Streams []struct {
					Name    string `json:"name"`
					Cluster struct {
						Leader string `json:"leader"`
					} `json:"cluster"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		}
		json.NewDecoder(resp.Body).Decode(&jsz)
		resp.Body.Close()
		if jsz.Meta.Leader != "" {
			r.NATSMetaLeader = jsz.Meta.Leader
		}
		for _, a := range jsz.Accounts {
			for _, s := range a.Streams {
				if s.Cluster.Leader != "" {
					r.StreamLeaders[s.Name] = s.Cluster.Leader
				}
			}
		}
	}
	for _, addr := range l.RedisAddrs() {
		c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 500 * time.Millisecond, MaxRetries: -1})
		role, err := c.Do(ctx, "ROLE").Slice()
		c.Close()
		if err != nil || len(role) == 0 {
			r.RedisRoles[addr] = "down"
			continue
		}
		r.RedisRoles[addr] = fmt.Sprint(role[0])
	}
	for _, addr := range strings.Split(l.SentinelAddrs(), ",") {
		c := redis.NewSentinelClient(&redis.Options{Addr: addr, DialTimeout: 500 * time.Millisecond, MaxRetries: -1})
		m, err := c.GetMasterAddrByName(ctx, SentinelMaster).Result()
		c.Close()
		if err == nil && len(m) == 2 {
			r.SentinelMaster = m[0] + ":" + m[1]
			break
		}
	}
	return r
}

// PrintStatus writes the members with their pids and readiness, and the
// roles, to w.
func PrintStatus(ctx context.Context, w io.Writer, st State) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	sup := "down"
	if alive(st.Supervisor) {
		sup = "running"
	}
	fmt.Fprintf(tw, "supervisor\tpid %d\t%s\t%s\n", st.Supervisor, sup, st.Layout)
	hc := &http.Client{Timeout: time.Second}
	for _, m := range st.Members {
		state := "down"
		if alive(m.Pid) {
			state = "running"
			if err := probe(hc, m.Ready); err == nil {
				state = "ready"
			} else {
				state = "not ready"
			}
		}
		extra := m.Addr
		if m.Netns != "" {
			extra += " (netns " + m.Netns + ")"
		}
		if m.Held {
			state += " (held)"
		}
		sup := "restarts " + strconv.Itoa(m.Restarts)
		if m.LastExit != "" {
			sup += " (last: " + m.LastExit + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\tpid %s\t%s\t%s\t%s\n", m.Name, m.Kind, strconv.Itoa(m.Pid), state, sup, extra)
	}
	tw.Flush()
	r := QueryRoles(ctx, st.Layout)
	fmt.Fprintf(w, "\nNATS JetStream meta leader: %s\n", orNone(r.NATSMetaLeader))
	for s, ld := range r.StreamLeaders {
		fmt.Fprintf(w, "  stream %s leader: %s (3 replicas)\n", s, ld)
	}
	fmt.Fprintf(w, "Redis (Sentinel master %q at %s):\n", SentinelMaster, orNone(r.SentinelMaster))
	for _, a := range st.Layout.RedisAddrs() {
		fmt.Fprintf(w, "  %s: %s\n", a, r.RedisRoles[a])
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// FailoverReady reports whether every Sentinel knows a connected replica of
// the primary and the other Sentinels. A Sentinel learns the replicas from
// the primary's INFO (every 10 s) and its peers from their hello messages
// (every 2 s): a primary killed sooner after the start than that is never
// failed over, since no Sentinel has a replica to promote or a quorum to
// elect a leader (cmd/e2e TestChaosClusterStorm with few phones killed it
// 0.2 s into the storm).
func FailoverReady(ctx context.Context, l Layout) bool {
	addrs := strings.Split(l.SentinelAddrs(), ",")
	for _, addr := range addrs {
		c := redis.NewSentinelClient(&redis.Options{Addr: addr, DialTimeout: 500 * time.Millisecond, MaxRetries: -1})
		replicas, err := c.Replicas(ctx, SentinelMaster).Result()
		var peers []map[string]string
		if err == nil {
			peers, err = c.Sentinels(ctx, SentinelMaster).Result()
		}
		c.Close()
		if err != nil || len(peers) < len(addrs)-1 {
			return false
		}
		connected := false
		for _, r := range replicas {
			if r["master-link-status"] == "ok" && !strings.Contains(r["flags"], "down") && !strings.Contains(r["flags"], "disconnected") {
				connected = true
			}
		}
		if !connected {
			return false
		}
	}
	return true
}
