package edge_test

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
	"testing"
	"time"
)

// deviceCA stands in for one vendor's device CA: a root and an intermediate
// (vendors issue factory certificates from an intermediate and phones send
// the chain). The edge's own tests have the other certificate shapes
// (services/provision-http/devicecert_internal_test.go); these tests need
// the MAC in the CN only.
type deviceCA struct {
	vendor string
	root   *x509.Certificate
	inter  *x509.Certificate
	key    *ecdsa.PrivateKey // the intermediate's
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

func newDeviceCA(t testing.TB, vendor string) *deviceCA {
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
	return &deviceCA{vendor: vendor, root: root, inter: inter, key: interKey, serial: 100}
}

// writeRoot writes the root as dir/{vendor}.pem, as an operator installs it.
func (ca *deviceCA) writeRoot(t testing.TB, dir string) {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.root.Raw})
	if err := os.WriteFile(filepath.Join(dir, ca.vendor+".pem"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue makes a factory certificate with CN=mac (Yealink's shape), with the
// chain a phone sends (leaf, intermediate).
func (ca *deviceCA) issue(t testing.TB, mac string) tls.Certificate {
	t.Helper()
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		Subject:     pkix.Name{CommonName: mac, Organization: []string{ca.vendor}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.inter, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der, ca.inter.Raw}, PrivateKey: key, Leaf: leaf}
}
