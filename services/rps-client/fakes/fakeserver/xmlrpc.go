package fakeserver

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Call is a decoded XML-RPC methodCall, as the fakes see it: params are
// strings, bools, ints, or []any for arrays.
type Call struct {
	Method string
	Params []any
}

type xCall struct {
	XMLName xml.Name `xml:"methodCall"`
	Method  string   `xml:"methodName"`
	Params  []xParam `xml:"params>param"`
}

type xParam struct {
	Value xValue `xml:"value"`
}

type xValue struct {
	Inner   string    `xml:",chardata"`
	String  *string   `xml:"string"`
	Int     *string   `xml:"int"`
	I4      *string   `xml:"i4"`
	Boolean *string   `xml:"boolean"`
	Array   *[]xValue `xml:"array>data>value"`
}

func (v xValue) decode() any {
	switch {
	case v.String != nil:
		return *v.String
	case v.Int != nil:
		return strings.TrimSpace(*v.Int)
	case v.I4 != nil:
		return strings.TrimSpace(*v.I4)
	case v.Boolean != nil:
		return strings.TrimSpace(*v.Boolean) == "1"
	case v.Array != nil:
		out := []any{}
		for _, e := range *v.Array {
			out = append(out, e.decode())
		}
		return out
	}
	return v.Inner
}

// ReadCall checks the transport rules every XML-RPC redirect service
// documents (POST, Content-Type text/xml) and decodes the call. On failure
// it has already answered and returns false.
func ReadCall(w http.ResponseWriter, r *http.Request) (Call, bool) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return Call{}, false
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "text/xml") {
		http.Error(w, "Content-Type must be text/xml", http.StatusBadRequest)
		return Call{}, false
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read error", http.StatusBadRequest)
		return Call{}, false
	}
	var c xCall
	if err := xml.Unmarshal(raw, &c); err != nil || c.Method == "" {
		http.Error(w, "malformed XML-RPC call", http.StatusBadRequest)
		return Call{}, false
	}
	out := Call{Method: strings.TrimSpace(c.Method)}
	for _, p := range c.Params {
		out.Params = append(out.Params, p.Value.decode())
	}
	return out, true
}

// Str returns param i as a string ("" when absent or not a string).
func (c Call) Str(i int) string {
	if i >= len(c.Params) {
		return ""
	}
	s, _ := c.Params[i].(string)
	return s
}

// Style is how a vendor spells its [boolean, text] answer.
type Style int

// Answer styles seen in the research's wire examples.
const (
	Untyped Style = iota // <value>OK</value> (Yealink, with newlines)
	Typed                // <value><string>Ok</string></value> (Snom)
	Apache               // untyped, with the Apache extensions namespace (Htek)
)

// WriteResult answers [ok, text] in the given style.
func WriteResult(w http.ResponseWriter, style Style, ok bool, text string) {
	b := "0"
	if ok {
		b = "1"
	}
	var esc strings.Builder
	_ = xml.EscapeText(&esc, []byte(text))
	val := "<value>" + esc.String() + "</value>"
	if style == Typed {
		val = "<value><string>" + esc.String() + "</string></value>"
	}
	root := "<methodResponse>"
	if style == Apache {
		root = `<methodResponse xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions">`
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n%s<params><param><value><array><data>\n <value><boolean>%s</boolean></value>%s\n</data></array></value></param></params></methodResponse>\n", root, b, val)
}

// WriteArray answers [true, [items...]] (listDevices-style).
func WriteArray(w http.ResponseWriter, items []string) {
	var b strings.Builder
	for _, it := range items {
		b.WriteString("<value><string>")
		_ = xml.EscapeText(&b, []byte(it))
		b.WriteString("</string></value>")
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, "<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data><value><boolean>1</boolean></value><value><array><data>%s</data></array></value></data></array></value></param></params></methodResponse>", b.String())
}

// WriteFault answers an XML-RPC fault.
func WriteFault(w http.ResponseWriter, code int, msg string) {
	var esc strings.Builder
	_ = xml.EscapeText(&esc, []byte(msg))
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, "<?xml version=\"1.0\"?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>%d</int></value></member><member><name>faultString</name><value><string>%s</string></value></member></struct></value></fault></methodResponse>", code, esc.String())
}

// Unauthorized answers 401 with a Basic challenge.
func Unauthorized(w http.ResponseWriter, realm string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
	http.Error(w, "Unauthorized", http.StatusUnauthorized)
}
