package adminhttp

import (
	"fmt"
	"log"
	"log/slog"
	"strings"
)

// slogErrorLog routes net/http's and promhttp's error logs to slog.
type slogErrorLog struct{ l *slog.Logger }

// Println implements promhttp.Logger.
func (e slogErrorLog) Println(v ...any) {
	e.l.Error("metrics handler", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}

func (e slogErrorLog) Write(p []byte) (int, error) {
	e.l.Warn("admin HTTP", "err", strings.TrimSpace(string(p)))
	return len(p), nil
}

func (e slogErrorLog) logger() *log.Logger { return log.New(e, "", 0) }
