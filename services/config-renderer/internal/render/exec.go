package render

// A fast executor for the parse trees of a composed template set.
//
// text/template calls every function (the escapers above all) through
// reflect.Value.Call and looks every field up by name; that was about three
// quarters of a render's CPU time. execFast walks the same parse trees with the
// same semantics for the subset of the language the templates use: text,
// actions, pipelines, variables, if/with/range (over slices)/else, template and
// block, field chains over structs, pointers and string-keyed maps (missing
// keys give the zero value, as the sets' missingkey=zero does), and direct
// calls of this package's functions (cfg, xml, n, add, gsActive, htekKey,
// polyPoll, ciscoEnable) and of the builtins and, or, not, eq, ne, len, index
// and printf.
//
// Anything else — another builtin, a method, an interface value, a nil
// pointer, a type text/template would reject, break/continue, a panic —
// makes execFast give up with errSlow, and the caller renders again with
// text/template, which stays the reference (and reports errors with file and
// line). Escaping is unchanged: the lint still forces every print through an
// escaper, and execFast prints only the strings escapers return.
// exec_test.go checks byte equality with text/template for every model, file
// and scenario, and for hostile values.

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"text/template/parse"
)

// errSlow means "render this with text/template instead".
var errSlow = errors.New("render: outside the fast executor's subset")

// maxFastDepth bounds {{template}} nesting (text/template allows 100000 and
// then errors; a set that deep falls back to it).
const maxFastDepth = 1000

type vkind uint8

const (
	vInvalid vkind = iota // no value (nil data, a field of nothing)
	vString               // exactly type string
	vInt                  // exactly type int
	vBool                 // exactly type bool
	vReflect              // anything else, kept as a reflect.Value
)

// val is a template value. Scalars of the exact types string, int and bool are
// unboxed, so reading a field or a map entry does not allocate.
type val struct {
	k  vkind
	i  int // vInt; vBool (0/1)
	s  string
	rv reflect.Value
}

var (
	stringType = reflect.TypeFor[string]()
	intType    = reflect.TypeFor[int]()
	boolType   = reflect.TypeFor[bool]()
	strMapType = reflect.TypeFor[map[string]string]()
)

func fromRV(rv reflect.Value) val {
	if !rv.IsValid() {
		return val{}
	}
	switch t := rv.Type(); {
	case t == stringType:
		return val{k: vString, s: rv.String()}
	case t == intType:
		return val{k: vInt, i: int(rv.Int())}
	case t == boolType:
		if rv.Bool() {
			return val{k: vBool, i: 1}
		}
		return val{k: vBool}
	case rv.Kind() == reflect.Interface:
		slow() // text/template unwraps interfaces in places; not worth mirroring
	}
	return val{k: vReflect, rv: rv}
}

// slowPanic carries errSlow through the walk; execFast recovers it.
type slowPanic struct{}

func slow() { panic(slowPanic{}) }

type fastVar struct {
	name string
	v    val
}

type fastState struct {
	set   *template.Template
	w     *bytes.Buffer
	vars  []fastVar
	base  int // index of this template invocation's "$"
	depth int
}

var statePool = sync.Pool{New: func() any { return &fastState{vars: make([]fastVar, 0, 32)} }}

// execFast executes template name of set with data into w. On errSlow (or any
// other error) w holds a partial output the caller must discard.
func execFast(set *template.Template, w *bytes.Buffer, name string, data any) (err error) {
	t := set.Lookup(name)
	if t == nil || t.Tree == nil || t.Root == nil {
		return errSlow
	}
	s := statePool.Get().(*fastState)
	s.set, s.w, s.base, s.depth = set, w, 0, 0
	defer func() {
		if r := recover(); r != nil {
			err = errSlow // text/template decides: output, or an error with file and line
		}
		clear(s.vars[:cap(s.vars)])
		s.vars, s.set, s.w = s.vars[:0], nil, nil
		statePool.Put(s)
	}()
	dot := fromRV(reflect.ValueOf(data))
	s.vars = append(s.vars, fastVar{"$", dot})
	s.walkList(dot, t.Root)
	return nil
}

func (s *fastState) walkList(dot val, l *parse.ListNode) {
	for _, n := range l.Nodes {
		s.walk(dot, n)
	}
}

func (s *fastState) walk(dot val, node parse.Node) {
	switch n := node.(type) {
	case *parse.TextNode:
		s.w.Write(n.Text)
	case *parse.ActionNode:
		if s.printEscaped(dot, n.Pipe) {
			return
		}
		v := s.pipeline(dot, n.Pipe)
		if len(n.Pipe.Decl) == 0 {
			if v.k != vString {
				slow() // the lint makes every print an escaper's string
			}
			s.w.WriteString(v.s)
		}
	case *parse.IfNode:
		s.ifOrWith(false, dot, n.Pipe, n.List, n.ElseList)
	case *parse.WithNode:
		s.ifOrWith(true, dot, n.Pipe, n.List, n.ElseList)
	case *parse.RangeNode:
		s.rangeNode(dot, n)
	case *parse.TemplateNode:
		s.template(dot, n)
	case *parse.ListNode:
		s.walkList(dot, n)
	case *parse.CommentNode:
	default: // break, continue, anything newer
		slow()
	}
}

// printEscaped handles the commonest action, {{cfg X}}, {{xml X}} or {{n X}}
// with one operand, writing straight into the output; false for any other.
func (s *fastState) printEscaped(dot val, p *parse.PipeNode) bool {
	if len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 2 {
		return false
	}
	id, ok := p.Cmds[0].Args[0].(*parse.IdentifierNode)
	if !ok {
		return false
	}
	switch id.Ident {
	case fmtCfg:
		s.w.WriteString(escCfg(str(s.arg(dot, p.Cmds[0].Args[1]))))
	case fmtXML:
		s.w.WriteString(escXML(str(s.arg(dot, p.Cmds[0].Args[1]))))
	case fmtNum:
		var b [24]byte
		s.w.Write(strconv.AppendInt(b[:0], int64(integer(s.arg(dot, p.Cmds[0].Args[1]))), 10))
	default:
		return false
	}
	return true
}

func (s *fastState) ifOrWith(with bool, dot val, pipe *parse.PipeNode, list, elseList *parse.ListNode) {
	mark := len(s.vars)
	v := s.pipeline(dot, pipe)
	if truth(v) {
		if with {
			s.walkList(v, list)
		} else {
			s.walkList(dot, list)
		}
	} else if elseList != nil {
		s.walkList(dot, elseList)
	}
	s.vars = s.vars[:mark]
}

func (s *fastState) rangeNode(dot val, r *parse.RangeNode) {
	mark := len(s.vars)
	v := s.pipeline(dot, r.Pipe)
	iter := len(s.vars) // the range's own variables sit below this
	n := 0
	switch v.k {
	case vInvalid: // like an empty map
	case vReflect:
		rv := v.rv
		if k := rv.Kind(); k != reflect.Slice && k != reflect.Array {
			slow() // maps (sorted keys), pointers, ints, channels, iterators
		}
		n = rv.Len()
		decl := r.Pipe.Decl
		for i := 0; i < n; i++ {
			elem := fromRV(rv.Index(i))
			switch {
			case len(decl) == 0:
			case r.Pipe.IsAssign:
				if len(decl) > 1 {
					s.setVar(decl[0].Ident[0], val{k: vInt, i: i})
					s.setVar(decl[1].Ident[0], elem)
				} else {
					s.setVar(decl[0].Ident[0], elem)
				}
			default:
				s.vars[iter-1].v = elem
				if len(decl) > 1 {
					s.vars[iter-2].v = val{k: vInt, i: i}
				}
			}
			s.walkList(elem, r.List)
			clear(s.vars[iter:])
			s.vars = s.vars[:iter]
		}
	default:
		slow() // ranging over an int or a string
	}
	if n == 0 && r.ElseList != nil {
		s.walkList(dot, r.ElseList)
	}
	s.vars = s.vars[:mark]
}

func (s *fastState) template(dot val, t *parse.TemplateNode) {
	tmpl := s.set.Lookup(t.Name)
	if tmpl == nil || tmpl.Tree == nil || tmpl.Root == nil || s.depth >= maxFastDepth {
		slow()
	}
	dot = s.pipeline(dot, t.Pipe) // variables it declares persist in the caller
	mark, base := len(s.vars), s.base
	s.vars = append(s.vars, fastVar{"$", dot}) // no dynamic scoping
	s.base = mark
	s.depth++
	s.walkList(dot, tmpl.Root)
	s.depth--
	s.base = base
	clear(s.vars[mark:])
	s.vars = s.vars[:mark]
}

func (s *fastState) pipeline(dot val, p *parse.PipeNode) val {
	if p == nil {
		return val{}
	}
	var v val
	for i, cmd := range p.Cmds {
		v = s.command(dot, cmd, v, i > 0)
	}
	for _, d := range p.Decl {
		if p.IsAssign {
			s.setVar(d.Ident[0], v)
		} else {
			s.vars = append(s.vars, fastVar{d.Ident[0], v})
		}
	}
	return v
}

func (s *fastState) varValue(name string) val {
	for i := len(s.vars) - 1; i >= s.base; i-- {
		if s.vars[i].name == name {
			return s.vars[i].v
		}
	}
	slow()
	return val{}
}

func (s *fastState) setVar(name string, v val) {
	for i := len(s.vars) - 1; i >= s.base; i-- {
		if s.vars[i].name == name {
			s.vars[i].v = v
			return
		}
	}
	slow()
}

// command evaluates one command; final is the previous command's value when
// hasFinal (it becomes the last argument of a function).
func (s *fastState) command(dot val, cmd *parse.CommandNode, final val, hasFinal bool) val {
	if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok {
		return s.call(dot, id.Ident, cmd.Args[1:], final, hasFinal)
	}
	if len(cmd.Args) > 1 || hasFinal {
		slow() // arguments to a non-function: text/template's error
	}
	return s.arg(dot, cmd.Args[0])
}

// arg evaluates an operand.
func (s *fastState) arg(dot val, n parse.Node) val {
	switch a := n.(type) {
	case *parse.DotNode:
		return dot
	case *parse.FieldNode:
		return s.chain(dot, a.Ident)
	case *parse.VariableNode:
		v := s.varValue(a.Ident[0])
		return s.chain(v, a.Ident[1:])
	case *parse.PipeNode:
		return s.pipeline(dot, a)
	case *parse.IdentifierNode:
		return s.call(dot, a.Ident, nil, val{}, false)
	case *parse.StringNode:
		return val{k: vString, s: a.Text}
	case *parse.BoolNode:
		if a.True {
			return val{k: vBool, i: 1}
		}
		return val{k: vBool}
	case *parse.NumberNode:
		// text/template's idealConstant: a float literal, complex or overflow is not an int.
		if a.IsComplex || (a.IsFloat && strings.ContainsAny(a.Text, ".eEpP") && !isHexOrRune(a.Text)) || !a.IsInt || int64(int(a.Int64)) != a.Int64 {
			slow()
		}
		return val{k: vInt, i: int(a.Int64)}
	}
	slow() // nil, chains such as (x).F
	return val{}
}

func isHexOrRune(t string) bool {
	return (len(t) > 0 && t[0] == '\'') || (len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') && !strings.ContainsAny(t, "pP"))
}

func (s *fastState) chain(v val, idents []string) val {
	for _, name := range idents {
		v = field(v, name)
	}
	return v
}

// structInfo is what text/template's evalField would find in a struct type:
// the index of each exported top-level field, unless a method (of T or *T)
// of the same name would be called instead.
type structInfo struct {
	fields map[string]int
}

// structInfos is a copy-on-write list: a handful of view types, found by a
// pointer comparison, cheaper than a map on every field access.
var (
	structInfos   atomic.Pointer[[]structInfoEntry]
	structInfosMu sync.Mutex
)

type structInfoEntry struct {
	t  reflect.Type
	si *structInfo
}

func infoOf(t reflect.Type) *structInfo {
	if list := structInfos.Load(); list != nil {
		for _, e := range *list {
			if e.t == t {
				return e.si
			}
		}
	}
	si := &structInfo{fields: map[string]int{}}
	pt := reflect.PointerTo(t)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if _, isMethod := pt.MethodByName(f.Name); isMethod {
			continue
		}
		si.fields[f.Name] = i
	}
	structInfosMu.Lock()
	defer structInfosMu.Unlock()
	var list []structInfoEntry
	if old := structInfos.Load(); old != nil {
		list = *old
	}
	if len(list) < 64 { // bounded: beyond that, recompute (only exotic templates get there)
		list = append(list[:len(list):len(list)], structInfoEntry{t, si})
		structInfos.Store(&list)
	}
	return si
}

func field(v val, name string) val {
	switch v.k {
	case vInvalid:
		return val{} // nil data: missingkey=zero gives no value
	case vReflect:
	default:
		slow() // a field of a string, int or bool: text/template's error
	}
	rv := v.rv
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			slow()
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Struct:
		i, ok := infoOf(rv.Type()).fields[name]
		if !ok {
			slow() // a method, an embedded or unexported field, or no such field
		}
		return fromRV(rv.Field(i))
	case reflect.Map:
		t := rv.Type()
		if t == strMapType {
			m := rv.Interface().(map[string]string) // a map is pointer-shaped: no allocation
			return val{k: vString, s: m[name]}      // missingkey=zero: "" when absent
		}
		if t.Key() != stringType || t.NumMethod() > 0 || reflect.PointerTo(t).NumMethod() > 0 {
			slow()
		}
		r := rv.MapIndex(reflect.ValueOf(name))
		if !r.IsValid() {
			r = reflect.Zero(t.Elem())
		}
		return fromRV(r)
	}
	slow()
	return val{}
}

// truth is text/template's isTrue.
func truth(v val) bool {
	switch v.k {
	case vInvalid:
		return false
	case vString:
		return v.s != ""
	case vInt, vBool:
		return v.i != 0
	}
	rv := v.rv
	switch rv.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return rv.Len() > 0
	case reflect.Bool:
		return rv.Bool()
	case reflect.Chan, reflect.Func, reflect.Pointer, reflect.UnsafePointer:
		return !rv.IsNil()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int() != 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint() != 0
	case reflect.Float32, reflect.Float64:
		return rv.Float() != 0
	case reflect.Complex64, reflect.Complex128:
		return rv.Complex() != 0
	case reflect.Struct:
		return true
	}
	slow()
	return false
}

// call evaluates function name with argument nodes args (and final, if any).
func (s *fastState) call(dot val, name string, args []parse.Node, final val, hasFinal bool) val {
	n := len(args)
	if hasFinal {
		n++
	}
	if name == "and" || name == "or" { // short-circuit: evaluate lazily
		if n == 0 {
			slow()
		}
		var v val
		for i := 0; i < n; i++ {
			if i < len(args) {
				v = s.arg(dot, args[i])
			} else {
				v = final
			}
			if v.k == vInvalid {
				slow() // "invalid value; expected reflect.Value"
			}
			if truth(v) == (name == "or") {
				return v
			}
		}
		return v
	}
	// Every other function gets its arguments evaluated first, in order.
	var buf [4]val
	if n > len(buf) {
		slow()
	}
	a := buf[:n]
	for i, x := range args {
		a[i] = s.arg(dot, x)
	}
	if hasFinal {
		a[n-1] = final
	}
	switch name {
	case fmtCfg:
		want(n, 1)
		return val{k: vString, s: escCfg(str(a[0]))}
	case fmtXML:
		want(n, 1)
		return val{k: vString, s: escXML(str(a[0]))}
	case fmtNum:
		want(n, 1)
		return val{k: vString, s: escNum(integer(a[0]))}
	case "not":
		want(n, 1)
		if a[0].k == vInvalid {
			slow()
		}
		return boolVal(!truth(a[0]))
	case "eq", "ne":
		// Compare in order and stop at the first match, as text/template does.
		if n < 2 || (name == "ne" && n != 2) {
			slow() // "missing argument for comparison", or ne's arity
		}
		eq := false
		for i := 1; i < n && !eq; i++ {
			eq = equal(a[0], a[i])
		}
		return boolVal(eq == (name == "eq"))
	case "len":
		want(n, 1)
		v := a[0]
		switch {
		case v.k == vString:
			return val{k: vInt, i: len(v.s)}
		case v.k == vReflect:
			switch v.rv.Kind() {
			case reflect.Array, reflect.Chan, reflect.Map, reflect.Slice, reflect.String:
				return val{k: vInt, i: v.rv.Len()}
			}
		}
		slow()
	case "index":
		want(n, 2)
		item, key := a[0], a[1]
		if item.k != vReflect {
			slow()
		}
		rv := item.rv
		switch {
		case rv.Type() == strMapType && key.k == vString:
			return val{k: vString, s: rv.Interface().(map[string]string)[key.s]}
		case (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array) && key.k == vInt && key.i >= 0 && key.i < rv.Len():
			return fromRV(rv.Index(key.i))
		}
		slow()
	case "printf":
		if n < 1 {
			slow()
		}
		f := str(a[0])
		if n == 2 && a[1].k == vInt {
			// The common "prefix%dsuffix" with one int: what Sprintf would write.
			if pre, post, ok := strings.Cut(f, "%d"); ok && !strings.Contains(pre, "%") && !strings.Contains(post, "%") {
				return val{k: vString, s: pre + strconv.Itoa(a[1].i) + post}
			}
		}
		iargs := make([]any, n-1)
		for i := 1; i < n; i++ {
			iargs[i-1] = iface(a[i])
		}
		return val{k: vString, s: fmt.Sprintf(f, iargs...)}
	case "add":
		want(n, 2)
		return val{k: vInt, i: integer(a[0]) + integer(a[1])}
	case "gsActive":
		want(n, 1)
		return val{k: vString, s: gsActive(integer(a[0]))}
	case "htekKey":
		want(n, 2)
		return val{k: vString, s: htekKey(integer(a[0]), str(a[1]))}
	case "polyPoll":
		want(n, 1)
		return val{k: vInt, i: polyPoll(integer(a[0]))}
	case "ciscoEnable":
		want(n, 1)
		return val{k: vString, s: ciscoEnable(str(a[0]))}
	}
	slow() // html, js, urlquery, call, slice, print, println, lt, le, gt, ge
	return val{}
}

func want(n, m int) {
	if n != m {
		slow()
	}
}

func boolVal(b bool) val {
	if b {
		return val{k: vBool, i: 1}
	}
	return val{k: vBool}
}

// str and integer accept exactly what text/template passes to a string or int
// parameter without complaint (its validateType), and give up otherwise.
func str(v val) string {
	if v.k != vString {
		slow()
	}
	return v.s
}

func integer(v val) int {
	if v.k != vInt {
		slow()
	}
	return v.i
}

// equal is text/template's eq for two strings, ints or bools.
func equal(a, b val) bool {
	if a.k != b.k || (a.k != vString && a.k != vInt && a.k != vBool) {
		slow()
	}
	return a.s == b.s && a.i == b.i
}

func iface(v val) any {
	switch v.k {
	case vString:
		return v.s
	case vInt:
		return v.i
	case vBool:
		return v.i != 0
	case vReflect:
		return v.rv.Interface()
	}
	slow()
	return nil
}
