package boltstore

import (
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds the writes that share one commit (as bbolt's
// DB.MaxBatchSize does, 1,000 by default).
const maxGroup = 1000

// groupCommit runs concurrent writes in shared read-write transactions,
// one fsync for all of them. Unlike bbolt's DB.Batch it adds no delay and
// gathers writes for as long as the previous commit takes: a writer that
// finds no commit under way commits at once (leading the group of every
// write waiting then), and the writes that arrive meanwhile wait and form
// the next group, led by the first of them. DB.Batch instead closes a group
// after MaxBatchDelay whether or not the file is free, so under a boot
// storm dozens of small groups queued on bbolt's writer lock, each paying
// its own commit and fsyncs (issue 20: a secret release waited ~0.5 s
// behind them).
//
// As with DB.Batch, a write's function may run more than once: when one
// fails, the group's transaction is rolled back, the failing write runs
// alone (its error may have come from a write before it in the group) and
// the others run again without it.
type groupCommit struct {
	mu      sync.Mutex
	pending []*groupCall
	busy    bool // a leader is committing
}

type groupCall struct {
	fn  func(*bolt.Tx) error
	err error
	// lead receives false when the call is done (err set), true when its
	// caller is to lead the next group.
	lead chan bool
}

// commit runs fn in a read-write transaction of db, shared with the
// writes that wait at the same time, and returns once it is committed.
func (g *groupCommit) commit(db *bolt.DB, fn func(*bolt.Tx) error) error {
	c := &groupCall{fn: fn, lead: make(chan bool, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	leader := !g.busy
	g.busy = true
	g.mu.Unlock()
	if !leader && !<-c.lead {
		return c.err
	}
	// c is first among the pending writes: take them (at most maxGroup).
	g.mu.Lock()
	n := min(len(g.pending), maxGroup)
	group := g.pending[:n:n]
	g.pending = append([]*groupCall(nil), g.pending[n:]...)
	g.mu.Unlock()

	run(db, group)

	g.mu.Lock()
	if len(g.pending) > 0 {
		g.pending[0].lead <- true // the next group's leader
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	for _, o := range group {
		if o != c {
			o.lead <- false
		}
	}
	return c.err
}

// run commits the group's writes in one transaction, taking out (and
// running alone) each write that fails; it sets every call's err.
func run(db *bolt.DB, group []*groupCall) {
	for len(group) > 0 {
		failed := -1
		err := db.Update(func(tx *bolt.Tx) error {
			for i, c := range group {
				if err := safely(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range group {
				c.err = err // nil, or the commit's error
			}
			return
		}
		c := group[failed]
		c.err = db.Update(func(tx *bolt.Tx) error { return safely(c.fn, tx) })
		group = append(group[:failed:failed], group[failed+1:]...)
	}
}

// safely calls fn, turning a panic into an error (as DB.Batch does), so
// that one write's panic does not leave the others waiting forever.
func safely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("boltstore: panic in a write: %v", p)
		}
	}()
	return fn(tx)
}
