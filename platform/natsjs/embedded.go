package natsjs

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedOptions configure StartEmbedded.
type EmbeddedOptions struct {
	// StoreDir holds JetStream's files; required (streams must survive a
	// restart).
	StoreDir string
	// DontListen runs the server without any network listener; connect
	// with InProcess(srv). This is what the one-process dialtone uses
	// unless other processes need the broker.
	DontListen bool
	// Host and Port of the client listener: Host defaults to 127.0.0.1;
	// Port -1 picks a random free port, 0 means NATS's default 4222.
	Host string
	Port int
	// ServerName names the server in logs and JetStream metadata.
	ServerName string
	// Logger receives the server's log; nil silences it.
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the server to accept connections;
	// zero means 10s.
	ReadyTimeout time.Duration
}

// StartEmbedded starts a JetStream-enabled NATS server in this process and
// waits until it accepts connections. Stop it with srv.Shutdown() and
// srv.WaitForShutdown(). srv.ClientURL() is its URL when it listens.
func StartEmbedded(opts EmbeddedOptions) (*server.Server, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("natsjs: embedded server needs a StoreDir")
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	so := &server.Options{
		ServerName: opts.ServerName,
		Host:       host,
		Port:       opts.Port,
		DontListen: opts.DontListen,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		NoSigs:     true,
		NoLog:      opts.Logger == nil,
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("natsjs: embedded server: %w", err)
	}
	if opts.Logger != nil {
		srv.SetLoggerV2(slogAdapter{opts.Logger.With("component", "nats-server")}, false, false, false)
	}
	go srv.Start()
	timeout := opts.ReadyTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if !srv.ReadyForConnections(timeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("natsjs: embedded server not ready after %v", timeout)
	}
	return srv, nil
}

// InProcess is the nats.Option connecting to an embedded server without a
// socket: Connect(ctx, "", logger, natsjs.InProcess(srv)).
func InProcess(srv *server.Server) nats.Option { return nats.InProcessServer(srv) }

// slogAdapter implements server.Logger.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
