// Package ctl is dialtonectl, the administrator's command line over
// inventory's gRPC API (dialtone.inventory.v1) and config-renderer's
// catalog (dialtone.renderer.v1): extensions, phones (assign, add by MAC,
// provisioning URL, bulk CSV import), SIP interfaces, models, and a live
// watch of phone changes.
//
// Passwords are write-only here as in the API: they are sent, never
// printed; the provisioning URL (it embeds the phone's secret token) is
// printed only by "phones url".
package ctl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/config"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
)

// AdminTokenFile is the admin token's file name in the data directory
// (written by the one-process dialtone on first run).
const AdminTokenFile = "admin.token"

// Env is what the CLI needs from its process.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// IsTTY reports whether Stdout is a terminal (progress bars).
	IsTTY bool
	// Dial, when set, replaces the gRPC dial (tests inject clients).
	Dial func(ctx context.Context, g *Globals) (*Clients, error)
}

// Clients are the gRPC clients a command uses.
type Clients struct {
	Inventory inventoryv1.InventoryServiceClient
	Renderer  rendererv1.ConfigRendererServiceClient
	Rps       rpsv1.RedirectServiceClient
	close     func() error
}

// Close releases the connections.
func (c *Clients) Close() error {
	if c.close == nil {
		return nil
	}
	return c.close()
}

// Globals are the flags every command accepts.
type Globals struct {
	Server         string
	RendererServer string
	RpsServer      string
	Token          string
	TokenFile      string
	DataDir        string
	Tenant         string
	Output         string
	Timeout        time.Duration
	Insecure       bool
	TLSCA          string
	TLSServerName  string
}

func defaultGlobals() *Globals {
	return &Globals{Server: "127.0.0.1:9090", DataDir: "./dialtone-data", Tenant: "default", Output: "table", Timeout: 15 * time.Second}
}

func (g *Globals) register(fs *flag.FlagSet) {
	subcmd.StringVar(fs, &g.Server, "server", "inventory gRPC address host:port (env DIALTONE_SERVER)")
	subcmd.StringVar(fs, &g.RendererServer, "renderer-server", "config-renderer gRPC address for 'models' (default: --server, as in the one-process dialtone)")
	subcmd.StringVar(fs, &g.RpsServer, "rps-server", "rps-client gRPC address for 'rps' (default: --server, as in the one-process dialtone)")
	subcmd.SecretVar(fs, &g.Token, "token", "admin bearer token (env DIALTONE_TOKEN; default: --token-file, then <data-dir>/admin.token)")
	subcmd.StringVar(fs, &g.TokenFile, "token-file", "file holding the bearer token")
	subcmd.StringVar(fs, &g.DataDir, "data-dir", "dialtone's data directory, where admin.token is")
	subcmd.StringVar(fs, &g.Tenant, "tenant", "tenant id for extensions, interfaces and assignments")
	subcmd.StringVar(fs, &g.Output, "o", "output format: table or json")
	subcmd.DurationVar(fs, &g.Timeout, "timeout", "deadline of each command's calls")
	subcmd.BoolVar(fs, &g.Insecure, "insecure", "plaintext gRPC without TLS (the default for a loopback --server)")
	subcmd.StringVar(fs, &g.TLSCA, "tls-ca", "PEM CA bundle to verify the server's TLS certificate (implies TLS)")
	subcmd.StringVar(fs, &g.TLSServerName, "tls-server-name", "server name to verify in the TLS certificate")
}

// envFallback fills globals not given on the command line from DIALTONE_*.
func (g *Globals) envFallback(set map[string]bool, getenv func(string) string) error {
	if getenv == nil {
		return nil
	}
	fs := flag.NewFlagSet("env", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == "o" {
			return // the command line wins; "-o" has no environment variable
		}
		name := config.EnvName("DIALTONE", f.Name)
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, subcmd.Usagef("environment variable %s: invalid value for --%s", name, f.Name))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if g.Output != "table" && g.Output != "json" {
		return subcmd.Usagef("-o %q: want table or json", g.Output)
	}
	if g.Tenant == "" {
		return subcmd.Usagef("--tenant must not be empty")
	}
	if g.Timeout <= 0 {
		return subcmd.Usagef("--timeout must be positive")
	}
	return nil
}

// token returns the bearer token: --token/DIALTONE_TOKEN, --token-file,
// then <data-dir>/admin.token; "" when none is found.
func (g *Globals) token() (string, error) {
	if g.Token != "" {
		return strings.TrimSpace(g.Token), nil
	}
	path, explicit := g.TokenFile, true
	if path == "" {
		path, explicit = filepath.Join(g.DataDir, AdminTokenFile), false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}

// plaintext reports whether to dial without TLS.
func (g *Globals) plaintext(addr string) bool {
	if g.Insecure {
		return true
	}
	if g.TLSCA != "" {
		return false
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (g *Globals) dial(addr, token string) (*grpc.ClientConn, error) {
	if addr == "" {
		return nil, subcmd.Usagef("--server must not be empty")
	}
	var opts []grpc.DialOption
	plain := g.plaintext(addr)
	if plain {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: g.TLSServerName}
		if g.TLSCA != "" {
			pem, err := os.ReadFile(g.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--tls-ca %s: no PEM certificates", g.TLSCA)
			}
			tc.RootCAs = pool
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(auth.BearerToken(token, !plain)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", addr, err)
	}
	return conn, nil
}

// DialClients connects to inventory (and the renderer, on the same address
// unless --renderer-server says otherwise).
func DialClients(_ context.Context, g *Globals) (*Clients, error) {
	tok, err := g.token()
	if err != nil {
		return nil, err
	}
	inv, err := g.dial(g.Server, tok)
	if err != nil {
		return nil, err
	}
	c := &Clients{Inventory: inventoryv1.NewInventoryServiceClient(inv), close: inv.Close}
	ren := inv
	if g.RendererServer != "" && g.RendererServer != g.Server {
		if ren, err = g.dial(g.RendererServer, tok); err != nil {
			inv.Close()
			return nil, err
		}
		c.close = func() error { return errors.Join(inv.Close(), ren.Close()) }
	}
	c.Renderer = rendererv1.NewConfigRendererServiceClient(ren)
	rps := inv
	if g.RpsServer != "" && g.RpsServer != g.Server && g.RpsServer != g.RendererServer {
		if rps, err = g.dial(g.RpsServer, tok); err != nil {
			_ = c.Close()
			return nil, err
		}
		prev := c.close
		c.close = func() error { return errors.Join(prev(), rps.Close()) }
	} else if g.RpsServer != "" && g.RpsServer == g.RendererServer {
		rps = ren
	}
	c.Rps = rpsv1.NewRedirectServiceClient(rps)
	return c, nil
}

// cli holds one invocation's state.
type cli struct {
	env Env
	g   *Globals
	// set holds the flags given on the command line (edit commands send
	// only those in their update_mask).
	set map[string]bool
}

// Run is dialtonectl's main. Errors are one line, ready to print after
// "dialtonectl: ".
func Run(ctx context.Context, args []string, env Env) error {
	c := &cli{env: env, g: defaultGlobals()}
	app := &subcmd.App{
		Name:    "dialtonectl",
		Stdout:  env.Stdout,
		Globals: c.g.register,
		AfterParse: func(set map[string]bool) error {
			c.set = set
			return c.g.envFallback(set, env.Getenv)
		},
	}
	app.Root = &subcmd.Command{
		Name:  "dialtonectl",
		Short: "Administer Dialtone: extensions, phones, SIP interfaces, models.",
		Long: `Talks gRPC to inventory (and config-renderer for 'models') at --server, with the
bearer token from --token, DIALTONE_TOKEN, --token-file or <data-dir>/admin.token.
Every global flag may also be set as DIALTONE_<FLAG> (e.g. DIALTONE_SERVER).
MAC addresses are accepted in any usual spelling (001565aabbcc, 00:15:65:AA:BB:CC,
00-15-65-aa-bb-cc, 0015.65aa.bbcc). Passwords are never printed.`,
		Subs: []*subcmd.Command{
			c.backupCommand(),
			c.extensionsCommand(),
			c.phonesCommand(),
			c.interfacesCommand(),
			c.keysCommand(),
			c.modelsCommand(),
			c.restoreCommand(),
			c.rpsCommand(),
			c.templatesCommand(),
			c.tenantsCommand(),
			c.usersCommand(),
			c.watchCommand(),
		},
	}
	return describe(app.Execute(ctx, args), c.g)
}

// clients dials for one command.
func (c *cli) clients(ctx context.Context) (*Clients, error) {
	if c.env.Dial != nil {
		return c.env.Dial(ctx, c.g)
	}
	return DialClients(ctx, c.g)
}

// call runs fn with clients and the command deadline.
func (c *cli) call(ctx context.Context, fn func(ctx context.Context, cl *Clients) error) error {
	cl, err := c.clients(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, c.g.Timeout)
	defer cancel()
	return fn(ctx, cl)
}

func (c *cli) tenantName() string { return "tenants/" + c.g.Tenant }

// Error is a failed command, already phrased for the user.
type Error struct {
	Msg  string
	Code codes.Code // OK when it was not a gRPC error
	err  error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.err }

// describe turns gRPC errors into one clear line.
func describe(err error, g *Globals) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) || subcmd.IsUsage(err) {
		return err
	}
	var se interface {
		error
		GRPCStatus() *status.Status
	}
	if !errors.As(err, &se) {
		return &Error{Msg: err.Error(), err: err}
	}
	st := se.GRPCStatus()
	// Keep the context of a wrapped status ("assign 001565aabbcc: …").
	prefix := strings.TrimSuffix(strings.TrimSuffix(err.Error(), se.Error()), ": ")
	if prefix != "" {
		prefix += ": "
	}
	msg := st.Message()
	switch st.Code() {
	case codes.InvalidArgument:
		var fields []string
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.GetFieldViolations() {
					fields = append(fields, v.GetField())
				}
			}
		}
		msg = "invalid argument: " + msg
		if len(fields) > 0 && !strings.Contains(st.Message(), fields[0]) {
			msg += " (field " + strings.Join(fields, ", ") + ")"
		}
	case codes.NotFound:
		if !strings.Contains(msg, "not found") { // inventory's say it already
			msg = "not found: " + msg
		}
	case codes.AlreadyExists:
		if !strings.Contains(msg, "already exists") {
			msg = "already exists: " + msg
		}
	case codes.FailedPrecondition:
		msg = "refused: " + msg
	case codes.Aborted:
		msg = "conflict, retry: " + msg
	case codes.Unauthenticated:
		msg = "not authenticated: " + msg + " (give --token, set DIALTONE_TOKEN, or point --data-dir at dialtone's data directory)"
	case codes.PermissionDenied:
		msg = "permission denied: " + msg + " (dialtonectl needs an admin token)"
	case codes.Unavailable:
		msg = fmt.Sprintf("server %s unavailable: %s", g.Server, msg)
	case codes.DeadlineExceeded:
		msg = fmt.Sprintf("no answer from %s within --timeout %s", g.Server, g.Timeout)
	case codes.Unimplemented:
		msg = "not supported by this server: " + msg
	default:
		msg = strings.ToLower(st.Code().String()) + ": " + msg
	}
	return &Error{Msg: prefix + msg, Code: st.Code(), err: err}
}

// ExitCode maps Run's error to the process exit status: 2 for command-line
// mistakes, 1 otherwise.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case subcmd.IsUsage(err):
		return 2
	}
	return 1
}
