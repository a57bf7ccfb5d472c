package ctl

import (
	"strings"
	"testing"

	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
)

func TestParseImport(t *testing.T) {
	in := "\ufeffMAC, Time-Zone ,extension,codecs,https,rps,transport,interface\n" +
		"# a comment\n" +
		"00:15:65:aa:bb:cc,Europe/Paris,201,\"g722,pcmu\",yes,no,TLS,pbx\n" +
		"\n" +
		"001565aabbcd,,202,opus|pcma,,,,\n" +
		"001565aabbce,,203,,maybe,,,\n" +
		"\"unterminated,1,2\n"
	rows, failed, err := parseImport(strings.NewReader(in), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(failed) != 2 {
		t.Fatalf("%d rows, %d failed: %+v %+v", len(rows), len(failed), rows, failed)
	}
	r := rows[0]
	s := r.Settings
	if r.MAC != "001565aabbcc" || r.Line != 3 || s.GetTimeZone() != "Europe/Paris" || !s.GetHttps() || s.GetSaveToRps() ||
		s.GetTransport() != provisioningv1.Transport_TRANSPORT_TLS || s.GetSipInterface() != "tenants/acme/sipInterfaces/pbx" ||
		len(s.GetCodecs()) != 2 || s.GetCodecs()[0] != provisioningv1.Codec_CODEC_G722 {
		t.Errorf("row 1: %+v %+v", r, s)
	}
	if c := rows[1].Settings.GetCodecs(); len(c) != 2 || c[0] != provisioningv1.Codec_CODEC_OPUS {
		t.Errorf("row 2 codecs %v", c)
	}
	if failed[0].Line != 6 || !strings.Contains(failed[0].Error, "https") {
		t.Errorf("bad boolean: %+v", failed[0])
	}
	if !strings.Contains(failed[1].Error, "quote") {
		t.Errorf("CSV syntax error: %+v", failed[1])
	}
	for _, bad := range []string{"", "mac,mac\n", "model,name\n", "mac,extension,phone\n"} {
		if _, _, err := parseImport(strings.NewReader(bad), "acme"); err == nil {
			t.Errorf("header %q accepted", bad)
		}
	}
}

// FuzzParseImport: arbitrary files never panic, and every accepted row is
// fully validated.
func FuzzParseImport(f *testing.F) {
	f.Add(importFile)
	f.Add("mac,extension\n001565aabbcc,1\n")
	f.Add("mac,extension,codecs,language,timezone\n0015.65aa.bbcc,1,\"g722,,pcmu\",pt-BR,America/Sao_Paulo\n")
	f.Fuzz(func(t *testing.T, data string) {
		rows, _, err := parseImport(strings.NewReader(data), "t")
		if err != nil {
			return
		}
		for _, r := range rows {
			if len(r.MAC) != 12 || r.Extension == "" || r.Settings == nil {
				t.Fatalf("accepted an invalid row: %+v", r)
			}
		}
	})
}
