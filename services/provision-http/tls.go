package provisionhttp

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TLS 1.2 cipher suites offered to phones (TLS 1.3 suites are not
// configurable in Go and are all offered). Every suite has forward secrecy
// (ECDHE). The AES-CBC-SHA1 suites stay because desk-phone firmware of the
// 2010s (embedded OpenSSL/mbedTLS builds in Yealink T2x/T4x, Polycom UCS,
// Cisco SPA/7900, Grandstream GXP) often offers TLS 1.2 but no AEAD suite;
// CBC with HMAC-SHA1 is still sound in TLS 1.2 with Go's constant-time
// implementation (Lucky13 mitigated). Go picks the best suite both ends share.
var phoneCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
}

// legacyCipherSuites use RSA key exchange: no forward secrecy (a stolen key
// decrypts recorded sessions), so they are off unless --tls-legacy-ciphers.
// Some phones (old Cisco SPA, Polycom SoundPoint on UCS 3/4) offer nothing
// else. 3DES and RC4 are never offered.
var legacyCipherSuites = []uint16{
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

func (s *Service) tlsConfig() *tls.Config {
	suites := phoneCipherSuites
	if s.cfg.TLSLegacyCiphers {
		suites = append(append([]uint16{}, phoneCipherSuites...), legacyCipherSuites...)
	}
	conf := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   suites,
		GetCertificate: s.certs.GetCertificate,
		NextProtos:     []string{"http/1.1"},
	}
	if s.cas == nil {
		return conf
	}
	// Ask for the phone's factory certificate, naming the installed CAs
	// (some phones send a certificate only when its issuer is named), and
	// verify it per vendor after the handshake (devicecert.go).
	conf.ClientAuth = tls.RequestClientCert
	conf.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := conf.Clone()
		c.GetConfigForClient = nil
		c.ClientCAs = s.cas.all()
		return c, nil
	}
	return conf
}

// certLoader serves the certificate from files and re-reads them when their
// modification time or size changes, checking at most once per interval. A
// reload that fails (for example a half-written file) keeps the old
// certificate and is retried at the next check.
type certLoader struct {
	certFile, keyFile string
	every             time.Duration
	log               *slog.Logger
	reloads           *prometheus.CounterVec

	cert atomic.Pointer[tls.Certificate]

	mu        sync.Mutex
	lastCheck time.Time
	stamp     [2]fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// load reads both files (at start).
func (l *certLoader) load() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reload(time.Now())
}

func (l *certLoader) reload(now time.Time) error {
	l.lastCheck = now
	cs, err1 := stampOf(l.certFile)
	ks, err2 := stampOf(l.keyFile)
	if err1 != nil || err2 != nil {
		return l.fail(fmt.Errorf("tls: stat certificate files: %w", firstErr(err1, err2)))
	}
	if l.cert.Load() != nil && cs == l.stamp[0] && ks == l.stamp[1] {
		return nil
	}
	c, err := tls.LoadX509KeyPair(l.certFile, l.keyFile)
	if err != nil {
		return l.fail(fmt.Errorf("tls: load certificate: %w", err))
	}
	l.cert.Store(&c)
	l.stamp = [2]fileStamp{cs, ks}
	if l.reloads != nil {
		l.reloads.WithLabelValues("ok").Inc()
	}
	l.log.Info("TLS certificate loaded", "cert", l.certFile)
	return nil
}

func (l *certLoader) fail(err error) error {
	if l.reloads != nil {
		l.reloads.WithLabelValues("error").Inc()
	}
	if l.cert.Load() != nil {
		l.log.Error("TLS certificate reload failed; keeping the previous one", "error", err)
	}
	return err
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// GetCertificate is tls.Config.GetCertificate.
func (l *certLoader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now()
	if l.mu.TryLock() { // a handshake never waits for another one's check
		if now.Sub(l.lastCheck) >= l.every {
			_ = l.reload(now)
		}
		l.mu.Unlock()
	}
	c := l.cert.Load()
	if c == nil {
		return nil, fmt.Errorf("tls: no certificate loaded")
	}
	return c, nil
}
