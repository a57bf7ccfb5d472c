package render

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	"github.com/dialtone-voip/dialtone/proto/vocab"
	"github.com/dialtone-voip/dialtone/services/config-renderer/internal/catalog"
	"google.golang.org/protobuf/types/known/durationpb"
)

//go:embed templates/*.tmpl
var embeddedTemplates embed.FS

// Content types served per format.
const (
	ContentTypeCfg = "text/plain; charset=utf-8"
	ContentTypeXML = "application/xml; charset=utf-8"
	// ContentTypeXMLLatin1: formats whose reference files declare ISO-8859-1
	// (Gigaset <ProviderFrame>); the renderer transcodes what it wrote.
	ContentTypeXMLLatin1 = "application/xml; charset=iso-8859-1"
)

// Set is one loaded, validated template set with its catalog. It is immutable
// (apart from the cache of composed device layers) and safe for concurrent use.
type Set struct {
	Catalog *catalog.Catalog
	Version string

	vendors  map[string]*template.Template
	models   map[string]*template.Template // vendor/model
	devices  map[string]*layer             // canonical MAC
	sources  map[string]string             // template name -> override file that defines it
	composed sync.Map                      // mac/vendor/model -> *template.Template
	Files    []string                      // override files in effect, relative to the directory
}

type layer struct {
	vendor string
	trees  []*parse.Tree
}

// LoadError reports what is wrong with an override directory; each problem names
// its file and, where known, its line.
type LoadError struct{ Problems []string }

func (e *LoadError) Error() string {
	return "template overrides rejected: " + strings.Join(e.Problems, "; ")
}

var (
	defineLineRE = regexp.MustCompile(`^template: ([^:]+):(\d+):`)
	macDirRE     = regexp.MustCompile(`^[0-9a-f]{12}$`)
)

// Load builds a Set from the embedded templates and catalog, layered with the
// overrides in dir ("" for none). Layout of dir:
//
//	catalog.json                   catalog document merged over the embedded one
//	global/*.tmpl                  {{define}}s applied to every vendor
//	<vendor>/*.tmpl                {{define "<vendor>/…"}}s for one vendor
//	<vendor>/models/<model>/*.tmpl {{define "<vendor>/…"}}s for one model
//	devices/<mac>/*.tmpl           {{define "<vendor>/…"}}s for one phone (12 lowercase hex)
//
// Later layers win: global < vendor < model < device. now dates the sample
// renders that validate the set.
func Load(dir string, now time.Time) (*Set, error) {
	h := sha256.New()
	s := &Set{vendors: map[string]*template.Template{}, models: map[string]*template.Template{}, devices: map[string]*layer{}, sources: map[string]string{}}
	var problems []string
	// Catalog.
	h.Write(catalog.Embedded())
	doc := catalog.EmbeddedDocument()
	if dir != "" {
		if data, err := os.ReadFile(filepath.Join(dir, "catalog.json")); err == nil {
			h.Write([]byte("\x00catalog.json\x00"))
			h.Write(data)
			over, err := catalog.Decode(data)
			if err != nil {
				problems = append(problems, "catalog.json: "+err.Error())
			} else {
				s.Files = append(s.Files, "catalog.json")
				doc = catalog.Merge(doc, over)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			problems = append(problems, "catalog.json: "+err.Error())
		}
	}
	cat, err := catalog.Resolve(doc)
	if err != nil {
		problems = append(problems, "catalog.json: "+err.Error())
		cat = catalog.Default()
	}
	s.Catalog = cat
	// Embedded templates.
	base := template.New("").Funcs(funcs).Option("missingkey=zero")
	names, _ := fs.Glob(embeddedTemplates, "templates/*.tmpl")
	sort.Strings(names)
	for _, n := range names {
		data, _ := embeddedTemplates.ReadFile(n)
		h.Write(data)
		if _, err := base.New(n).Parse(string(data)); err != nil {
			return nil, fmt.Errorf("embedded templates: %w", err) // a broken build, not an operator error
		}
	}
	if err := lintSet(base, nil); err != nil {
		return nil, fmt.Errorf("embedded templates: %w", err)
	}
	// Overrides.
	layers := map[string][]*parse.Tree{} // "global", "<vendor>", "<vendor>/<model>", "device/<mac>"
	if dir != "" {
		files, err := overrideFiles(dir)
		if err != nil {
			problems = append(problems, err.Error())
		}
		for _, f := range files {
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.rel)))
			if err != nil {
				problems = append(problems, f.rel+": "+err.Error())
				continue
			}
			h.Write([]byte("\x00" + f.rel + "\x00"))
			h.Write(data)
			s.Files = append(s.Files, f.rel)
			trees, err := parseOverride(f, string(data), s.sources)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			layers[f.layer] = append(layers[f.layer], trees...)
		}
	}
	if len(problems) > 0 {
		return nil, &LoadError{Problems: problems}
	}
	// Compose: base+global, then per vendor, per model.
	global, err := compose(base, layers["global"])
	if err != nil {
		return nil, &LoadError{Problems: []string{err.Error()}}
	}
	for _, v := range cat.Vendors {
		t, err := compose(global, layers[v.Vendor])
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		s.vendors[v.Vendor] = t
	}
	for k, trees := range layers {
		vendor, rest, ok := strings.Cut(k, "/")
		if !ok {
			continue
		}
		if vendor == "device" {
			lv := trees[0].Name
			lv, _, _ = strings.Cut(lv, "/")
			s.devices[rest] = &layer{vendor: lv, trees: trees}
			continue
		}
		if _, ok := cat.Model(vendor, rest); !ok {
			problems = append(problems, fmt.Sprintf("%s/models/%s: no such model in the catalog", vendor, rest))
			continue
		}
		t, err := compose(s.vendors[vendor], trees)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		s.models[k] = t
	}
	if len(problems) > 0 {
		return nil, &LoadError{Problems: problems}
	}
	// Every model must render every file it requests, with and without lines.
	for _, m := range cat.Models {
		if _, ok := s.vendors[m.Vendor]; !ok {
			problems = append(problems, fmt.Sprintf("model %s: vendor has no templates", m.Name()))
			continue
		}
		if err := s.trial(m, ""); err != nil {
			problems = append(problems, err.Error())
		}
	}
	for mac, l := range s.devices {
		for _, m := range cat.Models {
			if m.Vendor == l.vendor {
				if err := s.trial(m, mac); err != nil {
					problems = append(problems, err.Error())
				}
				break
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, &LoadError{Problems: problems}
	}
	s.Version = hex.EncodeToString(h.Sum(nil))[:16]
	return s, nil
}

type overrideFile struct{ rel, layer, vendor string }

// overrideFiles lists the .tmpl files of dir by layer; anything unexpected is an error.
func overrideFiles(dir string) ([]overrideFile, error) {
	var out []overrideFile
	var bad []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() || rel == "catalog.json" || strings.HasPrefix(path.Base(rel), ".") || strings.HasSuffix(rel, ".md") {
			return nil
		}
		parts := strings.Split(rel, "/")
		if !strings.HasSuffix(rel, ".tmpl") {
			bad = append(bad, rel+": not a .tmpl file")
			return nil
		}
		switch {
		case len(parts) == 2 && parts[0] == "global":
			out = append(out, overrideFile{rel, "global", ""})
		case len(parts) == 2 && specs[parts[0]] != nil:
			out = append(out, overrideFile{rel, parts[0], parts[0]})
		case len(parts) == 4 && specs[parts[0]] != nil && parts[1] == "models":
			out = append(out, overrideFile{rel, parts[0] + "/" + parts[2], parts[0]})
		case len(parts) == 3 && parts[0] == "devices" && macDirRE.MatchString(parts[1]):
			out = append(out, overrideFile{rel, "device/" + parts[1], ""})
		default:
			bad = append(bad, rel+": not in global/, <vendor>/, <vendor>/models/<model>/ or devices/<mac>/")
		}
		return nil
	})
	if err != nil {
		bad = append(bad, err.Error())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	if len(bad) > 0 {
		return out, errors.New(strings.Join(bad, "; "))
	}
	return out, nil
}

// parseOverride parses one file: only {{define}} blocks (text outside them must
// be blank), names scoped to the file's vendor, every print escaped.
func parseOverride(f overrideFile, text string, sources map[string]string) ([]*parse.Tree, error) {
	trees, err := parse.Parse(f.rel, text, "", "", funcs, builtinFuncs())
	if err != nil {
		return nil, err // "template: <file>:<line>: …"
	}
	var out []*parse.Tree
	devVendor := ""
	names := make([]string, 0, len(trees))
	for n := range trees {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := trees[n]
		if n == f.rel {
			if strings.TrimSpace(t.Root.String()) != "" {
				return nil, fmt.Errorf("%s: text outside {{define}} blocks", f.rel)
			}
			continue
		}
		vendor, _, _ := strings.Cut(n, "/")
		switch {
		case f.vendor != "" && vendor != f.vendor:
			return nil, fmt.Errorf("%s: defines %q outside its vendor %q", f.rel, n, f.vendor)
		case strings.HasPrefix(f.layer, "device/"):
			if specs[vendor] == nil || (devVendor != "" && vendor != devVendor) {
				return nil, fmt.Errorf("%s: device overrides must define \"<vendor>/…\" templates of one vendor (got %q)", f.rel, n)
			}
			devVendor = vendor
		}
		format := lintFormat(n)
		if err := lintTree(f.rel, t, format); err != nil {
			return nil, err
		}
		if prev, dup := sources[n]; dup && prev != f.rel && path.Dir(prev) == path.Dir(f.rel) {
			return nil, fmt.Errorf("%s: %q is also defined in %s", f.rel, n, prev)
		}
		sources[n] = f.rel
		out = append(out, t)
	}
	return out, nil
}

func builtinFuncs() map[string]any {
	// parse.Parse needs every function name known; the builtins are resolved at execution.
	m := map[string]any{}
	for _, n := range []string{"and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge", "html", "js", "urlquery", "call"} {
		m[n] = fmt.Sprint
	}
	return m
}

func compose(base *template.Template, trees []*parse.Tree) (*template.Template, error) {
	if len(trees) == 0 {
		return base, nil
	}
	t, err := base.Clone()
	if err != nil {
		return nil, err
	}
	for _, tr := range trees {
		if _, err := t.AddParseTree(tr.Name, tr); err != nil {
			return nil, fmt.Errorf("%s: %w", tr.ParseName, err)
		}
	}
	return t, nil
}

func lintSet(t *template.Template, sources map[string]string) error {
	for _, x := range t.Templates() {
		if x.Tree == nil || !strings.Contains(x.Name(), "/") || strings.HasPrefix(x.Name(), "templates/") {
			continue
		}
		format := lintFormat(x.Name())
		if err := lintTree(x.Tree.ParseName, x.Tree, format); err != nil {
			return err
		}
	}
	return nil
}

// templateFor picks the most specific composed set for a phone.
func (s *Set) templateFor(vendor, model, mac string) (*template.Template, error) {
	t := s.vendors[vendor]
	if mt, ok := s.models[vendor+"/"+model]; ok {
		t = mt
	}
	l, ok := s.devices[mac]
	if !ok || l.vendor != vendor {
		return t, nil
	}
	key := mac + "/" + vendor + "/" + model
	if c, ok := s.composed.Load(key); ok {
		return c.(*template.Template), nil
	}
	c, err := compose(t, l.trees)
	if err != nil {
		return nil, err
	}
	v, _ := s.composed.LoadOrStore(key, c)
	return v.(*template.Template), nil
}

// Result is one rendered file.
type Result struct {
	Content     []byte
	ContentType string
	ETag        string
	Version     string
	Secrets     bool
	// Fallback: the catalog does not list the model; its family's files were rendered.
	Fallback bool
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var templateNames sync.Map // [2]string{vendor, kind} -> "vendor/kind"

// templateName is vendor+"/"+kind without allocating on every render.
func templateName(vendor, kind string) string {
	k := [2]string{vendor, kind}
	if n, ok := templateNames.Load(k); ok {
		return n.(string)
	}
	n, _ := templateNames.LoadOrStore(k, vendor+"/"+kind)
	return n.(string)
}

// Render renders file for profile p at time now (which dates the DST rules).
func (s *Set) Render(p *provisioningv1.ProvisioningProfile, file string, now time.Time) (*Result, error) {
	m, st, ok := s.Catalog.Lookup(p.GetVendor(), p.GetModel())
	if !ok {
		return nil, fmt.Errorf("%w: model %q of vendor %q is not in the catalog", ErrNotFound, p.GetModel(), p.GetVendor())
	}
	mac, err := canonicalMAC(p.GetMac())
	if err != nil {
		return nil, invalid("mac: %v", err)
	}
	f, ok := m.FindFile(file, mac)
	if !ok {
		return nil, fmt.Errorf("%w: %s %s does not request %q", ErrNotFound, m.Vendor, m.Model, file)
	}
	spec := specFor(m)
	v := getView()
	defer v.release()
	if err := build(v, p, m, spec, file, mac, now); err != nil {
		return nil, err
	}
	t, err := s.templateFor(m.Vendor, m.Model, mac)
	if err != nil {
		return nil, err
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	name := templateName(m.Vendor, f.Template)
	if err := t.ExecuteTemplate(buf, name, v); err != nil {
		return nil, s.execError(err)
	}
	if spec.latin1 {
		buf.Truncate(toLatin1(buf.Bytes()))
	}
	out := make([]byte, buf.Len())
	copy(out, buf.Bytes())
	// etag: SHA-256 over content ‖ version, hashed from the pooled buffer in one call.
	buf.WriteString(s.Version)
	sum := sha256.Sum256(buf.Bytes())
	var tag [34]byte
	tag[0], tag[33] = '"', '"'
	hex.Encode(tag[1:33], sum[:16])
	etag := string(tag[:])
	ct := ContentTypeXML
	if spec.format == fmtCfg {
		ct = ContentTypeCfg
	} else if spec.latin1 {
		ct = ContentTypeXMLLatin1
	}
	secrets := false
	if f.Secrets && !v.Bootstrap {
		secrets = v.WebPassword != ""
		for _, l := range v.Lines {
			secrets = secrets || l.Password != ""
		}
	}
	return &Result{Content: out, ContentType: ct, ETag: etag, Version: s.Version, Secrets: secrets,
		Fallback: st == catalog.StatusFamilyFallback}, nil
}

func (s *Set) execError(err error) error {
	msg := err.Error()
	if sm := defineLineRE.FindStringSubmatch(msg); sm != nil {
		if f, ok := s.sources[sm[1]]; ok {
			msg = f + ": " + msg
		}
	}
	return fmt.Errorf("template execution: %s", msg)
}

// SampleProfile is a representative profile for model m (multi-line, every
// setting), used to validate template sets and for previews.
func SampleProfile(m *catalog.Model, bootstrap bool) *provisioningv1.ProvisioningProfile {
	p := &provisioningv1.ProvisioningProfile{
		Mac: "0004f2000001", Vendor: m.Vendor, Model: m.Model, Bootstrap: bootstrap,
		ProvisioningUrl: "https://prov.example.com/p/token/", PollInterval: durationpb.New(24 * time.Hour),
		TimeZone: "Europe/Berlin", NtpServer: "pool.ntp.org",
	}
	if len(m.Languages) > 0 {
		p.Language = m.Languages[0]
	}
	for _, c := range m.Codecs {
		if len(p.Codecs) >= 3 {
			break
		}
		cc, _ := vocab.ParseCodec(c)
		p.Codecs = append(p.Codecs, cc)
	}
	if bootstrap {
		return p
	}
	p.WebPassword = "admin-secret"
	p.SipServer = &provisioningv1.SipServer{Host: "pbx.example.com", Port: 5061, Transport: provisioningv1.Transport_TRANSPORT_TLS,
		OutboundProxyHost: "sbc.example.com", RegistrationExpiry: durationpb.New(time.Hour)}
	if !m.SupportsTransport("tls") { // a model without TLS (Gigaset <ProviderFrame>: UDP only)
		p.SipServer.Port, p.SipServer.Transport = 5060, provisioningv1.Transport_TRANSPORT_UDP
		if m.SupportsTransport("tcp") {
			p.SipServer.Transport = provisioningv1.Transport_TRANSPORT_TCP
		}
	}
	for i := 1; i <= min(m.SIPAccounts, 2); i++ {
		p.Lines = append(p.Lines, &provisioningv1.Line{Index: int32(i), Extension: fmt.Sprintf("10%d", i),
			DisplayName: fmt.Sprintf("Line %d", i), Password: "sip-secret"})
	}
	return p
}

var sampleNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func (s *Set) trial(m *catalog.Model, mac string) error {
	for _, boot := range []bool{false, true} {
		p := SampleProfile(m, boot)
		if mac != "" {
			p.Mac = mac
		}
		for _, f := range m.Files {
			if _, err := s.Render(p, f.Name(p.Mac), sampleNow); err != nil {
				return fmt.Errorf("model %s file %s: %w", m.Name(), f.Pattern, err)
			}
		}
	}
	return nil
}

// toLatin1 rewrites UTF-8 b as ISO-8859-1 in place and returns the new length:
// a rune above U+00FF (only display names can hold one: build refuses secrets
// and ids that Latin-1 cannot carry) becomes "?".
func toLatin1(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			b[n] = c
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r > 0xff {
			r = '?'
		}
		b[n] = byte(r)
		n++
		i += size
	}
	return n
}

// lintFormat is the escaper template name ("<vendor>/<kind>…") must use: its
// vendor's format, or that of the variant whose key prefixes the kind where
// the variant's format differs (Snom "m3-mac": "%KEY%:value" lines, cfg).
func lintFormat(name string) string {
	vendor, kind, _ := strings.Cut(name, "/")
	sp := specs[vendor]
	if sp == nil {
		return ""
	}
	for key, alt := range sp.variants {
		if alt.format != sp.format && strings.HasPrefix(kind, key+"-") {
			return alt.format
		}
	}
	return sp.format
}
