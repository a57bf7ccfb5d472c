// Package sipmsg builds SIP messages byte for byte and parses the few that a
// simulated phone receives (responses to its SUBSCRIBE, NOTIFY requests).
//
// It is deliberately small: phonesim must reproduce each vendor's SUBSCRIBE
// exactly (header order, missing branch, odd spellings), which a general SIP
// stack would normalise away, and it only needs to read what a PnP responder
// sends back. Everything it parses comes from the network, so every length is
// bounded and malformed input is an error, never a panic.
package sipmsg

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxMessage is the largest datagram Parse accepts.
const MaxMessage = 64 << 10

// maxHeaders bounds how many header lines Parse keeps.
const maxHeaders = 200

// Header is one header line as written on the wire.
type Header struct {
	Name  string
	Value string
}

// Message is a SIP request or response.
type Message struct {
	// Request line (Method != "") or status line (StatusCode != 0).
	Method     string
	RequestURI string
	StatusCode int
	Reason     string
	// Headers in wire order, names as sent.
	Headers []Header
	Body    []byte
}

// IsRequest reports whether m is a request.
func (m *Message) IsRequest() bool { return m.Method != "" }

// compact maps RFC 3261 compact header forms to their full names.
var compact = map[string]string{
	"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
	"c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via",
	"o": "event",
}

func canonical(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if full, ok := compact[n]; ok {
		return full
	}
	return n
}

// Get returns the first value of header name (case-insensitive, compact
// forms accepted), or "".
func (m *Message) Get(name string) string {
	want := canonical(name)
	for _, h := range m.Headers {
		if canonical(h.Name) == want {
			return h.Value
		}
	}
	return ""
}

// Values returns every value of header name, in order.
func (m *Message) Values(name string) []string {
	want := canonical(name)
	var out []string
	for _, h := range m.Headers {
		if canonical(h.Name) == want {
			out = append(out, h.Value)
		}
	}
	return out
}

// Bytes serialises m. Content-Length is written as given in Headers; callers
// that build messages use Builder, which sets it.
func (m *Message) Bytes() []byte {
	var b bytes.Buffer
	if m.IsRequest() {
		fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", m.Method, m.RequestURI)
	} else {
		fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", m.StatusCode, m.Reason)
	}
	for _, h := range m.Headers {
		b.WriteString(h.Name)
		b.WriteString(": ")
		b.WriteString(h.Value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(m.Body)
	return b.Bytes()
}

// Errors returned by Parse.
var (
	ErrTooLarge  = errors.New("sipmsg: message too large")
	ErrMalformed = errors.New("sipmsg: malformed message")
)

// Parse reads one SIP message from a datagram. Header folding (continuation
// lines) is joined; a body shorter than Content-Length is an error, a longer
// one is truncated to it.
func Parse(data []byte) (*Message, error) {
	if len(data) > MaxMessage {
		return nil, ErrTooLarge
	}
	head, body, found := bytes.Cut(data, []byte("\r\n\r\n"))
	if !found {
		// Tolerate bare LF line endings from sloppy peers.
		head, body, found = bytes.Cut(data, []byte("\n\n"))
		if !found {
			head, body = data, nil
		}
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:] // keep-alive CRLFs before the start line
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	m := &Message{}
	start := lines[0]
	if strings.HasPrefix(start, "SIP/2.0 ") {
		rest := start[len("SIP/2.0 "):]
		codeStr, reason, _ := strings.Cut(rest, " ")
		code, err := strconv.Atoi(codeStr)
		if err != nil || code < 100 || code > 699 {
			return nil, fmt.Errorf("%w: status line", ErrMalformed)
		}
		m.StatusCode, m.Reason = code, strings.TrimSpace(reason)
	} else {
		parts := strings.Split(start, " ")
		if len(parts) != 3 || parts[2] != "SIP/2.0" || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("%w: request line", ErrMalformed)
		}
		for _, r := range parts[0] {
			if r < 'A' || r > 'Z' {
				return nil, fmt.Errorf("%w: method", ErrMalformed)
			}
		}
		m.Method, m.RequestURI = parts[0], parts[1]
	}
	for _, line := range lines[1:] {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(m.Headers) == 0 {
				return nil, fmt.Errorf("%w: continuation without header", ErrMalformed)
			}
			m.Headers[len(m.Headers)-1].Value += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("%w: header line", ErrMalformed)
		}
		if len(m.Headers) >= maxHeaders {
			return nil, fmt.Errorf("%w: too many headers", ErrMalformed)
		}
		m.Headers = append(m.Headers, Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}
	if cl := m.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: content-length", ErrMalformed)
		}
		if n > len(body) {
			return nil, fmt.Errorf("%w: body shorter than content-length", ErrMalformed)
		}
		body = body[:n]
	}
	if len(body) > 0 {
		m.Body = append([]byte(nil), body...)
	}
	return m, nil
}

// CSeq splits a CSeq value into number and method.
func CSeq(v string) (int, string, bool) {
	num, method, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return 0, "", false
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, "", false
	}
	return n, strings.TrimSpace(method), true
}

// Param returns the value of parameter name in a header value such as
// `<sip:a@b>;tag=1` or `ua-profile;vendor="x"` (quotes removed), and whether
// it is present. Names compare case-insensitively.
func Param(value, name string) (string, bool) {
	// Skip a <...> URI so its own parameters do not count.
	if i := strings.IndexByte(value, '>'); i >= 0 && strings.IndexByte(value, '<') < i {
		value = value[i+1:]
	} else if i := strings.IndexByte(value, ';'); i >= 0 {
		value = value[i:]
	} else {
		return "", false
	}
	for p := range strings.SplitSeq(value, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.Trim(strings.TrimSpace(v), `"`), true
		}
	}
	return "", false
}

// URI returns the URI inside the angle brackets of a name-addr, or the value
// up to the first ';' for an addr-spec.
func URI(value string) string {
	if i := strings.IndexByte(value, '<'); i >= 0 {
		if j := strings.IndexByte(value[i:], '>'); j > 0 {
			return value[i+1 : i+j]
		}
	}
	v, _, _ := strings.Cut(value, ";")
	return strings.TrimSpace(v)
}

// Response builds a response to req that copies Via, From, To, Call-ID and
// CSeq (RFC 3261 §8.2.6), adding toTag to To when it has none.
func Response(req *Message, code int, reason, toTag string, extra ...Header) *Message {
	resp := &Message{StatusCode: code, Reason: reason}
	for _, v := range req.Values("Via") {
		resp.Headers = append(resp.Headers, Header{"Via", v})
	}
	resp.Headers = append(resp.Headers, Header{"From", req.Get("From")})
	to := req.Get("To")
	if _, has := Param(to, "tag"); !has && toTag != "" {
		to += ";tag=" + toTag
	}
	resp.Headers = append(resp.Headers,
		Header{"To", to},
		Header{"Call-ID", req.Get("Call-ID")},
		Header{"CSeq", req.Get("CSeq")},
	)
	resp.Headers = append(resp.Headers, extra...)
	resp.Headers = append(resp.Headers, Header{"Content-Length", "0"})
	return resp
}
