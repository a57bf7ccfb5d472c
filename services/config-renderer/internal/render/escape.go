package render

import (
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// Output formats. Every value a template prints passes through the escaper of its
// format; lint rejects any template that prints without one.
const (
	fmtCfg = "cfg" // key = value lines (Yealink)
	fmtXML = "xml" // XML text and attribute values
	fmtNum = "n"   // integers, safe in any format
)

// escNum prints an integer: digits and a sign are safe in every format.
func escNum(n int) string { return strconv.Itoa(n) }

// escCfg makes v safe as the value of a "key = value" line: a line break or other
// control character could start a new key, so each becomes a space; invalid UTF-8
// becomes U+FFFD.
func escCfg(s string) string {
	if cleanCfg(s) {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

// escXML escapes v for XML text and double- or single-quoted attribute values.
// Characters XML 1.0 cannot carry become a space (tab, LF and CR are kept as
// character references so they survive attribute normalisation).
func escXML(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		case '\t':
			b.WriteString("&#9;")
		case '\n':
			b.WriteString("&#10;")
		case '\r':
			b.WriteString("&#13;")
		default:
			if r < 0x20 || r == 0x7f || r == 0xFFFE || r == 0xFFFF {
				r = ' '
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cleanCfg reports whether escCfg would return s unchanged: printable ASCII
// (the XML-special characters are plain text in a cfg value).
func cleanCfg(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// clean reports whether s needs no escaping in any format (the common case).
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' {
			return false
		}
	}
	return true
}

// funcs are the templates' functions; exec.go calls the same ones directly.
var funcs = template.FuncMap{
	fmtCfg:        escCfg,
	fmtXML:        escXML,
	fmtNum:        escNum,
	"add":         func(a, b int) int { return a + b },
	"gsActive":    gsActive,
	"htekKey":     htekKey,
	"polyPoll":    polyPoll,
	"gsPoll":      gsPoll,
	"ciscoEnable": ciscoEnable,
}

func gsActive(n int) string { return gsKeyCache.get(n)["active"] }

func htekKey(n int, k string) string { return htekKeyCache.get(n)[k] }

// polyPoll: prov.polling.period must exceed 3600 s [D16].
func polyPoll(sec int) int { return max(sec, 3600) }

// gsPoll: Grandstream P193 (check every N minutes with P194 = 1) takes 60 minutes
// at least ("Number: 60-86400", FP:resources/templates/provision/grandstream/
// gxp16xx/{$mac}.xml, gxp21xx/{$mac}.xml, dp750/{$mac}.xml; "60 - 5256000",
// grp2612/{$mac}.xml); a shorter poll_interval is written as 60.
func gsPoll(min int) int { return max(min, 60) }

// ciscoEnable is the MPP enable flag of a codec (FP:.../cisco/8841/{$mac}.xml); G.711 has none.
func ciscoEnable(name string) string {
	switch name {
	case "G729a":
		return "G729a_Enable"
	case "G722":
		return "G722_Enable"
	case "iLBC":
		return "iLBC_Enable"
	case "OPUS":
		return "OPUS_Enable"
	}
	return ""
}

// lintTree checks that every action that prints ends in the escaper of format
// ("" accepts either), so no value is interpolated raw.
func lintTree(name string, t *parse.Tree, format string) error {
	var err error
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		if err != nil || n == nil {
			return
		}
		switch x := n.(type) {
		case *parse.ListNode:
			if x == nil {
				return
			}
			for _, c := range x.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			if len(x.Pipe.Decl) > 0 {
				return // assignment, prints nothing
			}
			cmds := x.Pipe.Cmds
			last := cmds[len(cmds)-1]
			id, ok := last.Args[0].(*parse.IdentifierNode)
			if !ok || id.Ident != fmtNum && ((id.Ident != fmtCfg && id.Ident != fmtXML) || (format != "" && id.Ident != format)) {
				want := format
				if want == "" {
					want = fmtCfg + " or " + fmtXML
				}
				line, _ := lineOf(t, x)
				err = &lintError{name: name, line: line, msg: "action " + x.String() + " prints without the " + want + " escaper"}
			}
		case *parse.IfNode:
			walk(x.List)
			walk(x.ElseList)
		case *parse.RangeNode:
			walk(x.List)
			walk(x.ElseList)
		case *parse.WithNode:
			walk(x.List)
			walk(x.ElseList)
		}
	}
	walk(t.Root)
	return err
}

func lineOf(t *parse.Tree, n parse.Node) (int, int) {
	loc, _ := t.ErrorContext(n) // "name:line:col"
	parts := strings.Split(loc, ":")
	if len(parts) >= 3 {
		l, _ := strconv.Atoi(parts[len(parts)-2])
		c, _ := strconv.Atoi(parts[len(parts)-1])
		return l, c
	}
	return 0, 0
}

type lintError struct {
	name string
	line int
	msg  string
}

func (e *lintError) Error() string { return e.name + ":" + strconv.Itoa(e.line) + ": " + e.msg }
