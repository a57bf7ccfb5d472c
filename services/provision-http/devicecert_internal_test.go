package provisionhttp

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/services/provision-http/edgetest/deviceca"
)

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
	cas := map[string]*deviceca.CA{}
	for _, v := range []string{"yealink", "poly", "cisco", "grandstream", "snom"} {
		cas[v] = deviceca.New(t, v)
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
		{"yealink CN", "yealink", cas["yealink"].Issue(t, mac, deviceca.ShapeCN), certVerified},
		{"poly CN", "poly", cas["poly"].Issue(t, mac, deviceca.ShapeCN), certVerified},
		{"cisco MPP S=", "cisco", cas["cisco"].Issue(t, mac, deviceca.ShapeCiscoMPP), certVerified},
		{"cisco MIC SEP", "cisco", cas["cisco"].Issue(t, mac, deviceca.ShapeCiscoMIC), certVerified},
		{"grandstream CN", "grandstream", cas["grandstream"].Issue(t, mac, deviceca.ShapeCN), certVerified},
		{"snom SAN", "snom", cas["snom"].Issue(t, mac, deviceca.ShapeSAN), certVerified},
		{"another vendor's CA", "cisco", cas["yealink"].Issue(t, mac, deviceca.ShapeCN), certUntrust},
		{"another MAC", "yealink", cas["yealink"].Issue(t, "0015650a0b0d", deviceca.ShapeCN), certWrongMAC},
		{"MAC where the vendor puts none", "yealink", cas["yealink"].Issue(t, mac, deviceca.ShapeSAN), certWrongMAC},
		{"no CA for the vendor", "fanvil", cas["yealink"].Issue(t, mac, deviceca.ShapeCN), certNoCA},
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
	if got := s.checkDeviceCert(connState(cas["poly"].Issue(t, mac, deviceca.ShapeCN)), "poly", mac, now.Add(48*time.Hour)); got.result != certUntrust {
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
	y := deviceca.New(t, "yealink")
	y.WriteRoot(t, dir)
	d := &deviceCAs{dir: dir, every: 0, log: logging.Discard()}
	if err := d.load(); err != nil {
		t.Fatal(err)
	}
	if d.pool("yealink") == nil || d.pool("poly") != nil {
		t.Fatal("after load: want yealink only")
	}
	p := deviceca.New(t, "poly")
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
