package credentials

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLayouts(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "acme", "yealink.json"), `{"api":"yealink-rps","key_id":"AK1","key_secret":"SK-acme-yealink"}`)
	write(t, filepath.Join(dir, "acme.snom.json"), `{"api":"snom-xmlrpc","username":"u","password":"pw-acme-snom"}`)
	write(t, filepath.Join(dir, "_default.fanvil.json"), `{"username":"f","password":"pw-default-fanvil"}`)
	write(t, filepath.Join(dir, "accounts.json"), `{"accounts":[
		{"tenant":"tenants/globex","vendor":"poly","api_key":"poly-key-globex"},
		{"vendor":"gigaset","username":"g","password":"pw-default-gigaset","provider_name":"Acme PBX"}]}`)
	write(t, filepath.Join(dir, "README.txt"), "ignored")
	s, err := Open(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		tenant, vendor, principal string
		ok                        bool
	}{
		{"tenants/acme", "yealink", "AK1", true},
		{"acme", "snom", "u", true},
		{"tenants/acme", "fanvil", "f", true}, // default account
		{"tenants/globex", "poly", "api-key", true},
		{"tenants/globex", "gigaset", "g", true},
		{"tenants/globex", "yealink", "", false},
		{"", "fanvil", "f", true},
	}
	for _, c := range cases {
		a, fp, ok := s.Lookup(c.tenant, c.vendor)
		if ok != c.ok || (ok && (a.Principal() != c.principal || fp == "")) {
			t.Errorf("Lookup(%q,%q) = %+v %q %v", c.tenant, c.vendor, a.Principal(), fp, ok)
		}
	}
	if a, _, _ := s.Lookup("tenants/acme", "snom"); a.Password.Reveal() != "pw-acme-snom" || a.API != "snom-xmlrpc" {
		t.Error("snom account fields")
	}
	if n := len(s.Accounts()); n != 5 {
		t.Errorf("%d accounts", n)
	}
}

func TestErrorsHoldNoSecret(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "acme", "yealink.json"), `{"key_secret":"TOPSECRET-1", "bogus": 1}`)
	write(t, filepath.Join(dir, "acme.snom.json"), `{"password":"TOPSECRET-2" "username":"x"}`)
	write(t, filepath.Join(dir, "acme.poly.json"), `{"api_key": 42}`)
	write(t, filepath.Join(dir, "zzz.nosuchvendor.json"), `{"password":"TOPSECRET-3"}`)
	write(t, filepath.Join(dir, "Bad_Tenant.snom.json"), `{"password":"TOPSECRET-4"}`)
	_, err := Load(dir, func(a vendors.Account) error { return nil })
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"unknown field \"bogus\"", "invalid JSON at offset", "must be a JSON string", "unknown vendor", "invalid tenant id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "TOPSECRET") {
		t.Fatalf("error text holds a secret: %v", err)
	}
}

// A Kubernetes Secret volume: keys are symlinks into ..data, which is
// itself a symlink swapped atomically to a new timestamped directory.
func TestKubernetesSecretSwap(t *testing.T) {
	dir := t.TempDir()
	gen := func(name, secret string) {
		write(t, filepath.Join(dir, name, "acme.yealink.json"), `{"key_id":"AK","key_secret":"`+secret+`"}`)
	}
	gen("..2024_01_01_00_00_00.1", "first")
	if err := os.Symlink("..2024_01_01_00_00_00.1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/acme.yealink.json", filepath.Join(dir, "acme.yealink.json")); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, _, _ := s.Lookup("acme", "yealink"); a.KeySecret.Reveal() != "first" {
		t.Fatal("first generation not loaded")
	}
	_, fp1, _ := s.Lookup("acme", "yealink")
	// The kubelet's swap: new dir, new symlink, rename over ..data.
	gen("..2024_01_01_00_01_00.2", "second")
	if err := os.Symlink("..2024_01_01_00_01_00.2", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	changed, err := s.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 1 || changed[0] != (Key{"acme", "yealink"}) {
		t.Fatalf("changed = %v", changed)
	}
	a, fp2, _ := s.Lookup("acme", "yealink")
	if a.KeySecret.Reveal() != "second" || fp1 == fp2 {
		t.Fatal("second generation not loaded")
	}
	if changed, _ := s.Reload(); len(changed) != 0 {
		t.Fatalf("no-op reload changed %v", changed)
	}
}

func TestReloadKeepsPreviousOnError(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "acme.snom.json"), `{"username":"u","password":"p1"}`)
	s, err := Open(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "acme.snom.json"), `{"username":"u",`)
	if _, err := s.Reload(); err == nil {
		t.Fatal("want error")
	}
	if a, _, ok := s.Lookup("acme", "snom"); !ok || a.Password.Reveal() != "p1" {
		t.Fatal("previous account lost")
	}
	if s.LastError() == nil {
		t.Fatal("LastError not kept")
	}
	os.Remove(filepath.Join(dir, "acme.snom.json"))
	changed, err := s.Reload()
	if err != nil || len(changed) != 1 {
		t.Fatalf("removal: %v %v", changed, err)
	}
	if _, _, ok := s.Lookup("acme", "snom"); ok {
		t.Fatal("removed account still served")
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan []Key, 1)
	go s.Watch(ctx, 10*time.Millisecond, func(k []Key) { got <- k }, nil)
	write(t, filepath.Join(dir, "acme.htek.json"), `{"username":"u","password":"p"}`)
	if k := <-got; len(k) != 1 || k[0].Vendor != "htek" {
		t.Fatalf("changed %v", k)
	}
}

func TestSecretNeverFormats(t *testing.T) {
	a := vendors.Account{Password: "pw-123456", KeySecret: "ks-123456", APIKey: "ak-123456"}
	for _, s := range []string{
		strings.Join([]string{a.Password.String(), a.KeySecret.GoString()}, ""),
	} {
		if strings.Contains(s, "123456") {
			t.Fatal(s)
		}
	}
}

func FuzzParseAccount(f *testing.F) {
	f.Add([]byte(`{"api":"yealink-rps","key_id":"AK1","key_secret":"SK"}`))
	f.Add([]byte(`{"username":"u","password":"p","allow_takeover":true,"base_url":"https://x/"}`))
	f.Add([]byte(`{"accounts":[{"tenant":"acme","vendor":"poly","api_key":"k"}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var fl File
		err := strictDecode(raw, &fl)
		if err != nil && len(err.Error()) > 200 {
			t.Fatalf("error text too long: %d", len(err.Error()))
		}
		if err == nil {
			// A decoded secret never formats, whatever its value.
			for _, sec := range []vendors.Secret{fl.Password, fl.KeySecret, fl.APIKey} {
				if fmt.Sprint(sec) != "[REDACTED]" || fmt.Sprintf("%q|%x|%v", sec, sec, sec) != "[REDACTED]|[REDACTED]|[REDACTED]" {
					t.Fatal("a secret formatted")
				}
			}
		}
	})
}
