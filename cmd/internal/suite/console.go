package suite

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/services/console"
)

// ConsoleConfig is the web console's part of the one-process configuration.
type ConsoleConfig struct {
	Addr          string
	Cert, Key     string
	InsecureHTTP  bool
	AdminPassword string
}

func (c *ConsoleConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "console-addr", ":8088", "address of the web console (empty: off); HTTPS unless --console-insecure-http")
	fs.StringVar(&c.Cert, "console-cert", "", "console TLS certificate (PEM); default: a self-signed one made on first run in the data directory")
	fs.StringVar(&c.Key, "console-key", "", "console TLS private key (PEM), with --console-cert")
	fs.BoolVar(&c.InsecureHTTP, "console-insecure-http", false, "serve the console over plain HTTP (only behind a TLS proxy or on loopback)")
	fs.StringVar(&c.AdminPassword, "console-admin-password", "", "password of the first console user \"admin\", made when there is no user (default: a random one, printed once)")
}

func (c ConsoleConfig) validate() error {
	if c.Addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--console-addr: %w", err)
	}
	if (c.Cert == "") != (c.Key == "") {
		return errors.New("--console-cert and --console-key go together")
	}
	if c.InsecureHTTP && c.Cert != "" {
		return errors.New("--console-insecure-http and --console-cert exclude each other")
	}
	if n := len(c.AdminPassword); n != 0 && (n < 8 || n > 72) {
		return errors.New("--console-admin-password: want 8-72 bytes")
	}
	return nil
}

// Console certificate files made on first run, in the data directory.
const (
	consoleCertFile = "console-cert.pem"
	consoleKeyFile  = "console-key.pem"
)

// consoleRunner returns the console's lifecycle function: it serves the
// console and, once inventory answers, makes the first admin when there is
// no console user yet and prints how to log in.
func consoleRunner(cfg ConsoleConfig, dataDir, publicHost string, conn *grpc.ClientConn, reg prometheus.Registerer, logger *slog.Logger, out io.Writer) (func(context.Context) error, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var tcfg *tls.Config
	var fingerprint string
	if !cfg.InsecureHTTP {
		certFile, keyFile := cfg.Cert, cfg.Key
		if certFile == "" {
			certFile, keyFile = filepath.Join(dataDir, consoleCertFile), filepath.Join(dataDir, consoleKeyFile)
			if err := ensureSelfSigned(certFile, keyFile, publicHost); err != nil {
				return nil, err
			}
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("console certificate: %w", err)
		}
		sum := sha256.Sum256(cert.Certificate[0])
		fingerprint = colonHex(sum[:])
		tcfg = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	inv := inventoryv1.NewInventoryServiceClient(conn)
	con, err := console.New(console.Config{Addr: cfg.Addr, Insecure: cfg.InsecureHTTP}, console.Deps{
		Logger: logger, Inventory: inv, Renderer: rendererv1.NewConfigRendererServiceClient(conn),
		Rps: rpsv1.NewRedirectServiceClient(conn), TLS: tcfg, Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- con.Run(ctx) }()
		select {
		case err := <-errc:
			return err
		case <-con.Listening():
		}
		line, err := firstAdmin(ctx, inv, cfg.AdminPassword, logger)
		if err != nil && ctx.Err() == nil {
			logger.Error("console: first admin user", "err", err)
		}
		scheme := "https"
		if cfg.InsecureHTTP {
			scheme = "http"
		}
		_, port, _ := net.SplitHostPort(con.Addr().String())
		var sb strings.Builder
		fmt.Fprintf(&sb, "Web console     %s://%s/\n", scheme, net.JoinHostPort(publicHost, port))
		if fingerprint != "" {
			fmt.Fprintf(&sb, "  certificate SHA-256 %s\n", fingerprint)
		}
		if line != "" {
			fmt.Fprintf(&sb, "  %s\n", line)
		}
		io.WriteString(out, sb.String())
		return <-errc
	}, nil
}

// firstAdmin creates the console user "admin" when there is no user, and
// returns the line telling how to log in. A generated password is in that
// line, which is printed once; it is never logged.
func firstAdmin(ctx context.Context, inv inventoryv1.InventoryServiceClient, password string, logger *slog.Logger) (string, error) {
	var err error
	for attempt := 0; attempt < 100 && ctx.Err() == nil; attempt++ {
		var resp *inventoryv1.ListUsersResponse
		if resp, err = inv.ListUsers(ctx, &inventoryv1.ListUsersRequest{PageSize: 1}); err == nil {
			if len(resp.GetUsers()) > 0 {
				return "log in as a console user (dialtonectl users list; users update NAME --password … resets one)", nil
			}
			generated := password == ""
			if generated {
				password = strings.ReplaceAll(rand.Text(), "-", "")[:20]
			}
			_, err = inv.CreateUser(ctx, &inventoryv1.CreateUserRequest{UserId: "admin", User: &inventoryv1.User{
				DisplayName: "Administrator", Role: inventoryv1.UserRole_USER_ROLE_ADMIN, Password: password}})
			if err == nil {
				logger.Info("console: created the first admin user", "user", "admin", "generated_password", generated)
				if generated {
					return "log in as admin with password " + password + " (shown once; change it with dialtonectl users update admin --password …)", nil
				}
				return "log in as admin with the password from --console-admin-password", nil
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "", err
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02X", x)
	}
	return strings.Join(parts, ":")
}

// ensureSelfSigned makes a self-signed ECDSA certificate for the console
// on first run (names: the public host, this host's name, localhost,
// 127.0.0.1, ::1). Later runs keep it, so the fingerprint an
// administrator accepted stays the same.
func ensureSelfSigned(certFile, keyFile, publicHost string) error {
	if _, err := os.Stat(certFile); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("console certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "Dialtone console", Organization: []string{"Dialtone"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(0, 0, 825),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	if ip := net.ParseIP(publicHost); ip != nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else if publicHost != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, publicHost)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("console key: %w", err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("console certificate: %w", err)
	}
	return nil
}
