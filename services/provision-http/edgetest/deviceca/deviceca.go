// Package deviceca makes vendor device CAs and the factory certificates
// phones present, for tests of the edge's device-certificate check (in
// services/provision-http and in cmd/e2e/edge). It does not import the
// edge, so the edge's internal tests can use it too.
package deviceca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// CA stands in for one vendor's device CA: a root and an intermediate
// (vendors issue factory certificates from an intermediate and phones send
// the chain).
type CA struct {
	Vendor string
	root   *x509.Certificate
	inter  *x509.Certificate
	key    *ecdsa.PrivateKey // the intermediate's

	mu     sync.Mutex
	serial int64
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// New makes a root and an intermediate for vendor.
func New(t testing.TB, vendor string) *CA {
	t.Helper()
	rootKey := newKey(t)
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: vendor + " test device root CA", Organization: []string{vendor}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(der)
	interKey := newKey(t)
	interTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: vendor + " test device issuing CA", Organization: []string{vendor}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err = x509.CreateCertificate(rand.Reader, interTmpl, root, &interKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	inter, _ := x509.ParseCertificate(der)
	return &CA{Vendor: vendor, root: root, inter: inter, key: interKey, serial: 100}
}

// WriteRoot writes the root as dir/{vendor}.pem, as an operator installs it.
func (ca *CA) WriteRoot(t testing.TB, dir string) {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.root.Raw})
	if err := os.WriteFile(filepath.Join(dir, ca.Vendor+".pem"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Shape is where a factory certificate carries the MAC.
type Shape int

// The shapes of the vendors' factory certificates (services/provision-http
// README.md, "Device certificates").
const (
	ShapeCN       Shape = iota // CN=001565a1b2c3 (Yealink, Poly, Grandstream, Snom)
	ShapeCiscoMPP              // OU=CP-8851-3PCC, L=serial, ST=00562ba1b2c3 (Cisco multiplatform)
	ShapeCiscoMIC              // CN=CP-8851-SEP00562BA1B2C3 (Cisco manufacturing-installed)
	ShapeSAN                   // CN=product name, subjectAltName DNS=001565a1b2c3
)

// Issue makes a device certificate for mac in the vendor's shape, with the
// chain a phone sends (leaf, intermediate).
func (ca *CA) Issue(t testing.TB, mac string, shape Shape) tls.Certificate {
	t.Helper()
	ca.mu.Lock()
	ca.serial++
	serial := ca.serial
	ca.mu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	up := strings.ToUpper(mac)
	switch shape {
	case ShapeCN:
		tmpl.Subject = pkix.Name{CommonName: mac, Organization: []string{ca.Vendor}}
		// Yealink calls its factory certificate a server certificate; the
		// edge must accept any extended key usage.
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	case ShapeCiscoMPP:
		tmpl.Subject = pkix.Name{OrganizationalUnit: []string{"CP-8851-3PCC"}, Locality: []string{"FCH2145ABCD"}, Province: []string{mac}, Organization: []string{"Cisco Systems"}}
	case ShapeCiscoMIC:
		tmpl.Subject = pkix.Name{CommonName: "CP-8851-SEP" + up, Organization: []string{"Cisco Systems"}}
	case ShapeSAN:
		tmpl.Subject = pkix.Name{CommonName: ca.Vendor + " phone"}
		tmpl.DNSNames = []string{up}
	}
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.inter, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der, ca.inter.Raw}, PrivateKey: key, Leaf: leaf}
}
