package provisionhttp

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
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/logging"
)

// TestCA stands in for one vendor's device CA: a root and an intermediate
// (vendors issue factory certificates from an intermediate and phones send
// the chain).
type TestCA struct {
	Vendor string
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

// NewTestCA makes a root and an intermediate for vendor.
func NewTestCA(t testing.TB, vendor string) *TestCA {
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
	return &TestCA{Vendor: vendor, root: root, inter: inter, key: interKey, serial: 100}
}

// WriteRoot writes the root as dir/{vendor}.pem, as an operator installs it.
func (ca *TestCA) WriteRoot(t testing.TB, dir string) {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.root.Raw})
	if err := os.WriteFile(filepath.Join(dir, ca.Vendor+".pem"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Shape is where a factory certificate carries the MAC.
type Shape int

// The shapes of the vendors' factory certificates (README.md, "Device certificates").
const (
	ShapeCN       Shape = iota // CN=001565a1b2c3 (Yealink, Poly, Grandstream, Snom)
	ShapeCiscoMPP              // OU=CP-8851-3PCC, L=serial, ST=00562ba1b2c3 (Cisco multiplatform)
	ShapeCiscoMIC              // CN=CP-8851-SEP00562BA1B2C3 (Cisco manufacturing-installed)
	ShapeSAN                   // CN=product name, subjectAltName DNS=001565a1b2c3
)

// Issue makes a device certificate for mac in the vendor's shape, with the
// chain a phone sends (leaf, intermediate).
func (ca *TestCA) Issue(t testing.TB, mac string, shape Shape) tls.Certificate {
	t.Helper()
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
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

func connState(c tls.Certificate) *tls.ConnectionState {
	var certs []*x509.Certificate
	for _, d := range c.Certificate {
		x, _ := x509.ParseCertificate(d)
		certs = append(certs, x)
	}
	return &tls.ConnectionState{PeerCertificates: certs}
}

// TestDeviceCertShapes checks each vendor's certificate shape against its
// own CA, and what must not pass: another vendor's CA, another MAC, a MAC
// in a field the vendor does not use, a MAC inside a longer string.
func TestDeviceCertShapes(t *testing.T) {
	dir := t.TempDir()
	cas := map[string]*TestCA{}
	for _, v := range []string{"yealink", "poly", "cisco", "grandstream", "snom"} {
		cas[v] = NewTestCA(t, v)
		cas[v].WriteRoot(t, dir)
	}
	s := &Service{cas: &deviceCAs{dir: dir, every: time.Hour, log: logging.Discard()}}
	if err := s.cas.load(); err != nil {
		t.Fatal(err)
	}
	const mac = "0015650a0b0c"
	now := time.Now()
	for _, tc := range []struct {
		name, vendor string
		cert         tls.Certificate
		want         string
	}{
		{"yealink CN", "yealink", cas["yealink"].Issue(t, mac, ShapeCN), certVerified},
		{"poly CN", "poly", cas["poly"].Issue(t, mac, ShapeCN), certVerified},
		{"cisco MPP S=", "cisco", cas["cisco"].Issue(t, mac, ShapeCiscoMPP), certVerified},
		{"cisco MIC SEP", "cisco", cas["cisco"].Issue(t, mac, ShapeCiscoMIC), certVerified},
		{"grandstream CN", "grandstream", cas["grandstream"].Issue(t, mac, ShapeCN), certVerified},
		{"snom SAN", "snom", cas["snom"].Issue(t, mac, ShapeSAN), certVerified},
		{"another vendor's CA", "cisco", cas["yealink"].Issue(t, mac, ShapeCN), certUntrust},
		{"another MAC", "yealink", cas["yealink"].Issue(t, "0015650a0b0d", ShapeCN), certWrongMAC},
		{"MAC where the vendor puts none", "yealink", cas["yealink"].Issue(t, mac, ShapeSAN), certWrongMAC},
		{"no CA for the vendor", "fanvil", cas["yealink"].Issue(t, mac, ShapeCN), certNoCA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.checkDeviceCert(connState(tc.cert), tc.vendor, mac, now)
			if got.result != tc.want {
				t.Fatalf("result %s, want %s", got.result, tc.want)
			}
			if (got.sha256 != "") != (tc.want == certVerified) {
				t.Fatalf("sha256 %q with result %s", got.sha256, got.result)
			}
		})
	}
	// An expired certificate does not verify.
	if got := s.checkDeviceCert(connState(cas["poly"].Issue(t, mac, ShapeCN)), "poly", mac, now.Add(48*time.Hour)); got.result != certUntrust {
		t.Errorf("expired: %s", got.result)
	}
	if got := s.checkDeviceCert(nil, "poly", mac, now); got.result != certNone {
		t.Errorf("plain HTTP: %s", got.result)
	}
	// Substrings never count.
	for _, cn := range []string{"x" + mac, mac + "0", "SEP", "CP-SEP" + mac + "00"} {
		c := &x509.Certificate{Subject: pkix.Name{CommonName: cn}}
		for _, v := range []string{"yealink", "cisco"} {
			if got := certMACs(v, c); len(got) != 0 {
				t.Errorf("%s CN %q: found %v", v, cn, got)
			}
		}
	}
}

// TestDeviceCAReload: a bundle is read at start, a new vendor file is picked
// up, and a broken file keeps the previous set.
func TestDeviceCAReload(t *testing.T) {
	dir := t.TempDir()
	y := NewTestCA(t, "yealink")
	y.WriteRoot(t, dir)
	d := &deviceCAs{dir: dir, every: 0, log: logging.Discard()}
	if err := d.load(); err != nil {
		t.Fatal(err)
	}
	if d.pool("yealink") == nil || d.pool("poly") != nil {
		t.Fatal("after load: want yealink only")
	}
	p := NewTestCA(t, "poly")
	p.WriteRoot(t, dir)
	if d.pool("poly") == nil {
		t.Fatal("new vendor file not picked up")
	}
	if err := os.WriteFile(filepath.Join(dir, "snom.pem"), []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if d.pool("poly") == nil || d.pool("yealink") == nil {
		t.Fatal("a broken file dropped the previous bundles")
	}
	if err := d.reload(time.Now()); err == nil {
		t.Fatal("broken file: no error")
	}
}

// FuzzCertMACs feeds arbitrary subject and SAN values (attacker-chosen: any
// CA-signed certificate can carry them) to every vendor's MAC forms: a MAC
// comes back only as 12 lowercase hex digits, and only from a value that is
// that MAC in one of the usual spellings (after "SEP" for Cisco's CN).
func FuzzCertMACs(f *testing.F) {
	for _, s := range []string{"001565a1b2c3", "00:15:65:A1:B2:C3", "CP-8851-SEP00562BA1B2C3", "sep", "0015.65a1.b2c3", "x001565a1b2c3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c := &x509.Certificate{Subject: pkix.Name{CommonName: v, Province: []string{v}}, DNSNames: []string{v}}
		for vendor := range vendorMACForms {
			for _, m := range certMACs(vendor, c) {
				if len(m) != 12 || strings.Trim(m, "0123456789abcdef") != "" {
					t.Fatalf("%s: %q from %q", vendor, m, v)
				}
				digits := strings.ToLower(strings.Map(func(r rune) rune {
					if strings.ContainsRune("0123456789abcdefABCDEF", r) {
						return r
					}
					return -1
				}, v))
				if !strings.HasSuffix(digits, m) {
					t.Fatalf("%s: %q is not in %q", vendor, m, v)
				}
			}
		}
	})
}
