package console

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// hub follows inventory's WatchPhones with one stream for the whole
// console and hands every change to the open event streams (SSE) of the
// browsers; a lost stream resumes after the last sequence it saw.
type hub struct {
	inv inventoryv1.InventoryServiceClient
	log *slog.Logger

	mu   sync.Mutex
	subs map[chan *inventoryv1.WatchPhonesResponse]struct{}
}

func newHub(inv inventoryv1.InventoryServiceClient, log *slog.Logger) *hub {
	return &hub{inv: inv, log: log, subs: map[chan *inventoryv1.WatchPhonesResponse]struct{}{}}
}

func (h *hub) subscribe() (chan *inventoryv1.WatchPhonesResponse, func()) {
	ch := make(chan *inventoryv1.WatchPhonesResponse, 64)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

func (h *hub) publish(ev *inventoryv1.WatchPhonesResponse) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- ev:
		default: // a stalled browser misses a change; its next reload shows the truth
		}
	}
}

func (h *hub) run(ctx context.Context) {
	var seq uint64
	backoff := 100 * time.Millisecond
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
				backoff = 100 * time.Millisecond
				h.publish(ev)
			}
		}
		if ctx.Err() != nil {
			return
		}
		h.log.Warn("phone watch interrupted; resuming", "after_sequence", seq, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
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
	ch, cancel := c.hub.subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": hello\n\n")
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
			p := ev.GetPhone()
			if !userSeesPhone(ss, p) {
				continue
			}
			pe := phoneEvent{MAC: p.GetMac(), State: stateWord(p.GetState()),
				Deleted: ev.GetChangeType() == inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DELETED}
			pe.Match = !pe.Deleted && f.match(p)
			if pe.Match {
				row, err := c.views.fragment("phone_row", phoneRow(p))
				if err != nil {
					c.log.Error("render phone row", "err", err)
					continue
				}
				pe.Row = row
			}
			b, _ := json.Marshal(pe)
			fmt.Fprintf(w, "event: phone\nid: %d\ndata: %s\n\n", ev.GetSequence(), b)
			fl.Flush()
		}
	}
}

// userSeesPhone: a tenant-scoped user sees its tenant's phones only (not
// unassigned ones, which belong to no tenant).
func userSeesPhone(ss *session, p *inventoryv1.Phone) bool {
	return ss.tenant == "" || p.GetTenant() == "tenants/"+ss.tenant
}
