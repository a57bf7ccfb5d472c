package render

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"text/template/parse"
	"time"

	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
)

// slowRender is the reference: the same view through text/template.
func (s *Set) slowRender(t testing.TB, vendor, model, mac, name string, v *View) ([]byte, error) {
	t.Helper()
	tm, err := s.templateFor(vendor, model, mac)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = tm.ExecuteTemplate(&buf, name, v)
	return buf.Bytes(), err
}

func (s *Set) fastRender(t testing.TB, vendor, model, mac, name string, v *View) ([]byte, error) {
	t.Helper()
	tm, err := s.templateFor(vendor, model, mac)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = execFast(tm, &buf, name, v)
	return buf.Bytes(), err
}

// Every embedded template of every model, file and scenario (and hostile
// names) runs entirely in the fast executor, byte-identical to text/template.
func TestFastExecutorMatchesTextTemplate(t *testing.T) {
	s := loadDefault(t)
	r := rand.New(rand.NewPCG(1, 2))
	n := 0
	for _, m := range s.Catalog.Models {
		for _, sc := range scenarios {
			p := scenario(sc, m)
			if sc == "multi" {
				for _, l := range p.Lines {
					l.DisplayName, l.Label = randomName(r), randomName(r)
				}
			}
			for _, f := range m.Files {
				name := f.Name(p.Mac)
				v, err := newView(p, m, specFor(m), name, goldenNow)
				if err != nil {
					t.Fatalf("%s %s %s: %v", m.Name(), sc, name, err)
				}
				tmpl := m.Vendor + "/" + f.Template
				want, err := s.slowRender(t, m.Vendor, m.Model, p.Mac, tmpl, v)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.fastRender(t, m.Vendor, m.Model, p.Mac, tmpl, v)
				if err != nil {
					t.Errorf("%s %s %s: fast executor gave up: %v", m.Name(), sc, name, err)
					continue
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s %s %s: fast executor differs\n--- fast\n%s\n--- text/template\n%s", m.Name(), sc, name, got, want)
				}
				n++
			}
		}
	}
	if n < 400 {
		t.Errorf("only %d renders compared", n)
	}
}

// The fast executor knows every function the templates may call.
func TestFastExecutorKnowsFuncs(t *testing.T) {
	for name := range funcs {
		tm := template.Must(template.New("t").Funcs(funcs).Parse(`{{` + name + `}}`))
		// Called with no arguments every function has the wrong arity: the fast
		// executor must give up (text/template reports the error), not panic.
		if err := execFast(tm, new(bytes.Buffer), "t", nil); !errors.Is(err, errSlow) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

type probe struct {
	S      string
	I      int
	B      bool
	P      *probe
	L      []probe
	Nil    []probe
	Ints   []int
	M      map[string]string
	MI     map[string]int
	Named  named
	I8     int8
	Any    any
	hidden string
}

type named string

func (p probe) Method() string { return "m" }

var probeData = &probe{S: "a&b", I: 3, B: true, P: &probe{S: "inner"}, L: []probe{{S: "x", I: 1}, {S: "y", I: 2}},
	Ints: []int{5, 6}, M: map[string]string{"k": "v<", "c1": "one"}, MI: map[string]int{"k": 7}, Named: "n", I8: 4, Any: "any", hidden: "h"}

// Constructs inside the subset give text/template's exact output; constructs
// outside it (or errors) make the fast executor give up, never differ.
func TestFastExecutorSemantics(t *testing.T) {
	inside := []string{
		`{{xml .S}}|{{n .I}}|{{if .B}}t{{else}}f{{end}}|{{with .P}}{{xml .S}}{{end}}`,
		`{{range .L}}{{xml .S}}{{n .I}},{{else}}none{{end}}`,
		`{{range $i, $e := .L}}{{n $i}}={{xml $e.S}};{{end}}{{range $e := .Ints}}{{n $e}}{{end}}`,
		`{{range .Nil}}{{else}}empty{{end}}`,
		`{{$x := .S}}{{$x = "re"}}{{xml $x}}{{range .Ints}}{{$x = "in"}}{{end}}{{xml $x}}`,
		`{{range $i, $e := .Ints}}{{$i = 9}}{{end}}{{with $y := .P}}{{xml $y.S}}{{end}}`,
		`{{xml .M.k}}|{{xml .M.missing}}|{{xml (index .M "c1")}}|{{xml (index .M "nope")}}|{{n (index .Ints 1)}}|{{n .MI.k}}|{{n .MI.zz}}`,
		`{{if and .B .S}}1{{end}}{{if or .Nil .S}}2{{end}}{{if not .Nil}}3{{end}}{{xml (or "" "d")}}{{xml (and "e" "f")}}`,
		`{{if eq .S "a&b"}}eq{{end}}{{if eq .I 1 2 3}}in{{end}}{{if ne .I 3}}ne{{end}}{{if eq .B true}}bt{{end}}`,
		`{{n (len .S)}}{{n (len .L)}}{{n (len .M)}}{{n (add .I 2)}}{{xml (printf "c%d" (add .I 1))}}{{xml (printf "%s-%d" .S .I)}}{{xml (printf "%05d" .I)}}`,
		`{{xml (printf "%v" .Ints)}}{{xml (printf "x")}}{{xml (printf "%d%%" .I)}}`,
		`{{template "sub" .P}}{{template "sub" .}}{{block "blk" .L}}{{n (len .)}}{{end}}`,
		`{{define "sub"}}[{{xml $.S}}{{$x := 1}}{{n $x}}]{{end}}{{$x := "outer"}}{{template "sub" .P}}{{xml $x}}{{template "sub" $y := .}}{{xml $y.S}}`,
		`{{.S | xml}}{{.I | n}}{{"lit" | cfg}}{{cfg "a\nb"}}{{xml "'"}}`,
		`{{gsActive 1}}{{htekKey 2 "label"}}{{n (polyPoll 60)}}{{ciscoEnable "G722"}}{{with ciscoEnable "PCMU"}}x{{else}}none{{end}}`,
		`{{/* comment */}}{{- xml .S -}} {{if .P.P}}deep{{end}}`,
		`{{if 0}}{{else if 1}}one{{end}}{{if 'a'}}rune{{end}}{{if 0x10}}hex{{end}}`,
		`{{with .Nil}}no{{else with .S}}{{xml .}}{{end}}`,
	}
	outside := []string{
		`{{xml .Named}}`, `{{n .I8}}`, `{{xml .Method}}`, `{{xml .Any}}`, `{{xml .P.P.S}}`, `{{xml .hidden}}`,
		`{{range .M}}{{xml .}}{{end}}`, `{{range 3}}{{n .}}{{end}}`, `{{range .L}}{{break}}{{end}}`,
		`{{xml (html .S)}}`, `{{if lt .I 4}}{{end}}`, `{{xml .S.X}}`, `{{n (index .Ints 5)}}`, `{{if 1.5}}{{end}}`,
		`{{xml (print .S)}}`, `{{template "nope" .}}`, `{{xml .NoSuchField}}`, `{{if eq .S 1}}{{end}}`, `{{n (add .I)}}`,
		`{{xml (.S)}}`, `{{if eq .I}}{{end}}`, `{{htekKey 0 "active"}}`, `{{xml (printf "%d" nil)}}`,
	}
	run := func(text string) (fast, slow string, ferr, serr error) {
		tm, err := template.New("t").Funcs(funcs).Option("missingkey=zero").Parse(text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if tm.Lookup("sub") == nil {
			template.Must(tm.New("sub").Parse(`<{{xml .S}}>`))
		}
		var fb, sb bytes.Buffer
		ferr = execFast(tm, &fb, "t", probeData)
		serr = tm.ExecuteTemplate(&sb, "t", probeData)
		return fb.String(), sb.String(), ferr, serr
	}
	for _, text := range inside {
		fast, slow, ferr, serr := run(text)
		if serr != nil {
			t.Errorf("%s: text/template: %v", text, serr)
			continue
		}
		if ferr != nil {
			t.Errorf("%s: fast executor gave up: %v", text, ferr)
			continue
		}
		if fast != slow {
			t.Errorf("%s:\nfast %q\nslow %q", text, fast, slow)
		}
	}
	for _, text := range outside {
		fast, slow, ferr, serr := run(text)
		if ferr == nil && (serr != nil || fast != slow) {
			t.Errorf("%s: fast executor answered %q where text/template gave %q, %v", text, fast, slow, serr)
		}
		if ferr != nil && !errors.Is(ferr, errSlow) {
			t.Errorf("%s: %v", text, ferr)
		}
	}
}

// An override outside the subset still renders, through text/template.
func TestFallbackToTextTemplate(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "yealink/x.tmpl", `{{define "yealink/mac.extra"}}{{range $k, $v := .Vars}}vars.{{cfg $k}} = {{cfg $v}}
{{end}}{{end}}`)
	s, err := Load(dir, goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := s.Catalog.Model("yealink", "T54W")
	p := scenario("single", m)
	before := SlowRenders()
	r, err := s.Render(p, p.Mac+".cfg", goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	if SlowRenders() == before || !bytes.Contains(r.Content, []byte("vars.code = ")) {
		t.Errorf("fallback not taken (%d) or wrong output:\n%s", SlowRenders()-before, r.Content)
	}
}

// FuzzFastExecutor: for any template text over a fixed view, the fast executor
// either gives up or writes exactly what text/template writes, and it never
// succeeds where text/template fails.
func FuzzFastExecutor(f *testing.F) {
	f.Add(`{{range $i, $l := .Lines}}{{cfg $l.DisplayName}}{{n $i}}{{end}}`)
	f.Add(`{{with .TZ}}{{xml .V.offset}}{{xml (index .V "start.month")}}{{end}}{{if or .Language .NTP}}x{{end}}`)
	f.Add(`{{$a := printf "account.%d" 1}}{{cfg $a}}{{if eq .Vendor "yealink"}}y{{else}}n{{end}}`)
	f.Add(`{{range .Unused}}{{n .}}{{else}}none{{end}}{{template "t" .Prov}}`)
	f.Add(`{{range .Slots}}{{xml .Key}}{{end}}{{n (len .Codecs)}}{{xml (gsActive 3)}}`)
	s, err := Load("", goldenNow)
	if err != nil {
		f.Fatal(err)
	}
	m, _ := s.Catalog.Model("grandstream", "GXP2160")
	p := scenario("multi", m)
	v, err := newView(p, m, specFor(m), p.Mac+".xml", goldenNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		trees, err := parse.Parse("t", text, "", "", funcs, builtinFuncs())
		if err != nil {
			return
		}
		tm := template.New("t").Funcs(funcs).Option("missingkey=zero")
		for name, tr := range trees {
			if _, err := tm.AddParseTree(name, tr); err != nil {
				return
			}
		}
		var fb, sb bytes.Buffer
		ferr := execFast(tm, &fb, "t", v)
		serr := tm.ExecuteTemplate(&sb, "t", v)
		if ferr != nil {
			if !errors.Is(ferr, errSlow) {
				t.Fatalf("fast executor: %v", ferr)
			}
			return
		}
		if serr != nil {
			t.Fatalf("fast executor succeeded (%q) where text/template failed: %v", fb.String(), serr)
		}
		if !bytes.Equal(fb.Bytes(), sb.Bytes()) {
			t.Fatalf("differs:\nfast %q\nslow %q", fb.String(), sb.String())
		}
	})
}

// BenchmarkExecute compares the fast executor with text/template on the same
// view (the Yealink T54W and Poly VVX450 MAC files of the golden "multi" scenario).
func BenchmarkExecute(b *testing.B) {
	s, err := Load("", goldenNow)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ vendor, model, kind string }{{"yealink", "T54W", "mac"}, {"poly", "VVX450", "phone"}} {
		m, _ := s.Catalog.Model(c.vendor, c.model)
		p := scenario("multi", m)
		v, err := newView(p, m, specFor(m), "", goldenNow)
		if err != nil {
			b.Fatal(err)
		}
		tm, _ := s.templateFor(c.vendor, c.model, p.Mac)
		name := c.vendor + "/" + c.kind
		var buf bytes.Buffer
		b.Run(c.vendor+"/fast", func(b *testing.B) {
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for b.Loop() {
				buf.Reset()
				if err := execFast(tm, &buf, name, v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.vendor+"/text-template", func(b *testing.B) {
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for b.Loop() {
				buf.Reset()
				if err := tm.ExecuteTemplate(&buf, name, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// cpuPerOp reports the process's CPU time (user+sys) per iteration: on a
// shared machine wall time per op mostly measures the neighbours.
func cpuPerOp(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() { b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op") }
}

// BenchmarkRender is Set.Render of every vendor's MAC file (golden "single"
// scenario, second representative model): allocations and CPU time per render.
func BenchmarkRender(b *testing.B) {
	s, err := Load("", goldenNow)
	if err != nil {
		b.Fatal(err)
	}
	for _, vendor := range []string{"yealink", "fanvil", "grandstream", "snom", "gigaset", "htek", "poly", "cisco"} {
		m, _ := s.Catalog.Model(vendor, representative[vendor][1])
		p := scenario("single", m)
		f := m.Files[len(m.Files)-1]
		for _, x := range m.Files {
			if x.Secrets {
				f = x
			}
		}
		name := f.Name(p.Mac)
		b.Run(vendor, func(b *testing.B) {
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for b.Loop() {
				if _, err := s.Render(p, name, goldenNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Renders running at once (pooled views, executor states and buffers) give
// exactly what each gives alone.
func TestConcurrentRenders(t *testing.T) {
	s := loadDefault(t)
	type job struct {
		p    *provisioningv1.ProvisioningProfile
		file string
		want []byte
	}
	var jobs []job
	for vendor, models := range representative {
		for _, model := range models {
			m, _ := s.Catalog.Model(vendor, model)
			for _, sc := range scenarios {
				p := scenario(sc, m)
				for _, f := range m.Files {
					r, err := s.Render(p, f.Name(p.Mac), goldenNow)
					if err != nil {
						t.Fatal(err)
					}
					jobs = append(jobs, job{p, f.Name(p.Mac), r.Content})
				}
			}
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 3 * len(jobs) {
				j := jobs[(i*7+g*13)%len(jobs)]
				r, err := s.Render(j.p, j.file, goldenNow)
				if err != nil || !bytes.Equal(r.Content, j.want) {
					t.Errorf("%s: concurrent render differs (%v)", j.file, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
