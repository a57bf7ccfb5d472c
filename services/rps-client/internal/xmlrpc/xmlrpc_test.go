package xmlrpc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTripCall(t *testing.T) {
	params := []any{
		"001565AABBCC", "a & b <c>", true, false, int64(42), int64(1) << 40, 1.5,
		[]byte{0, 1, 2}, DateTime("20240101T00:00:00"), nil,
		[]any{"x", int64(1)}, map[string]any{"k": "v", "n": []any{}},
	}
	doc, err := EncodeCall("redirect.registerDevice", params...)
	if err != nil {
		t.Fatal(err)
	}
	m, got, err := DecodeCall(doc)
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, doc)
	}
	if m != "redirect.registerDevice" {
		t.Errorf("method %q", m)
	}
	if !reflect.DeepEqual(got, params) {
		t.Errorf("params:\n got %#v\nwant %#v", got, params)
	}
}

func TestEncodeStringsSlice(t *testing.T) {
	doc, err := EncodeCall("redirect.addMaterialServer", []string{"cfgName=X", "cfgPfMode=1"})
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := DecodeCall(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{[]any{"cfgName=X", "cfgPfMode=1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v", got)
	}
}

func TestEncodeRefusesControlCharacters(t *testing.T) {
	if _, err := EncodeCall("m", "a\x00b"); err == nil {
		t.Fatal("want an error for NUL")
	}
}

// The response shapes documented for each vendor (rps-apis.md).
func TestDecodeVendorResponses(t *testing.T) {
	cases := []struct {
		name, doc string
		ok        bool
		text      string
	}{
		{"yealink untyped text with newlines", `<?xml version="1.0" encoding="UTF-8"?>
<methodResponse><params><param><value><array><data>
 <value><boolean>1</boolean></value><value>OK</value>
</data></array></value></param></params></methodResponse>`, true, "OK"},
		{"snom typed string", `<?xml version="1.0"?><methodResponse><params><param><value><array><data>
  <value><boolean>0</boolean></value><value><string>Error:owned_by_other_user</string></value>
  </data></array></value></param></params></methodResponse>`, false, "Error:owned_by_other_user"},
		{"htek namespaced", `<methodResponse xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"><params><param><value>
  <array><data><value><boolean>1</boolean></value><value>OK</value></data></array></value></param></params></methodResponse>`, true, "OK"},
		{"cdata", `<methodResponse><params><param><value><array><data><value><boolean>0</boolean></value><value><string><![CDATA[Error:Invalid MAC(s):00s1122334400]]></string></value></data></array></value></param></params></methodResponse>`, false, "Error:Invalid MAC(s):00s1122334400"},
		{"latin1", `<?xml version="1.0" encoding="ISO-8859-1"?><methodResponse><params><param><value><array><data><value><boolean>1</boolean></value><value>ok</value></data></array></value></param></params></methodResponse>`, true, "ok"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := DecodeResponse([]byte(c.doc))
			if err != nil {
				t.Fatal(err)
			}
			ok, text, err := Result(v)
			if err != nil {
				t.Fatal(err)
			}
			if ok != c.ok || text != c.text {
				t.Errorf("got (%v, %q), want (%v, %q)", ok, text, c.ok, c.text)
			}
		})
	}
}

func TestDecodeFault(t *testing.T) {
	_, err := DecodeResponse(EncodeFault(202, "MAC owned by someone else"))
	var f *Fault
	if !errors.As(err, &f) || f.Code != 202 || f.Message != "MAC owned by someone else" {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	bad := []string{
		"",
		"<html>502 Bad Gateway</html>",
		"<methodResponse><params></params></methodResponse>",
		"<methodResponse><params><param><value><int>x</int></value></param></params></methodResponse>",
		"<methodResponse><params><param><value><bogus/></value></param></params></methodResponse>",
		"<methodResponse><params><param><value>a<string>b</string></value></param></params></methodResponse>",
		"<methodResponse><params><param><value>ok</value></param></params></methodResponse>;",
		"<methodResponse><params><param><value><string>ok</value></param></params></methodResponse>",
		strings.Repeat("<value><array><data>", 40),
	}
	for _, doc := range bad {
		if _, err := DecodeResponse([]byte(doc)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.60q: got %v, want ErrMalformed", doc, err)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	doc := "<methodResponse><params><param><value>" + strings.Repeat("<array><data><value>", MaxDepth+2) +
		"x" + strings.Repeat("</value></data></array>", MaxDepth+2) + "</value></param></params></methodResponse>"
	if _, err := DecodeResponse([]byte(doc)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v", err)
	}
}

func TestResult(t *testing.T) {
	if _, _, err := Result("x"); err == nil {
		t.Error("want error for a bare string")
	}
	ok, _, err := Result(true)
	if err != nil || !ok {
		t.Error("bare boolean")
	}
	ok, text, err := Result([]any{int64(1), []any{"a"}})
	if err != nil || !ok || text != "" {
		t.Errorf("int flag: %v %q %v", ok, text, err)
	}
}

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{
		`<methodResponse><params><param><value><array><data><value><boolean>1</boolean></value><value>OK</value></data></array></value></param></params></methodResponse>`,
		`<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>4</int></value></member><member><name>faultString</name><value><string>x</string></value></member></struct></value></fault></methodResponse>`,
		`<methodResponse><params><param><value><struct><member><name>a</name><value><base64>AAEC</base64></value></member></struct></value></param></params></methodResponse>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		v, err := DecodeResponse(doc)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode and decode to the same value.
		again, err := EncodeResponse(v)
		if err != nil {
			return // e.g. strings with characters XML cannot carry after CDATA decoding
		}
		w, err := DecodeResponse(again)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("round trip changed value:\n%#v\n%#v", v, w)
		}
		_, _, _ = Result(v)
	})
}

func FuzzDecodeCall(f *testing.F) {
	doc, _ := EncodeCall("redirect.registerPhone", "000413AABBCC", "https://pbx.example.com/p/x/")
	f.Add(doc)
	f.Add([]byte(`<methodCall><methodName>autoprov.registerDevice</methodName><params><param><value><string><![CDATA[7C2F80AABBCC]]></string></value></param></params></methodCall>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		m, params, err := DecodeCall(doc)
		if err != nil {
			return
		}
		again, err := EncodeCall(m, params...)
		if err != nil {
			return
		}
		m2, p2, err := DecodeCall(again)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, again)
		}
		if strings.TrimSpace(m) != m2 || !reflect.DeepEqual(params, p2) {
			t.Fatalf("round trip changed call")
		}
	})
}

func BenchmarkDecodeResponse(b *testing.B) {
	doc := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<methodResponse><params><param><value><array><data>
 <value><boolean>1</boolean></value><value>OK</value>
</data></array></value></param></params></methodResponse>`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeResponse(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeCall(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeCall("redirect.registerPhone", "000413AABBCC", "https://pbx.example.com/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/"); err != nil {
			b.Fatal(err)
		}
	}
}
