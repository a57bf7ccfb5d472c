package hawk

import (
	"net/url"
	"testing"
)

// The test vectors of mozilla/hawk test/readme.js, as quoted in
// rps-apis.md §2.2.
const (
	vecID    = "dh37fgj492je"
	vecKey   = "werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn"
	vecTS    = 1353832234
	vecNonce = "j4h3g2"
	vecExt   = "some-app-ext-data"
)

func TestReadmeVectorGET(t *testing.T) {
	u, _ := url.Parse("http://example.com:8000/resource/1?b=1&a=2")
	a := ArtifactsFor("GET", u, vecTS, vecNonce)
	a.Ext = vecExt
	if got, want := a.MAC([]byte(vecKey)), "6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="; got != want {
		t.Fatalf("mac = %s, want %s\n%q", got, want, a.Normalized())
	}
	h := Header(vecID, []byte(vecKey), a)
	want := `Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", ext="some-app-ext-data", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="`
	if h != want {
		t.Fatalf("header\n got %s\nwant %s", h, want)
	}
}

func TestReadmeVectorPOST(t *testing.T) {
	hash := PayloadHash("text/plain", []byte("Thank you for flying Hawk"))
	if want := "Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY="; hash != want {
		t.Fatalf("hash = %s, want %s", hash, want)
	}
	u, _ := url.Parse("http://example.com:8000/resource/1?b=1&a=2")
	a := ArtifactsFor("POST", u, vecTS, vecNonce)
	a.Ext, a.Hash = vecExt, hash
	if got, want := a.MAC([]byte(vecKey)), "aSe1DERmZuRl3pI36/9BdZmnErTw3sNzOOAUlfeKjVw="; got != want {
		t.Fatalf("mac = %s, want %s", got, want)
	}
}

func TestPayloadHashIgnoresParameters(t *testing.T) {
	if PayloadHash("Text/Plain; charset=utf-8", []byte("x")) != PayloadHash("text/plain", []byte("x")) {
		t.Fatal("content-type parameters must not change the hash")
	}
}

func TestDefaultPorts(t *testing.T) {
	u, _ := url.Parse("https://API.sraps.snom.com/api/v1/tokens/x")
	a := ArtifactsFor("get", u, 1, "n")
	if a.Port != "443" || a.Host != "api.sraps.snom.com" || a.Method != "GET" || a.Resource != "/api/v1/tokens/x" {
		t.Fatalf("%+v", a)
	}
}

func TestServerTime(t *testing.T) {
	key := []byte(vecKey)
	ch := `Hawk ts="1700000000", tsm="` + TimestampMAC(key, 1700000000) + `", error="Stale timestamp"`
	ts, err := ServerTime(ch, key)
	if err != nil || ts != 1700000000 {
		t.Fatalf("ServerTime = %d, %v", ts, err)
	}
	if _, err := ServerTime(ch, []byte("other key")); err == nil {
		t.Fatal("a tsm under another key must not verify")
	}
	if _, err := ServerTime(`Basic realm="x"`, key); err == nil {
		t.Fatal("want error for a non-Hawk challenge")
	}
}

func TestParseHeader(t *testing.T) {
	m, ok := ParseHeader(`Hawk id="a", ts="1", ext="q\"uo\\te", mac="m="`)
	if !ok || m["id"] != "a" || m["ext"] != `q"uo\te` || m["mac"] != "m=" {
		t.Fatalf("%v %v", m, ok)
	}
	for _, bad := range []string{`Hawk id="a`, `Hawk id=a`, `Bearer x`, `Hawk`} {
		if _, ok := ParseHeader(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(`Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", ext="some-app-ext-data", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="`)
	f.Add(`Hawk ts="1", tsm="x", error="Stale timestamp"`)
	f.Fuzz(func(t *testing.T, h string) {
		m, ok := ParseHeader(h)
		if ok && m == nil {
			t.Fatal("ok with nil map")
		}
	})
}

func BenchmarkHeader(b *testing.B) {
	u, _ := url.Parse("https://api.sraps.snom.com/api/v1/companies/c0ffee/endpoints/000413aabbcc")
	body := []byte(`{"mac":"000413aabbcc","autoprovisioning_enabled":true}`)
	b.ReportAllocs()
	for b.Loop() {
		a := ArtifactsFor("PUT", u, vecTS, vecNonce)
		a.Hash = PayloadHash("application/json", body)
		_ = Header(vecID, []byte(vecKey), a)
	}
}
