package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"

	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	renderer "github.com/dialtone-voip/dialtone/services/config-renderer"
)

// localResolver hands inventory's ResolveModel to the in-process renderer (as the suite does).
type localResolver struct{ r *renderer.Service }

func (l localResolver) ResolveModel(ctx context.Context, in *rendererv1.ResolveModelRequest, _ ...grpc.CallOption) (*rendererv1.ResolveModelResponse, error) {
	return l.r.ResolveModel(ctx, in)
}

func TestModelIdentificationCLI(t *testing.T) {
	s := startServer(t)
	s.run(t, "interfaces", "add", "pbx", "--host", "pbx.example.com").ok(t)
	for _, n := range []string{"501", "502", "503", "504"} {
		s.run(t, "extensions", "add", n, "--name", "E"+n, "--password", "pw-"+n).ok(t)
	}
	// A real Cisco MAC and a catalog model: no --vendor needed (the report).
	r := s.run(t, "phones", "add", "--mac", "00:56:2b:00:05:01", "--model", "CP-8851-3PCC", "--extension", "501").ok(t)
	if !strings.Contains(r.out, "cisco CP-8851-3PCC") || r.errOut != "" {
		t.Errorf("cisco add: %q %q", r.out, r.errOut)
	}
	// Wrong case is normalised.
	r = s.run(t, "phones", "add", "--mac", "001565000502", "--model", "t54w", "--extension", "502").ok(t)
	if !strings.Contains(r.out, "yealink T54W") {
		t.Errorf("t54w: %q", r.out)
	}
	// Not in the catalog, of the T5x pattern: added, with a one-line warning naming the family.
	r = s.run(t, "phones", "add", "--mac", "001565000503", "--model", "T59Z", "--extension", "503").ok(t)
	if !strings.Contains(r.errOut, "warning:") || !strings.Contains(r.errOut, "T5x family") || strings.Count(r.errOut, "\n") != 1 {
		t.Errorf("T59Z warning: %q", r.errOut)
	}
	r = s.run(t, "phones", "show", "001565000503").ok(t)
	if !strings.Contains(r.out, "family_fallback") || !strings.Contains(r.out, "T5x") {
		t.Errorf("show:\n%s", r.out)
	}
	r = s.run(t, "phones", "list").ok(t)
	if !strings.Contains(r.out, "MODEL STATUS") || !strings.Contains(r.out, "family_fallback") || !strings.Contains(r.out, "catalog") {
		t.Errorf("list:\n%s", r.out)
	}
	// A Yealink model on a Fanvil MAC: accepted, with a warning.
	r = s.run(t, "phones", "add", "--mac", "0c383e000504", "--model", "T54W", "--extension", "504").ok(t)
	if !strings.Contains(r.errOut, "OEM") {
		t.Errorf("T54W on a Fanvil MAC: %q", r.errOut)
	}
	// Neither in the catalog nor of a family's pattern: refused, naming field and fix.
	s.run(t, "phones", "add", "--mac", "001565000505", "--model", "Q1", "--extension", "501").fails(t, 1, "phone.model", "models list --vendor yealink")
	// A Gigaset C-series base is configured through its web UI (Wazo's
	// wazo_gigaset/common_c): refused with that reason, not as a misspelling.
	r = s.run(t, "phones", "add", "--mac", "7c2f80000505", "--model", "C610", "--extension", "501")
	r.fails(t, 1, "phone.model", "not provisionable by Dialtone", "web UI", "wazo_gigaset/common_c/common.py")
	if strings.Contains(r.errOut, "spelling") {
		t.Errorf("C610 refused as a misspelling: %q", r.errOut)
	}

	r = s.run(t, "models", "list", "--vendor", "yealink").ok(t)
	for _, want := range []string{"FAMILY", "FILES", "CODECS", "LANGUAGES", "TRANSPORTS", "HANDSETS", "T54W", "y000000000096.cfg", "udp,tcp,tls"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("models list lacks %q:\n%s", want, r.out)
		}
	}
	r = s.run(t, "models", "list", "-o", "json").ok(t)
	var models []map[string]any
	if err := json.Unmarshal([]byte(r.out), &models); err != nil || len(models) < 300 {
		t.Errorf("models list -o json: %d models, %v (the catalog promises at least 300)", len(models), err)
	}
	// The families added last are listed with their own files and limits.
	want := map[string]string{"gigaset/N510": "N510 DECT", "gigaset/N720": "N720 DECT multicell", "snom/PA1": "snom-classic", "snom/MP": "snom-classic"}
	for _, m := range models {
		key := fmt.Sprint(m["vendor"], "/", m["model"])
		fam, ok := want[key]
		if !ok {
			continue
		}
		delete(want, key)
		if m["family"] != fam {
			t.Errorf("%s: family %v, want %s", key, m["family"], fam)
		}
		if m["vendor"] == "gigaset" && (fmt.Sprint(m["transports"]) != "[udp]" || fmt.Sprint(m["file_patterns"]) != "[{MAC}.xml]") {
			t.Errorf("%s: transports %v files %v, want [udp] [{MAC}.xml]", key, m["transports"], m["file_patterns"])
		}
	}
	if len(want) > 0 {
		t.Errorf("models list -o json lacks %v", want)
	}
	// The 7940/7960 and the 79x1/797x SEP<MAC>.cnf.xml phones fetch by TFTP
	// through the pnp-listener's TFTP front: catalog models (cisco-7940,
	// cisco-79x1); "7961" without the G falls back to the 79x1 family.
	r = s.run(t, "phones", "add", "--mac", "00562b000506", "--model", "7960", "--extension", "501").ok(t)
	if !strings.Contains(r.out, "cisco 7960") || r.errOut != "" {
		t.Errorf("7960 add: %q %q", r.out, r.errOut)
	}
	r = s.run(t, "phones", "add", "--mac", "00562b000507", "--model", "7961G", "--extension", "502").ok(t)
	if !strings.Contains(r.out, "cisco 7961G") || r.errOut != "" {
		t.Errorf("7961G add: %q %q", r.out, r.errOut)
	}
	r = s.run(t, "phones", "add", "--mac", "00562b000508", "--model", "7961", "--extension", "503").ok(t)
	if !strings.Contains(r.errOut, "cisco-79x1 family") {
		t.Errorf("7961 add: %q %q", r.out, r.errOut)
	}
	// The 7905G's SIP firmware reads a binary cfgfmt profile no reference
	// documents: refused with that reason.
	s.run(t, "phones", "add", "--mac", "00562b000509", "--model", "7905G", "--extension", "504").
		fails(t, 1, "phone.model", "not provisionable by Dialtone", "cfgfmt")
}

func TestImportDryRunChecksModels(t *testing.T) {
	s := startServer(t)
	s.run(t, "interfaces", "add", "pbx", "--host", "pbx.example.com").ok(t)
	file := writeCSV(t, "mac,model,extension,name,password\n"+
		"001565000601,t54w,601,A,pw-601\n"+
		"001565000602,T59Z,602,B,pw-602\n"+
		"001565000603,Q1,603,C,pw-603\n"+
		"020000000604,Q1,604,D,pw-604\n"+
		"7c2f80000605,C610 IP,605,E,pw-605\n")
	r := s.run(t, "phones", "import", file, "--dry-run")
	r.fails(t, 1, "3 of 5 row(s) failed")
	for _, want := range []string{"T5x family", "phone.model", "phone.vendor", "not provisionable by Dialtone"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, r.out)
		}
	}
}
