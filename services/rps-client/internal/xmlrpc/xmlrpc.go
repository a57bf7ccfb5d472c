// Package xmlrpc encodes and decodes the small XML-RPC dialect spoken by the
// phone vendors' legacy redirect services (Yealink, Htek, Snom, Gigaset,
// Fanvil): method calls with positional parameters, and responses that are a
// single value or a fault.
//
// Values map to Go as: <string> and untyped text → string, <int>/<i4>/<i8> →
// int64, <boolean> → bool, <double> → float64, <base64> → []byte,
// <dateTime.iso8601> → DateTime, <array> → []any, <struct> → map[string]any,
// <nil/> → nil. The decoder accepts CDATA, namespaced extension elements
// (Apache's ex:nil, ex:i8) and any surrounding whitespace, and rejects
// documents nested deeper than MaxDepth.
package xmlrpc

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// MaxDepth bounds the nesting of arrays and structs the decoder accepts, so a
// hostile response cannot exhaust the stack.
const MaxDepth = 32

// DateTime is an XML-RPC dateTime.iso8601 value, kept as the text the peer
// sent (vendors disagree on its exact layout).
type DateTime string

// Fault is an XML-RPC fault response. It is returned as the error of
// DecodeResponse.
type Fault struct {
	Code    int64
	Message string
}

func (f *Fault) Error() string { return fmt.Sprintf("xmlrpc fault %d: %s", f.Code, f.Message) }

// ErrMalformed wraps every decoding failure.
var ErrMalformed = errors.New("xmlrpc: malformed document")

// EncodeCall returns the XML document for a call of method with params.
func EncodeCall(method string, params ...any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<methodCall><methodName>")
	if err := xml.EscapeText(&b, []byte(method)); err != nil {
		return nil, err
	}
	b.WriteString("</methodName><params>")
	for i, p := range params {
		b.WriteString("<param>")
		if err := encodeValue(&b, p, 0); err != nil {
			return nil, fmt.Errorf("xmlrpc: param %d: %w", i, err)
		}
		b.WriteString("</param>")
	}
	b.WriteString("</params></methodCall>\n")
	return b.Bytes(), nil
}

// EncodeResponse returns a methodResponse carrying v.
func EncodeResponse(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<methodResponse><params><param>")
	if err := encodeValue(&b, v, 0); err != nil {
		return nil, err
	}
	b.WriteString("</param></params></methodResponse>\n")
	return b.Bytes(), nil
}

// EncodeFault returns a methodResponse carrying a fault.
func EncodeFault(code int64, message string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<methodResponse><fault>")
	_ = encodeValue(&b, map[string]any{"faultCode": code, "faultString": message}, 0)
	b.WriteString("</fault></methodResponse>\n")
	return b.Bytes()
}

func encodeValue(b *bytes.Buffer, v any, depth int) error {
	if depth > MaxDepth {
		return errors.New("value nested too deeply")
	}
	b.WriteString("<value>")
	switch x := v.(type) {
	case nil:
		b.WriteString("<nil/>")
	case string:
		b.WriteString("<string>")
		if err := escape(b, x); err != nil {
			return err
		}
		b.WriteString("</string>")
	case bool:
		if x {
			b.WriteString("<boolean>1</boolean>")
		} else {
			b.WriteString("<boolean>0</boolean>")
		}
	case int:
		fmt.Fprintf(b, "<int>%d</int>", x)
	case int32:
		fmt.Fprintf(b, "<int>%d</int>", x)
	case int64:
		if x < math.MinInt32 || x > math.MaxInt32 {
			fmt.Fprintf(b, "<i8>%d</i8>", x)
		} else {
			fmt.Fprintf(b, "<int>%d</int>", x)
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return errors.New("double must be finite")
		}
		b.WriteString("<double>" + strconv.FormatFloat(x, 'f', -1, 64) + "</double>")
	case []byte:
		b.WriteString("<base64>" + base64.StdEncoding.EncodeToString(x) + "</base64>")
	case DateTime:
		b.WriteString("<dateTime.iso8601>")
		if err := escape(b, string(x)); err != nil {
			return err
		}
		b.WriteString("</dateTime.iso8601>")
	case []string:
		b.WriteString("<array><data>")
		for _, e := range x {
			if err := encodeValue(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteString("</data></array>")
	case []any:
		b.WriteString("<array><data>")
		for _, e := range x {
			if err := encodeValue(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteString("</data></array>")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("<struct>")
		for _, k := range keys {
			b.WriteString("<member><name>")
			if err := escape(b, k); err != nil {
				return err
			}
			b.WriteString("</name>")
			if err := encodeValue(b, x[k], depth+1); err != nil {
				return err
			}
			b.WriteString("</member>")
		}
		b.WriteString("</struct>")
	default:
		return fmt.Errorf("unsupported type %T", v)
	}
	b.WriteString("</value>")
	return nil
}

// escape writes s as XML character data. Characters XML 1.0 cannot carry at
// all are refused rather than silently altered.
func escape(b *bytes.Buffer, s string) error {
	for _, r := range s {
		if !isXMLChar(r) {
			return fmt.Errorf("string holds a character XML cannot carry (U+%04X)", r)
		}
	}
	return xml.EscapeText(b, []byte(s))
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// DecodeCall parses a methodCall document (used by the test fakes).
func DecodeCall(doc []byte) (method string, params []any, err error) {
	d := newDecoder(doc)
	if err := d.open("methodCall"); err != nil {
		return "", nil, err
	}
	if err := d.open("methodName"); err != nil {
		return "", nil, err
	}
	method, err = d.text("methodName")
	if err != nil {
		return "", nil, err
	}
	method = strings.TrimSpace(method)
	if method == "" {
		return "", nil, d.fail("empty methodName")
	}
	tok, err := d.next()
	if err != nil {
		return "", nil, err
	}
	switch t := tok.(type) {
	case xml.EndElement: // </methodCall> with no params
		return method, nil, d.end()
	case xml.StartElement:
		if t.Name.Local != "params" {
			return "", nil, d.fail("want <params>, got <%s>", t.Name.Local)
		}
	}
	params, err = d.params()
	if err != nil {
		return "", nil, err
	}
	if err := d.close("methodCall"); err != nil {
		return "", nil, err
	}
	return method, params, d.end()
}

// DecodeResponse parses a methodResponse document. A fault is returned as a
// *Fault error; anything else malformed wraps ErrMalformed.
func DecodeResponse(doc []byte) (any, error) {
	d := newDecoder(doc)
	if err := d.open("methodResponse"); err != nil {
		return nil, err
	}
	tok, err := d.next()
	if err != nil {
		return nil, err
	}
	st, ok := tok.(xml.StartElement)
	if !ok {
		return nil, d.fail("empty methodResponse")
	}
	switch st.Name.Local {
	case "params":
		params, err := d.params()
		if err != nil {
			return nil, err
		}
		if len(params) != 1 {
			return nil, d.fail("response has %d params, want 1", len(params))
		}
		if err := d.close("methodResponse"); err != nil {
			return nil, err
		}
		return params[0], d.end()
	case "fault":
		if err := d.open("value"); err != nil {
			return nil, err
		}
		v, err := d.value(0)
		if err != nil {
			return nil, err
		}
		if err := d.close("fault"); err != nil {
			return nil, err
		}
		if err := d.close("methodResponse"); err != nil {
			return nil, err
		}
		if err := d.end(); err != nil {
			return nil, err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, d.fail("fault is not a struct")
		}
		f := &Fault{}
		switch c := m["faultCode"].(type) {
		case int64:
			f.Code = c
		case string: // some servers send the code untyped
			f.Code, _ = strconv.ParseInt(strings.TrimSpace(c), 10, 64)
		}
		f.Message, _ = m["faultString"].(string)
		return nil, f
	default:
		return nil, d.fail("want <params> or <fault>, got <%s>", st.Name.Local)
	}
}

type decoder struct {
	x *xml.Decoder
}

func newDecoder(doc []byte) *decoder {
	x := xml.NewDecoder(bytes.NewReader(doc))
	x.Strict = true
	// Vendors declare UTF-8 or ISO-8859-1; treat the latter byte-for-byte as
	// Latin-1 rather than refusing it.
	x.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return r, nil
		case "iso-8859-1", "latin1", "latin-1":
			return latin1Reader(r)
		}
		return nil, fmt.Errorf("unsupported charset %q", label)
	}
	return &decoder{x: x}
}

func latin1Reader(r io.Reader) (io.Reader, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, c := range raw {
		b.WriteRune(rune(c))
	}
	return strings.NewReader(b.String()), nil
}

func (d *decoder) fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// next returns the next start or end element, skipping whitespace, comments,
// processing instructions and directives. Non-space text between elements is
// an error.
func (d *decoder) next() (xml.Token, error) {
	for {
		tok, err := d.x.Token()
		if err != nil {
			if err == io.EOF {
				return nil, d.fail("unexpected end of document")
			}
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement, xml.EndElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, d.fail("unexpected text between elements")
			}
		}
	}
}

func (d *decoder) open(name string) error {
	tok, err := d.next()
	if err != nil {
		return err
	}
	st, ok := tok.(xml.StartElement)
	if !ok || st.Name.Local != name {
		return d.fail("want <%s>", name)
	}
	return nil
}

func (d *decoder) close(name string) error {
	tok, err := d.next()
	if err != nil {
		return err
	}
	et, ok := tok.(xml.EndElement)
	if !ok || et.Name.Local != name {
		return d.fail("want </%s>", name)
	}
	return nil
}

// end checks that nothing but whitespace and comments follows the root.
func (d *decoder) end() error {
	for {
		tok, err := d.x.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return d.fail("trailing text after document")
			}
		case xml.Comment, xml.ProcInst:
		default:
			return d.fail("trailing content after document")
		}
	}
}

// text reads character data up to </name>; CDATA sections arrive as
// CharData and are concatenated.
func (d *decoder) text(name string) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.x.Token()
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.EndElement:
			if t.Name.Local != name {
				return "", d.fail("want </%s>", name)
			}
			return b.String(), nil
		case xml.StartElement:
			return "", d.fail("unexpected <%s> inside <%s>", t.Name.Local, name)
		}
	}
}

// params reads <param><value>…</value></param>… up to </params>.
func (d *decoder) params() ([]any, error) {
	var out []any
	for {
		tok, err := d.next()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if t.Name.Local != "params" {
				return nil, d.fail("want </params>")
			}
			return out, nil
		case xml.StartElement:
			if t.Name.Local != "param" {
				return nil, d.fail("want <param>, got <%s>", t.Name.Local)
			}
			if err := d.open("value"); err != nil {
				return nil, err
			}
			v, err := d.value(0)
			if err != nil {
				return nil, err
			}
			if err := d.close("param"); err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
}

// value reads the content of a <value> element (its start already consumed)
// through </value>.
func (d *decoder) value(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, d.fail("values nested deeper than %d", MaxDepth)
	}
	// Untyped text, or whitespace followed by one typed element.
	var text strings.Builder
	var typed xml.StartElement
	found := false
	for !found {
		tok, err := d.x.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			if t.Name.Local != "value" {
				return nil, d.fail("want </value>")
			}
			return text.String(), nil // untyped value: a string
		case xml.StartElement:
			if strings.TrimSpace(text.String()) != "" {
				return nil, d.fail("text mixed with <%s> in <value>", t.Name.Local)
			}
			typed, found = t, true
		}
	}
	v, err := d.typed(typed, depth)
	if err != nil {
		return nil, err
	}
	return v, d.close("value")
}

func (d *decoder) typed(st xml.StartElement, depth int) (any, error) {
	name := st.Name.Local
	switch name {
	case "string":
		return d.text(name)
	case "int", "i4", "i8":
		s, err := d.text(name)
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, d.fail("bad <%s>", name)
		}
		return n, nil
	case "boolean":
		s, err := d.text(name)
		if err != nil {
			return nil, err
		}
		switch strings.TrimSpace(s) {
		case "1", "true":
			return true, nil
		case "0", "false":
			return false, nil
		}
		return nil, d.fail("bad <boolean>")
	case "double":
		s, err := d.text(name)
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, d.fail("bad <double>")
		}
		return f, nil
	case "base64":
		s, err := d.text(name)
		if err != nil {
			return nil, err
		}
		clean := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, s)
		raw, err := base64.StdEncoding.DecodeString(clean)
		if err != nil {
			return nil, d.fail("bad <base64>")
		}
		return raw, nil
	case "dateTime.iso8601":
		s, err := d.text(name)
		if err != nil {
			return nil, err
		}
		return DateTime(strings.TrimSpace(s)), nil
	case "nil":
		if err := d.close(name); err != nil {
			return nil, err
		}
		return nil, nil
	case "array":
		if err := d.open("data"); err != nil {
			return nil, err
		}
		out := []any{}
		for {
			tok, err := d.next()
			if err != nil {
				return nil, err
			}
			if et, ok := tok.(xml.EndElement); ok {
				if et.Name.Local != "data" {
					return nil, d.fail("want </data>")
				}
				break
			}
			if st := tok.(xml.StartElement); st.Name.Local != "value" {
				return nil, d.fail("want <value> in <data>, got <%s>", st.Name.Local)
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, d.close("array")
	case "struct":
		out := map[string]any{}
		for {
			tok, err := d.next()
			if err != nil {
				return nil, err
			}
			if et, ok := tok.(xml.EndElement); ok {
				if et.Name.Local != "struct" {
					return nil, d.fail("want </struct>")
				}
				return out, nil
			}
			if st := tok.(xml.StartElement); st.Name.Local != "member" {
				return nil, d.fail("want <member>, got <%s>", st.Name.Local)
			}
			if err := d.open("name"); err != nil {
				return nil, err
			}
			key, err := d.text("name")
			if err != nil {
				return nil, err
			}
			if err := d.open("value"); err != nil {
				return nil, err
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if err := d.close("member"); err != nil {
				return nil, err
			}
			out[key] = v
		}
	}
	return nil, d.fail("unknown value type <%s>", name)
}

// Result decodes the [boolean, text] pair the redirect services answer with.
// The text may be untyped or a <string>; it is "" when absent.
func Result(v any) (ok bool, text string, err error) {
	arr, isArr := v.([]any)
	if !isArr || len(arr) == 0 {
		// Some servers answer a bare boolean (Panasonic-style).
		if b, isBool := v.(bool); isBool {
			return b, "", nil
		}
		return false, "", fmt.Errorf("%w: want [boolean, text], got %T", ErrMalformed, v)
	}
	switch b := arr[0].(type) {
	case bool:
		ok = b
	case int64: // <int>1</int> seen from PHP servers
		ok = b != 0
	case string:
		switch strings.TrimSpace(strings.ToLower(b)) {
		case "1", "true":
			ok = true
		case "0", "false":
		default:
			return false, "", fmt.Errorf("%w: first element is not a boolean", ErrMalformed)
		}
	default:
		return false, "", fmt.Errorf("%w: first element is %T, want boolean", ErrMalformed, arr[0])
	}
	if len(arr) > 1 {
		switch t := arr[1].(type) {
		case string:
			text = strings.TrimSpace(t)
		case nil:
		default:
			// listDevices and friends return arrays; callers that need them
			// use the raw value.
			text = ""
		}
	}
	return ok, text, nil
}
