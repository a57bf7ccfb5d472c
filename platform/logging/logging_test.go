package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

const knownPassword = "hunter2-Sup3rS3cret"

func TestNewRedactsSecrets(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := New(&buf, format, "debug")
			if err != nil {
				t.Fatal(err)
			}
			log.Info("provisioning",
				"password", knownPassword,
				"sip_password", knownPassword,
				slog.Group("phone", "webPassword", knownPassword, "mac", "001565aabbcc"),
				"Authorization", "Bearer "+knownPassword,
				"provisioning-token", knownPassword,
			)
			log.With("secret", knownPassword).Debug("with")
			out := buf.String()
			if strings.Contains(out, knownPassword) {
				t.Fatalf("password leaked into log output:\n%s", out)
			}
			if !strings.Contains(out, Redacted) || !strings.Contains(out, "001565aabbcc") {
				t.Fatalf("unexpected output:\n%s", out)
			}
		})
	}
}

func TestNewFormatAndLevel(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "", "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "k", 1)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %v\n%s", err, buf.String())
	}
	if rec["msg"] != "shown" || rec["level"] != "WARN" {
		t.Errorf("record = %v", rec)
	}
	if _, err := New(&buf, "xml", "info"); err == nil {
		t.Error("format xml accepted")
	}
	if _, err := New(&buf, "json", "loud"); err == nil {
		t.Error("level loud accepted")
	}
}

func TestIsSecretKey(t *testing.T) {
	for key, want := range map[string]bool{
		"password": true, "Password": true, "sip_password": true, "webPassword": true,
		"token": true, "provisioning.token": true, "authorization": true, "client_secret": true,
		"api-key": true, "mac": false, "token_count": false, "tokens_file": false, "user": false,
	} {
		if got := IsSecretKey(key); got != want {
			t.Errorf("IsSecretKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestDiscard(t *testing.T) {
	Discard().Error("nothing", "password", knownPassword) // must not panic
}

func FuzzParseLevel(f *testing.F) {
	for _, s := range []string{"debug", "INFO", "", "warning", "error", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lvl, err := ParseLevel(s)
		if err == nil && (lvl < slog.LevelDebug || lvl > slog.LevelError) {
			t.Errorf("ParseLevel(%q) = %v", s, lvl)
		}
	})
}

func TestIsSecretKeyAllocatesNothing(t *testing.T) {
	keys := []string{"sip_password", "Web-Password", "provisioning.token", "mac", "file", "API_KEY", "tokenCount"}
	want := []bool{true, true, true, false, false, true, false}
	for i, k := range keys {
		if got := IsSecretKey(k); got != want[i] {
			t.Errorf("IsSecretKey(%q) = %v, want %v", k, got, want[i])
		}
	}
	if n := testing.AllocsPerRun(100, func() { IsSecretKey("Provisioning-Token") }); n != 0 {
		t.Errorf("IsSecretKey allocates %v times per call", n)
	}
}
