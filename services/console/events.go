package console

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"

	"github.com/dialtone-voip/dialtone/platform/backoff"
)

// hub follows inventory's WatchPhones with one stream for the whole
// console and hands every change to the open event streams (SSE) of the
// browsers; a lost stream resumes after the last sequence it saw.
type hub struct {
	inv inventoryv1.InventoryServiceClient
	log *slog.Logger

	mu   sync.Mutex
	subs map[chan *inventoryv1.WatchPhonesResponse]struct{}
	// recent keeps the last changes, so a page's event stream starts from
	// the sequence the page was rendered at (?since=, or Last-Event-ID on
	// a reconnect) and misses no change made in between.
	recent []*inventoryv1.WatchPhonesResponse
	last   uint64
}

const recentChanges = 1024

// lastSeq is the sequence of the last change seen; a page reads it before
// it loads what it shows.
func (h *hub) lastSeq() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

func newHub(inv inventoryv1.InventoryServiceClient, log *slog.Logger) *hub {
	return &hub{inv: inv, log: log, subs: map[chan *inventoryv1.WatchPhonesResponse]struct{}{}}
}

// subscribe returns the retained changes after since (when replay is
// set) and a channel of the changes that follow.
func (h *hub) subscribe(since uint64, replay bool) ([]*inventoryv1.WatchPhonesResponse, chan *inventoryv1.WatchPhonesResponse, func()) {
	ch := make(chan *inventoryv1.WatchPhonesResponse, 64)
	h.mu.Lock()
	var backlog []*inventoryv1.WatchPhonesResponse
	if replay {
		for _, ev := range h.recent {
			if ev.GetSequence() > since {
				backlog = append(backlog, ev)
			}
		}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return backlog, ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

func (h *hub) publish(ev *inventoryv1.WatchPhonesResponse) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = ev.GetSequence()
	if len(h.recent) == recentChanges {
		h.recent = append(h.recent[:0], h.recent[1:]...)
	}
	h.recent = append(h.recent, ev)
	for ch := range h.subs {
		select {
		case ch <- ev:
		default: // a stalled browser misses a change; its next reload shows the truth
		}
	}
}

func (h *hub) run(ctx context.Context) {
	var seq uint64
	failures := 0 // consecutive; a watch refused while the suite starts is not worth a WARN
	b := backoff.New(backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second})
	for ctx.Err() == nil {
		stream, err := h.inv.WatchPhones(ctx, &inventoryv1.WatchPhonesRequest{StartAfterSequence: seq})
		if err == nil {
			for {
				ev, rerr := stream.Recv()
				if rerr != nil {
					err = rerr
					break
				}
				seq = ev.GetSequence()
				failures = 0
				b.Reset()
				h.publish(ev)
			}
		}
		if ctx.Err() != nil {
			return
		}
		failures++
		level := slog.LevelInfo
		if failures >= 3 {
			level = slog.LevelWarn
		}
		h.log.Log(ctx, level, "phone watch interrupted; resuming", "after_sequence", seq, "failures", failures, "err", err)
		if backoff.Wait(ctx, b.Next()) != nil {
			return
		}
	}
}

// phoneEvent is one SSE message: the phone's new list row (rendered
// server-side, so the browser inserts escaped HTML only) and its state.
type phoneEvent struct {
	MAC     string `json:"mac"`
	Row     string `json:"row,omitempty"`
	State   string `json:"state"`
	Deleted bool   `json:"deleted,omitempty"`
	// Match is false when the phone no longer matches the page's filter.
	Match bool `json:"match"`
}

// handleEvents streams phone changes the user may see as Server-Sent
// Events, filtered like the page that opened it (?state=&vendor=&q=).
func (c *Console) handleEvents(w http.ResponseWriter, r *http.Request, ss *session) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	f := phoneFilterFrom(r)
	since, err := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	replay := err == nil
	if id, err := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64); err == nil {
		since, replay = id, true // a reconnect resumes where it stopped
	}
	backlog, ch, cancel := c.hub.subscribe(since, replay)
	defer cancel()
	c.m.streams.Inc()
	defer c.m.streams.Dec()
	send := func(ev *inventoryv1.WatchPhonesResponse) {
		p := ev.GetPhone()
		if !userSeesPhone(ss, p) {
			return
		}
		pe := phoneEvent{MAC: p.GetMac(), State: stateWord(p.GetState()),
			Deleted: ev.GetChangeType() == inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DELETED}
		pe.Match = !pe.Deleted && f.match(p)
		if pe.Match {
			row, err := c.views.fragment("phone_row", phoneRow(p))
			if err != nil {
				c.log.Error("render phone row", "err", err)
				return
			}
			pe.Row = row
		}
		b, _ := json.Marshal(pe)
		fmt.Fprintf(w, "event: phone\nid: %d\ndata: %s\n\n", ev.GetSequence(), b)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": hello\n\n")
	for _, ev := range backlog {
		send(ev)
	}
	fl.Flush()
	keep := time.NewTicker(20 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		case ev := <-ch:
			send(ev)
			fl.Flush()
		}
	}
}

// userSeesPhone: a tenant-scoped user sees its tenant's phones only (not
// unassigned ones, which belong to no tenant).
func userSeesPhone(ss *session, p *inventoryv1.Phone) bool {
	return ss.tenant == "" || p.GetTenant() == "tenants/"+ss.tenant
}
