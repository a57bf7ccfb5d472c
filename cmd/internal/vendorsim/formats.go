package vendorsim

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Limits for everything parsed from the network.
const (
	maxFileBytes = 4 << 20
	maxXMLDepth  = 64
	maxXMLNodes  = 200000
)

// ErrFormat is wrapped by every parse error.
var ErrFormat = errors.New("bad config file")

// kvLine is one key = value line.
type kvLine struct {
	Key, Value string
	Line       int
}

// parseKeyValue reads Yealink-style text: an optional "#!version:…" first
// line, "#" comments, blank lines and "key = value" lines. Lines that are
// not comments and have no "=" are returned with an empty key and the whole
// line as value (Yealink boot files: "include:config …").
func parseKeyValue(b []byte) ([]kvLine, error) {
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrFormat, maxFileBytes)
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrFormat)
	}
	var out []kvLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), maxFileBytes)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			out = append(out, kvLine{Value: t, Line: n})
			continue
		}
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("%w: line %d: empty key", ErrFormat, n)
		}
		out = append(out, kvLine{Key: k, Value: strings.TrimSpace(v), Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return out, nil
}

// node is one XML element.
type node struct {
	Name     string
	Attrs    []xml.Attr
	Text     string
	Children []*node
}

// Attr returns attribute name's value.
func (n *node) Attr(name string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// Child returns the first child element called name.
func (n *node) Child(name string) *node {
	for _, c := range n.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Walk calls fn for n and every descendant, depth first, with the path of
// element names from the root.
func (n *node) Walk(fn func(path []string, n *node)) {
	var walk func(path []string, n *node)
	walk = func(path []string, n *node) {
		path = append(path, n.Name)
		fn(path, n)
		for _, c := range n.Children {
			walk(path, c)
		}
	}
	walk(nil, n)
}

// parseXML reads one document into a tree. It accepts UTF-8 and
// ISO-8859-1 (legacy Gigaset) and refuses DOCTYPEs, deep nesting and huge
// documents.
func parseXML(b []byte) (*node, error) {
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrFormat, maxFileBytes)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii":
			return r, nil
		case "iso-8859-1", "latin1", "latin-1":
			return latin1Reader(r)
		}
		return nil, fmt.Errorf("unsupported charset %q", charset)
	}
	var root *node
	var stack []*node
	count := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFormat, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if count > maxXMLNodes || len(stack) >= maxXMLDepth {
				return nil, fmt.Errorf("%w: document too large or too deep", ErrFormat)
			}
			n := &node{Name: t.Name.Local, Attrs: t.Copy().Attr}
			if len(stack) == 0 {
				if root != nil {
					return nil, fmt.Errorf("%w: more than one root element", ErrFormat)
				}
				root = n
			} else {
				parent := stack[len(stack)-1]
				parent.Children = append(parent.Children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, fmt.Errorf("%w: unbalanced end element", ErrFormat)
			}
			top := stack[len(stack)-1]
			top.Text = strings.TrimSpace(top.Text)
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += string(t)
			} else if strings.TrimSpace(string(t)) != "" {
				return nil, fmt.Errorf("%w: text outside the root element", ErrFormat)
			}
		case xml.Directive:
			return nil, fmt.Errorf("%w: DOCTYPE/directives are not accepted", ErrFormat)
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", ErrFormat)
	}
	if len(stack) != 0 {
		return nil, fmt.Errorf("%w: unclosed element %q", ErrFormat, stack[len(stack)-1].Name)
	}
	return root, nil
}

func latin1Reader(r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	var out strings.Builder
	out.Grow(len(b))
	for _, c := range b {
		out.WriteRune(rune(c))
	}
	return strings.NewReader(out.String()), nil
}
