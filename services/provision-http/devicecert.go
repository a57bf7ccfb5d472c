package provisionhttp

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

// Device certificates: Yealink, Poly, Cisco, Grandstream and Snom phones
// carry a certificate issued at the factory to their MAC and present it when
// the server asks for one. The edge asks (RequestClientCert) and verifies
// after the handshake, per vendor, instead of letting crypto/tls verify
// (VerifyClientCertIfGiven): a phone whose certificate does not verify — its
// vendor's CA is not installed, the factory certificate has expired, it
// carries only serverAuth in its extended key usage — must still complete the
// handshake and be served by token where its policy allows, and one shared
// pool could not tell which vendor's CA vouched for which MAC form.

// macForm extracts candidate MAC spellings from a certificate.
type macForm func(c *x509.Certificate) []string

// formCN: the subject common name is the MAC.
func formCN(c *x509.Certificate) []string { return []string{c.Subject.CommonName} }

// formST: the subject stateOrProvince ("S=") element is the MAC (Cisco
// multiplatform phones: OU=product, L=serial, S=MAC).
func formST(c *x509.Certificate) []string { return c.Subject.Province }

// formCNSEP: the common name ends in "SEP" and the MAC (Cisco
// manufacturing-installed certificates, "CP-8851-SEP00562BA1B2C3").
func formCNSEP(c *x509.Certificate) []string {
	cn := c.Subject.CommonName
	// Byte-wise and ASCII-only: strings.ToUpper would change the length of
	// invalid UTF-8 and shift the index (found by FuzzCertMACs).
	for i := len(cn) - 3; i >= 0; i-- {
		if cn[i]|0x20 == 's' && cn[i+1]|0x20 == 'e' && cn[i+2]|0x20 == 'p' {
			return []string{cn[i+3:]}
		}
	}
	return nil
}

// formSAN: a subjectAltName DNS name is the MAC.
func formSAN(c *x509.Certificate) []string { return c.DNSNames }

// vendorMACForms says where each vendor's factory certificate carries the
// MAC; see README.md ("Device certificates") for the sources and for the
// forms that are assumptions to confirm with a real phone.
var vendorMACForms = map[string][]macForm{
	vocab.Cisco:       {formST, formCNSEP},
	vocab.Yealink:     {formCN},
	vocab.Poly:        {formCN},
	vocab.Grandstream: {formCN, formSAN},
	vocab.Snom:        {formCN, formSAN},
}

// certMACs returns the MACs vendor's forms find in c, canonical. A
// candidate must be a whole MAC (any usual spelling), never a substring.
func certMACs(vendor string, c *x509.Certificate) []string {
	var out []string
	for _, f := range vendorMACForms[vendor] {
		for _, s := range f(c) {
			if m, err := macaddr.Parse(strings.TrimSpace(s)); err == nil {
				out = append(out, m)
			}
		}
	}
	return out
}

// Results of a presented device certificate (metric label).
const (
	certNone     = "none"      // no certificate presented
	certNoCA     = "no_ca"     // no CA bundle for the phone's vendor
	certUntrust  = "untrusted" // did not verify against the vendor's CA
	certWrongMAC = "wrong_mac" // verified, but names another MAC
	certVerified = "verified"
)

// deviceCert is what a request's client certificate proved.
type deviceCert struct {
	result  string
	sha256  string // hex SHA-256 of the leaf (verified only)
	subject string
}

// checkDeviceCert verifies the connection's client certificate for the
// phone (vendor, canonical mac) against the vendor's CA bundle.
func (s *Service) checkDeviceCert(cs *tls.ConnectionState, vendor, mac string, now time.Time) deviceCert {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return deviceCert{result: certNone}
	}
	pool := s.cas.pool(vendor)
	if pool == nil {
		return deviceCert{result: certNoCA}
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	// Any extended key usage: factory certificates are made for more than
	// TLS client authentication (Yealink calls its own a server certificate).
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: pool, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return deviceCert{result: certUntrust}
	}
	sum := sha256.Sum256(leaf.Raw)
	d := deviceCert{result: certWrongMAC, subject: truncate(leaf.Subject.String(), 256)}
	for _, m := range certMACs(vendor, leaf) {
		if m == mac {
			d.result, d.sha256 = certVerified, hex.EncodeToString(sum[:])
			return d
		}
	}
	return d
}

// caSet is one load of --device-ca-dir.
type caSet struct {
	pools map[string]*x509.CertPool // vendor -> its CAs
	all   *x509.CertPool            // every CA: named in the CertificateRequest
}

// deviceCAs serves the per-vendor CA bundles of --device-ca-dir
// ("{vendor}.pem", vendor keys of proto/vocab) and re-reads them when a
// file's modification time or size changes, or files come and go, checking
// at most once per interval, like certLoader. A reload that fails keeps
// the previous set.
type deviceCAs struct {
	dir     string
	every   time.Duration
	log     *slog.Logger
	reloads *prometheus.CounterVec

	cur atomic.Pointer[caSet]

	mu        sync.Mutex
	lastCheck time.Time
	stamps    map[string]fileStamp
}

// pool returns vendor's CA pool, nil when none is installed (or the edge
// has no --device-ca-dir).
func (d *deviceCAs) pool(vendor string) *x509.CertPool {
	if d == nil {
		return nil
	}
	d.maybeReload()
	if cs := d.cur.Load(); cs != nil {
		return cs.pools[vendor]
	}
	return nil
}

// all returns the union pool, for the CertificateRequest's CA names.
func (d *deviceCAs) all() *x509.CertPool {
	if d == nil {
		return nil
	}
	d.maybeReload()
	if cs := d.cur.Load(); cs != nil {
		return cs.all
	}
	return nil
}

func (d *deviceCAs) maybeReload() {
	if !d.mu.TryLock() { // a handshake never waits for another one's check
		return
	}
	defer d.mu.Unlock()
	if now := time.Now(); now.Sub(d.lastCheck) >= d.every {
		_ = d.reload(now)
	}
}

func (d *deviceCAs) load() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reload(time.Now())
}

func (d *deviceCAs) reload(now time.Time) error {
	d.lastCheck = now
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return d.fail(fmt.Errorf("device CAs: %w", err))
	}
	stamps := map[string]fileStamp{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".pem") {
			continue
		}
		st, err := stampOf(filepath.Join(d.dir, name))
		if err != nil {
			return d.fail(fmt.Errorf("device CAs: %w", err))
		}
		stamps[name] = st
	}
	if d.cur.Load() != nil && sameStamps(stamps, d.stamps) {
		return nil
	}
	set := &caSet{pools: map[string]*x509.CertPool{}, all: x509.NewCertPool()}
	var loaded []string
	for name := range stamps {
		vendor := strings.TrimSuffix(name, ".pem")
		if _, ok := vendorMACForms[vendor]; !ok {
			d.log.Warn("device CA file ignored: not a vendor with factory certificates", "file", name,
				"vendors", "cisco, grandstream, poly, snom, yealink")
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.dir, name))
		if err != nil {
			return d.fail(fmt.Errorf("device CAs: %w", err))
		}
		certs, err := parseCerts(b)
		if err != nil {
			return d.fail(fmt.Errorf("device CAs: %s: %w", name, err))
		}
		p := x509.NewCertPool()
		for _, c := range certs {
			p.AddCert(c)
			set.all.AddCert(c)
		}
		set.pools[vendor] = p
		loaded = append(loaded, fmt.Sprintf("%s(%d)", vendor, len(certs)))
	}
	d.cur.Store(set)
	d.stamps = stamps
	if d.reloads != nil {
		d.reloads.WithLabelValues("ok").Inc()
	}
	d.log.Info("device CA bundles loaded", "dir", d.dir, "vendors", strings.Join(loaded, " "))
	return nil
}

func sameStamps(a, b map[string]fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// parseCerts reads every CERTIFICATE block; a file without one, or with a
// block that does not parse, is an error (a half-written file is retried).
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

func (d *deviceCAs) fail(err error) error {
	if d.reloads != nil {
		d.reloads.WithLabelValues("error").Inc()
	}
	if d.cur.Load() != nil {
		d.log.Error("device CA reload failed; keeping the previous bundles", "error", err)
	}
	return err
}
