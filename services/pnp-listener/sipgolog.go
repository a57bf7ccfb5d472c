package pnplistener

import (
	"context"
	"log/slog"
)

// sipgoHandler is the slog handler sipgo logs through. sipgo logs a
// datagram it cannot parse at Error level with the raw bytes; here that
// becomes a counted drop and a Debug line without the bytes (they are
// attacker-controlled and unbounded). Everything else sipgo says is
// demoted one step: its Info is our Debug, its Error our Warn.
type sipgoHandler struct {
	next   slog.Handler
	onDrop func(reason string)
	// warn rate-limits the Warn lines: each of sipgo's errors may follow
	// from one attacker datagram.
	warn *warnLimit
}

// Enabled lets sipgo skip building records nobody reads: its Debug and
// Info lines only when we log Debug; its errors always (parse failures
// are counted).
func (h sipgoHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.next.Enabled(ctx, slog.LevelDebug)
}

func (h sipgoHandler) Handle(ctx context.Context, r slog.Record) error {
	lvl := slog.LevelDebug
	switch r.Message {
	case "failed to parse":
		h.onDrop(dropParse)
	case "TransactionLayer: Unhandled sip response. Possible retransmissions. Set UnhandledResponseHandler":
		h.onDrop(dropUnmatchedResponse)
	case "Server tx failed to handle request":
		// A request sipgo cannot key a transaction for: no Via or no
		// CSeq (it already tried a stateless 400).
		h.onDrop(dropNoTransaction)
	case "Failed to send stateless 400 for malformed request":
		// Counted by the line above, which follows it.
	default:
		if r.Level >= slog.LevelError {
			lvl = slog.LevelWarn
		}
	}
	if !h.next.Enabled(ctx, lvl) {
		return nil
	}
	var suppressed int
	if lvl >= slog.LevelWarn && h.warn != nil {
		ok, n := h.warn.allow(r.Time)
		if !ok {
			return nil
		}
		suppressed = n
	}
	out := slog.NewRecord(r.Time, lvl, "sipgo: "+r.Message, r.PC)
	if suppressed > 0 {
		out.AddAttrs(slog.Int("suppressed", suppressed))
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "data" {
			out.AddAttrs(a)
		}
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h sipgoHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return sipgoHandler{next: h.next.WithAttrs(as), onDrop: h.onDrop, warn: h.warn}
}

func (h sipgoHandler) WithGroup(name string) slog.Handler {
	return sipgoHandler{next: h.next.WithGroup(name), onDrop: h.onDrop, warn: h.warn}
}
