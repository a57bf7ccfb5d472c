package yealink

import (
	"net/url"
	"testing"
)

// The two verified vectors quoted in rps-apis.md §1.2.
const (
	vecKey    = "2df23f2d9c255e7138dc603b3847b58a"
	vecSecret = "d4a4be460a8d43609d8e8a5e7d0d4ad1"
)

func TestSigningVectorPOST(t *testing.T) {
	body := []byte(`{"key":"TestServer","skip":0}`)
	if got, want := ContentMD5(body), "SsPhq3/DEuS3yHj3kYOV9w=="; got != want {
		t.Fatalf("Content-MD5 = %s, want %s", got, want)
	}
	sts := StringToSign("POST", "/api/open/v1/server/list", nil, body, vecKey, "1544008291631", "b681e77450a04d22aaffc914a3379561")
	if got, want := Signature(vecSecret, sts), "JVPj8C4CVKbFJW6A33yZcdSsde7Hfxy9EoJiE0epeKM="; got != want {
		t.Fatalf("signature = %s, want %s\nstring to sign:\n%s", got, want, sts)
	}
}

func TestSigningVectorGET(t *testing.T) {
	q := url.Values{"mac": {"001565123123"}}
	sts := StringToSign("GET", "/api/open/v1/device/checkMac", q, nil, vecKey, "1544094691000", "9e730a223b48433785494801fb016d39")
	if got, want := Signature(vecSecret, sts), "+speRmYv89rutzPc9u5Ij1JrtnrUw7nhJnqQfD1h5AU="; got != want {
		t.Fatalf("signature = %s, want %s\nstring to sign:\n%s", got, want, sts)
	}
}

func TestServerName(t *testing.T) {
	n := ServerName("https://pbx.example.com/p/x/")
	if len(n) != 20 {
		t.Fatalf("len %d", len(n))
	}
	if n == ServerName("https://pbx.example.com/p/y/") {
		t.Fatal("distinct URLs must give distinct names")
	}
}

func BenchmarkSign(b *testing.B) {
	body := []byte(`{"macs":["001565aabbcc"],"serverId":"7","uniqueServerUrl":"https://pbx.example.com/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/"}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = Signature(vecSecret, StringToSign("POST", "/api/open/v1/device/add", nil, body, vecKey, "1544008291631", "b681e77450a04d22aaffc914a3379561"))
	}
}
