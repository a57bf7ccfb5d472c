package vocab

import (
	"testing"

	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
)

func TestCodecs(t *testing.T) {
	for _, name := range CodecNames() {
		c, err := ParseCodec(name)
		if err != nil || CodecName(c) != name {
			t.Errorf("round trip %q: %v %v", name, c, err)
		}
	}
	if len(CodecNames()) != len(provisioningv1.Codec_name)-1 {
		t.Errorf("codec names %d, enum values %d", len(CodecNames()), len(provisioningv1.Codec_name)-1)
	}
	got, err := ParseCodecList("PCMU, g.722,opus")
	if err != nil || len(got) != 3 || got[1] != provisioningv1.Codec_CODEC_G722 {
		t.Errorf("ParseCodecList: %v %v", got, err)
	}
	if _, err := ParseCodecList("pcmu,ulaw"); err == nil {
		t.Error("duplicate accepted")
	}
	if _, err := ParseCodec("speex"); err == nil {
		t.Error("unknown accepted")
	}
}

func TestTransportAndLanguages(t *testing.T) {
	for _, s := range []string{"udp", "TCP", "tls"} {
		tr, err := ParseTransport(s)
		if err != nil || TransportName(tr) == "" {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParseTransport("sctp"); err == nil {
		t.Error("sctp accepted")
	}
	if !IsLanguage("pt-BR") || IsLanguage("klingon") || !IsVendor("poly") {
		t.Error("lists")
	}
}

func TestParseLanguage(t *testing.T) {
	for in, want := range map[string]string{
		"de": "de", "DE": "de", "de-DE": "de", "de_at": "de", "en-gb": "en-GB", "EN-US": "en-US", "en-AU": "en",
		"pt_br": "pt-BR", "pt-PT": "pt", "es-MX": "es", "es-419": "es-419", "zh-tw": "zh-TW", " fr ": "fr",
	} {
		if got, err := ParseLanguage(in); err != nil || got != want {
			t.Errorf("ParseLanguage(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "klingon", "zh", "xx-DE", "-DE"} {
		if got, err := ParseLanguage(in); err == nil {
			t.Errorf("ParseLanguage(%q) = %q, want an error", in, got)
		}
	}
}

// FuzzParseLanguage: whatever it accepts is on the list, and parsing the
// result again gives the result.
func FuzzParseLanguage(f *testing.F) {
	for _, s := range []string{"de", "de-DE", "PT_br", "zh", "-", "en-GB-oxendict"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLanguage(s)
		if err != nil {
			return
		}
		if !IsLanguage(l) {
			t.Fatalf("ParseLanguage(%q) = %q, not on the list", s, l)
		}
		if again, err := ParseLanguage(l); err != nil || again != l {
			t.Fatalf("ParseLanguage(%q) = %q, %v", l, again, err)
		}
	})
}
