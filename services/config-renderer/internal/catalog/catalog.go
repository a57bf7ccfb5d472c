// Package catalog is the phone model catalog: vendors with their provisioning
// conventions, families and models with the files each model requests (in
// request order), User-Agent patterns, OUIs, and what each model supports. The
// catalog is data (data/catalog.json, embedded); operators may extend or replace
// models with a catalog.json of the same shape in the templates directory.
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dialtone-voip/dialtone/platform/vendorid"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

//go:embed data/catalog.json
var embedded []byte

// Embedded returns the built-in catalog document.
func Embedded() []byte { return embedded }

// Check-sync dialects (see renderer.proto CheckSyncDialect).
const (
	CheckSync       = "check-sync"
	CheckSyncReboot = "check-sync-reboot"
	Resync          = "resync"
)

// Vendor is one vendor family's conventions.
type Vendor struct {
	Vendor         string   `json:"vendor"`
	DisplayName    string   `json:"display_name"`
	PnP            bool     `json:"pnp"`
	PnPURLTemplate string   `json:"pnp_url_template"`
	CheckSync      string   `json:"check_sync"`
	PnPVendorNames []string `json:"pnp_vendor_names"`
	// OUIs are the vendor's IEEE blocks, always from platform/vendorid (the
	// suite's one table); a value in a catalog document is ignored.
	OUIs []string `json:"ouis,omitempty"`
	// FamilyPatterns pick the family of a model the catalog does not list,
	// first match wins (see Catalog.Lookup).
	FamilyPatterns []FamilyPattern `json:"family_patterns,omitempty"`
	// NotProvisionable are the vendor's models no file can configure: Resolve
	// reports them UNKNOWN with the reason, and no family pattern adopts them
	// (Gigaset N300 IP would otherwise fall back to the N-series DECT files).
	NotProvisionable []NotProvisionable `json:"not_provisionable,omitempty"`
	UserAgentPattern string             `json:"user_agent_pattern"`

	uaRE *regexp.Regexp
}

// FamilyPattern maps model names to a family: Pattern (RE2, matched
// case-insensitively against the upper-cased model id) names Family.
type FamilyPattern struct {
	Pattern string `json:"pattern"`
	Family  string `json:"family"`

	re *regexp.Regexp
}

// NotProvisionable names models (Pattern, RE2, matched case-insensitively
// against the upper-cased model id) that fetch no file, and why (Reason, shown
// to the operator).
type NotProvisionable struct {
	Pattern string `json:"pattern"`
	Reason  string `json:"reason"`

	re *regexp.Regexp
}

// File is one file a model requests.
type File struct {
	// Pattern is the file name with "{mac}" (lowercase MAC) or "{MAC}" (uppercase).
	Pattern string `json:"pattern"`
	// Template is the file kind; the template "<vendor>/<kind>" renders it.
	Template string `json:"template"`
	// Secrets marks a file that carries SIP or web passwords (unless bootstrap).
	Secrets bool `json:"secrets,omitempty"`

	prefix, suffix string // around the MAC placeholder; literal when macCase == 0
	macCase        byte   // 0 none, 'l' lower, 'u' upper, 'w' wildcard (family fallback)
}

// Family holds defaults shared by a family's models.
type Family struct {
	Vendor           string            `json:"vendor"`
	DECT             bool              `json:"dect,omitempty"`
	Codecs           []string          `json:"codecs"`
	Languages        []string          `json:"languages"`
	Files            []File            `json:"files"`
	UserAgentPattern string            `json:"user_agent_pattern"`
	UserAgentHasMAC  bool              `json:"user_agent_has_mac"`
	Vars             map[string]string `json:"vars,omitempty"`
	// Transports are the SIP transports the family's models support ("udp",
	// "tcp", "tls"); empty means all three.
	Transports []string `json:"transports,omitempty"`
	// DECTHandsets is how many handsets a base registers (0: one per account).
	DECTHandsets int `json:"dect_handsets,omitempty"`
}

// Model is one catalog model, with its family's defaults resolved.
type Model struct {
	Vendor           string            `json:"vendor"`
	Model            string            `json:"model"`
	Family           string            `json:"family"`
	DisplayName      string            `json:"display_name"`
	SIPAccounts      int               `json:"sip_accounts"`
	LineKeys         int               `json:"line_keys"`
	DECT             *bool             `json:"dect,omitempty"`
	Codecs           []string          `json:"codecs,omitempty"`
	Languages        []string          `json:"languages,omitempty"`
	Files            []File            `json:"files,omitempty"`
	UserAgentPattern string            `json:"user_agent_pattern,omitempty"`
	UserAgentHasMAC  *bool             `json:"user_agent_has_mac,omitempty"`
	OUIs             []string          `json:"ouis,omitempty"`
	Vars             map[string]string `json:"vars,omitempty"`
	// ExpansionModules is how many key expansion modules the model takes.
	ExpansionModules int `json:"expansion_modules,omitempty"`
	// Transports: see Family.Transports; resolved to the family's, then all three.
	Transports []string `json:"transports,omitempty"`
	// DECTHandsets: see Family.DECTHandsets; resolved to the family's, then
	// for a DECT base its SIP accounts (the catalog binds handset n to account n).
	DECTHandsets int `json:"dect_handsets,omitempty"`

	uaRE *regexp.Regexp
}

// SupportsTransport reports whether the model takes SIP over t ("udp", "tcp", "tls").
func (m *Model) SupportsTransport(t string) bool { return slices.Contains(m.Transports, t) }

// IsDECT reports whether the model is a DECT base.
func (m *Model) IsDECT() bool { return m.DECT != nil && *m.DECT }

// HasMACInUA reports whether the model's User-Agent carries the MAC.
func (m *Model) HasMACInUA() bool { return m.UserAgentHasMAC != nil && *m.UserAgentHasMAC }

// Var returns a model variable ("code", "psn", "format", …).
func (m *Model) Var(k string) string { return m.Vars[k] }

// Name is the resource name "vendors/{vendor}/models/{model}".
func (m *Model) Name() string { return "vendors/" + m.Vendor + "/models/" + m.Model }

// Document is the JSON shape of a catalog file.
type Document struct {
	Version  int                `json:"version"`
	Vendors  []*Vendor          `json:"vendors"`
	Families map[string]*Family `json:"families"`
	Models   []*Model           `json:"models"`
}

// Catalog is a validated, resolved catalog. It is immutable.
type Catalog struct {
	Vendors []*Vendor
	Models  []*Model // sorted by vendor, then model
	vendors map[string]*Vendor
	models  map[string]*Model   // vendor/model
	norm    map[string][]*Model // normModel(model) -> models of any vendor
	fams    map[string]*Family
	// fallbacks caches the models made for Lookup's family fallback (the
	// catalog is immutable, so they never go stale); bounded by maxFallbacks.
	fallbacks sync.Map // vendor/model -> *Model
	nFallback atomic.Int32
}

// Default parses the embedded catalog; it panics on a broken build.
func Default() *Catalog {
	c, err := Parse(embedded, nil)
	if err != nil {
		panic("embedded catalog: " + err.Error())
	}
	return c
}

const maxDoc = 4 << 20

// Parse reads a catalog document. With base non-nil the document is layered over
// base: its vendors and families are added or replace base's by key, and its
// models replace or add models by (vendor, model).
func Parse(data []byte, base *Document) (*Catalog, error) {
	doc, err := Decode(data)
	if err != nil {
		return nil, err
	}
	if base != nil {
		doc = Merge(base, doc)
	}
	return Resolve(doc)
}

// Decode parses a document without resolving it.
func Decode(data []byte) (*Document, error) {
	if len(data) > maxDoc {
		return nil, errors.New("catalog: document too large")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if dec.More() {
		return nil, errors.New("catalog: trailing data after the document")
	}
	return &doc, nil
}

// EmbeddedDocument decodes the built-in catalog (fresh copy).
func EmbeddedDocument() *Document {
	d, err := Decode(embedded)
	if err != nil {
		panic(err)
	}
	return d
}

// Merge layers over on top of base: vendors and families by key, models by (vendor, model).
func Merge(base, over *Document) *Document {
	out := &Document{Version: base.Version, Families: map[string]*Family{}}
	vi := map[string]int{}
	for _, v := range base.Vendors {
		vi[v.Vendor] = len(out.Vendors)
		out.Vendors = append(out.Vendors, v)
	}
	for _, v := range over.Vendors {
		if i, ok := vi[v.Vendor]; ok {
			out.Vendors[i] = v
		} else {
			out.Vendors = append(out.Vendors, v)
		}
	}
	for k, f := range base.Families {
		out.Families[k] = f
	}
	for k, f := range over.Families {
		out.Families[k] = f
	}
	mi := map[string]int{}
	for _, m := range base.Models {
		mi[m.Vendor+"/"+m.Model] = len(out.Models)
		out.Models = append(out.Models, m)
	}
	for _, m := range over.Models {
		if i, ok := mi[m.Vendor+"/"+m.Model]; ok {
			out.Models[i] = m
		} else {
			out.Models = append(out.Models, m)
		}
	}
	return out
}

var (
	modelIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$`)
	varRE     = regexp.MustCompile(`\{([a-z_]+)\}`)
	fileRE    = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
)

// Resolve validates doc and applies family defaults. Models are copied; doc is not modified.
func Resolve(doc *Document) (*Catalog, error) {
	var errs []error
	c := &Catalog{vendors: map[string]*Vendor{}, models: map[string]*Model{}, norm: map[string][]*Model{}, fams: doc.Families}
	for _, v0 := range doc.Vendors {
		v := *v0
		if !vocab.IsVendor(v.Vendor) {
			errs = append(errs, fmt.Errorf("vendor %q: not a known vendor key", v.Vendor))
			continue
		}
		if _, dup := c.vendors[v.Vendor]; dup {
			errs = append(errs, fmt.Errorf("vendor %q listed twice", v.Vendor))
			continue
		}
		switch v.CheckSync {
		case CheckSync, CheckSyncReboot, Resync:
		default:
			errs = append(errs, fmt.Errorf("vendor %q: check_sync %q (want %s, %s or %s)", v.Vendor, v.CheckSync, CheckSync, CheckSyncReboot, Resync))
		}
		if !strings.Contains(v.PnPURLTemplate, "{url}") {
			errs = append(errs, fmt.Errorf("vendor %q: pnp_url_template must contain {url}", v.Vendor))
		}
		re, err := regexp.Compile(v.UserAgentPattern)
		if err != nil {
			errs = append(errs, fmt.Errorf("vendor %q: user_agent_pattern: %w", v.Vendor, err))
		}
		v.uaRE = re
		v.OUIs = vendorid.Prefixes(v.Vendor)
		v.FamilyPatterns = slices.Clone(v.FamilyPatterns)
		for i := range v.FamilyPatterns {
			fp := &v.FamilyPatterns[i]
			if f, ok := doc.Families[fp.Family]; !ok || f.Vendor != v.Vendor {
				errs = append(errs, fmt.Errorf("vendor %q: family_patterns: %q is not a family of this vendor", v.Vendor, fp.Family))
			}
			if fp.re, err = regexp.Compile("(?i)" + fp.Pattern); err != nil {
				errs = append(errs, fmt.Errorf("vendor %q: family_patterns %q: %w", v.Vendor, fp.Pattern, err))
			}
		}
		v.NotProvisionable = slices.Clone(v.NotProvisionable)
		for i := range v.NotProvisionable {
			np := &v.NotProvisionable[i]
			if np.re, err = regexp.Compile("(?i)" + np.Pattern); err != nil {
				errs = append(errs, fmt.Errorf("vendor %q: not_provisionable %q: %w", v.Vendor, np.Pattern, err))
			}
			if strings.TrimSpace(np.Reason) == "" {
				errs = append(errs, fmt.Errorf("vendor %q: not_provisionable %q: reason required", v.Vendor, np.Pattern))
			}
		}
		c.vendors[v.Vendor] = &v
		c.Vendors = append(c.Vendors, &v)
	}
	for _, m0 := range doc.Models {
		m, err := resolveModel(m0, doc.Families, c.vendors)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		k := m.Vendor + "/" + m.Model
		if _, dup := c.models[k]; dup {
			errs = append(errs, fmt.Errorf("model %s listed twice", k))
			continue
		}
		c.models[k] = m
		c.Models = append(c.Models, m)
		nk := normModel(m.Model)
		c.norm[nk] = append(c.norm[nk], m)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(c.Vendors, func(i, j int) bool {
		return slices.Index(vocab.Vendors, c.Vendors[i].Vendor) < slices.Index(vocab.Vendors, c.Vendors[j].Vendor)
	})
	sort.Slice(c.Models, func(i, j int) bool {
		a, b := c.Models[i], c.Models[j]
		if a.Vendor != b.Vendor {
			return slices.Index(vocab.Vendors, a.Vendor) < slices.Index(vocab.Vendors, b.Vendor)
		}
		return a.Model < b.Model
	})
	return c, nil
}

func resolveModel(m0 *Model, fams map[string]*Family, vendors map[string]*Vendor) (*Model, error) {
	return resolveModelWild(m0, fams, vendors, false)
}

// resolveModelWild is resolveModel; with wild (a family fallback) a
// placeholder with no value ({code}, {psn}: known only for catalog models)
// matches any file-name segment, and any text in the User-Agent pattern.
func resolveModelWild(m0 *Model, fams map[string]*Family, vendors map[string]*Vendor, wild bool) (*Model, error) {
	m := *m0
	where := fmt.Sprintf("model %s/%s", m.Vendor, m.Model)
	v, ok := vendors[m.Vendor]
	if !ok {
		return nil, fmt.Errorf("%s: unknown vendor", where)
	}
	if !modelIDRE.MatchString(m.Model) {
		return nil, fmt.Errorf("%s: model id must match %s", where, modelIDRE)
	}
	f, ok := fams[m.Family]
	if !ok || f.Vendor != m.Vendor {
		return nil, fmt.Errorf("%s: unknown family %q for this vendor", where, m.Family)
	}
	if m.SIPAccounts < 1 || m.SIPAccounts > 1000 || m.LineKeys < 0 || m.LineKeys > 1000 {
		return nil, fmt.Errorf("%s: sip_accounts must be 1..1000, line_keys 0..1000", where)
	}
	if m.DECT == nil {
		d := f.DECT
		m.DECT = &d
	}
	if m.Codecs == nil {
		m.Codecs = f.Codecs
	}
	if m.Languages == nil {
		m.Languages = f.Languages
	}
	if m.DECTHandsets == 0 {
		m.DECTHandsets = f.DECTHandsets
	}
	if m.DECTHandsets == 0 && m.IsDECT() {
		m.DECTHandsets = m.SIPAccounts
	}
	if m.DECTHandsets < 0 || m.DECTHandsets > 1000 {
		return nil, fmt.Errorf("%s: dect_handsets must be 0..1000", where)
	}
	if m.Files == nil {
		m.Files = f.Files
	}
	if m.UserAgentPattern == "" {
		m.UserAgentPattern = f.UserAgentPattern
	}
	if m.UserAgentHasMAC == nil {
		h := f.UserAgentHasMAC
		m.UserAgentHasMAC = &h
	}
	if len(m.OUIs) == 0 {
		m.OUIs = v.OUIs
	}
	if m.Transports == nil {
		m.Transports = f.Transports
	}
	if len(m.Transports) == 0 {
		m.Transports = []string{"udp", "tcp", "tls"}
	}
	for _, t := range m.Transports {
		if t != "udp" && t != "tcp" && t != "tls" {
			return nil, fmt.Errorf("%s: transport %q (want udp, tcp or tls)", where, t)
		}
	}
	if m.ExpansionModules < 0 || m.ExpansionModules > 16 {
		return nil, fmt.Errorf("%s: expansion_modules must be 0..16", where)
	}
	vars := map[string]string{"model": m.Model, "model_lower": strings.ToLower(m.Model)}
	for k, x := range f.Vars {
		vars[k] = x
	}
	for k, x := range m.Vars {
		vars[k] = x
	}
	m.Vars = vars
	if m.DisplayName == "" {
		m.DisplayName = v.DisplayName + " " + m.Model
	}
	for _, c := range m.Codecs {
		if _, err := vocab.ParseCodec(c); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	for _, l := range m.Languages {
		if !vocab.IsLanguage(l) {
			return nil, fmt.Errorf("%s: language %q is not on the neutral list", where, l)
		}
	}
	if len(m.Files) == 0 {
		return nil, fmt.Errorf("%s: no files", where)
	}
	files := make([]File, 0, len(m.Files))
	seen := map[string]bool{}
	for _, fl := range m.Files {
		p, err := expand(fl.Pattern, vars, false, wild)
		if err != nil {
			return nil, fmt.Errorf("%s: file %q: %w", where, fl.Pattern, err)
		}
		fl.Pattern = p
		if err := fl.compile(); err != nil {
			return nil, fmt.Errorf("%s: file %q: %w", where, p, err)
		}
		if fl.Template == "" || !fileRE.MatchString(fl.Template) {
			return nil, fmt.Errorf("%s: file %q: bad template kind %q", where, p, fl.Template)
		}
		if seen[p] && wild && fl.macCase == 'w' {
			continue // {psn}.xml and {psn_short}.xml: one wildcard serves both
		}
		if seen[p] {
			return nil, fmt.Errorf("%s: file %q listed twice", where, p)
		}
		seen[p] = true
		files = append(files, fl)
	}
	m.Files = files
	ua, err := expand(m.UserAgentPattern, vars, true, wild)
	if err != nil {
		return nil, fmt.Errorf("%s: user_agent_pattern: %w", where, err)
	}
	m.UserAgentPattern = ua
	re, err := regexp.Compile(ua)
	if err != nil {
		return nil, fmt.Errorf("%s: user_agent_pattern: %w", where, err)
	}
	if m.HasMACInUA() != slices.Contains(re.SubexpNames(), "mac") {
		return nil, fmt.Errorf("%s: user_agent_pattern must have a (?P<mac>…) group exactly when user_agent_has_mac", where)
	}
	m.uaRE = re
	return &m, nil
}

// wildcard is the file-name placeholder a family fallback leaves for a
// variable only catalog models have.
const wildcard = "{*}"

// expand substitutes {var} placeholders except {mac}/{MAC}; in a regexp the
// values are quoted. With wild, an unknown placeholder becomes wildcard (a
// file name) or ".+?" (a regexp).
func expand(s string, vars map[string]string, quote, wild bool) (string, error) {
	var err error
	out := varRE.ReplaceAllStringFunc(s, func(p string) string {
		k := p[1 : len(p)-1]
		if k == "mac" {
			return p
		}
		v, ok := vars[k]
		if !ok && wild {
			if quote {
				return ".+?"
			}
			return wildcard
		}
		if !ok {
			err = fmt.Errorf("unknown placeholder %s", p)
			return p
		}
		if quote {
			return regexp.QuoteMeta(v)
		}
		return v
	})
	return out, err
}

func (f *File) compile() error {
	p := f.Pattern
	for _, ph := range []string{"{mac}", "{MAC}", wildcard} {
		if i := strings.Index(p, ph); i >= 0 {
			if f.macCase != 0 {
				return errors.New("more than one MAC placeholder")
			}
			f.prefix, f.suffix = p[:i], p[i+len(ph):]
			switch ph {
			case "{mac}":
				f.macCase = 'l'
			case "{MAC}":
				f.macCase = 'u'
			default:
				f.macCase = 'w'
			}
		}
	}
	if f.macCase == 0 {
		f.prefix = p
	}
	lit := f.prefix + f.suffix
	if lit != "" && !fileRE.MatchString(lit) {
		return errors.New("file names may hold only letters, digits, '.', '_', '-' and one {mac}/{MAC}")
	}
	return nil
}

// Match parses name against the pattern: ok, and the canonical MAC it names
// ("" for a pattern without MAC). Case matters as the phone sends it.
func (f *File) Match(name string) (mac string, ok bool) {
	b, isMAC, ok := f.match(name)
	if !ok || !isMAC {
		return "", ok
	}
	return string(b[:]), true
}

// match is Match without allocating: the canonical MAC in name, if the
// pattern has one (isMAC).
func (f *File) match(name string) (b [12]byte, isMAC, ok bool) {
	if f.macCase == 0 {
		return b, false, name == f.prefix
	}
	if f.macCase == 'w' {
		return b, false, matchWild(name, f.prefix, f.suffix)
	}
	if len(name) != len(f.prefix)+12+len(f.suffix) || !strings.HasPrefix(name, f.prefix) || !strings.HasSuffix(name, f.suffix) {
		return b, false, false
	}
	h := name[len(f.prefix) : len(f.prefix)+12]
	for i := 0; i < 12; i++ {
		c := h[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'f':
			if f.macCase == 'u' {
				return b, false, false
			}
		case c >= 'A' && c <= 'F':
			if f.macCase == 'l' {
				return b, false, false
			}
			c += 'a' - 'A'
		default:
			return b, false, false
		}
		b[i] = c
	}
	return b, true, true
}

// matchWild reports whether name is prefix, 1–20 characters of
// [A-Za-z0-9_-], and suffix: a family fallback's stand-in for a value only
// catalog models know (Yealink's model code, Cisco's product name).
func matchWild(name, prefix, suffix string) bool {
	n := len(name) - len(prefix) - len(suffix)
	if n < 1 || n > 20 || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return false
	}
	for _, c := range []byte(name[len(prefix) : len(prefix)+n]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Wild reports whether the pattern holds a family fallback's wildcard.
func (f *File) Wild() bool { return f.macCase == 'w' }

// Name returns the file name for a canonical MAC (for a wildcard pattern,
// the pattern itself: there is no one name).
func (f *File) Name(mac string) string {
	switch f.macCase {
	case 'w':
		return f.prefix + wildcard + f.suffix
	case 'l':
		return f.prefix + mac + f.suffix
	case 'u':
		return f.prefix + strings.ToUpper(mac) + f.suffix
	}
	return f.prefix
}

// HasMAC reports whether the pattern carries a MAC.
func (f *File) HasMAC() bool { return f.macCase == 'l' || f.macCase == 'u' }

// Vendor returns a vendor by key.
func (c *Catalog) Vendor(v string) (*Vendor, bool) { x, ok := c.vendors[v]; return x, ok }

// Model returns a model by vendor and model id.
func (c *Catalog) Model(vendor, model string) (*Model, bool) {
	m, ok := c.models[vendor+"/"+model]
	return m, ok
}

// FindFile returns the model's file that name is for, given the phone's canonical MAC.
// A name for another MAC, another model or vendor does not match.
// A wildcard pattern (family fallback) is tried only after every other, so
// "{*}.xml" does not take a name "{mac}.xml" is for.
func (m *Model) FindFile(name, mac string) (*File, bool) {
	for i := range m.Files {
		f := &m.Files[i]
		if f.macCase == 'w' {
			continue
		}
		got, isMAC, ok := f.match(name)
		if ok && (!isMAC || string(got[:]) == mac) {
			return f, true
		}
	}
	for i := range m.Files {
		f := &m.Files[i]
		if f.macCase == 'w' && matchWild(name, f.prefix, f.suffix) {
			if _, _, other := m.otherMAC(name); other {
				continue // a MAC file for another phone is not the common file
			}
			return f, true
		}
	}
	return nil, false
}

// otherMAC reports whether name fits one of the model's MAC patterns (for any MAC).
func (m *Model) otherMAC(name string) (b [12]byte, isMAC, ok bool) {
	for i := range m.Files {
		if f := &m.Files[i]; f.HasMAC() {
			if b, isMAC, ok = f.match(name); ok {
				return b, isMAC, ok
			}
		}
	}
	return b, false, false
}

// MACFromUserAgent extracts the canonical MAC the model's User-Agent carries.
func (m *Model) MACFromUserAgent(ua string) (string, bool) {
	if !m.HasMACInUA() {
		return "", false
	}
	sm := m.uaRE.FindStringSubmatch(ua)
	if sm == nil {
		return "", false
	}
	raw := sm[m.uaRE.SubexpIndex("mac")]
	return normMAC(raw)
}

func normMAC(s string) (string, bool) {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			b = append(b, c)
		case c >= 'A' && c <= 'F':
			b = append(b, c+'a'-'A')
		case c == ':' || c == '-':
		default:
			return "", false
		}
	}
	if len(b) != 12 {
		return "", false
	}
	return string(b), true
}

// MatchesUserAgent reports whether ua is this model's.
func (m *Model) MatchesUserAgent(ua string) bool { return m.uaRE.MatchString(ua) }

// Identify finds vendor and model from what a phone sent. The User-Agent wins,
// then the PnP Event parameters, then the MAC's OUI (vendor only).
func (c *Catalog) Identify(mac, ua, pnpVendor, pnpModel string) (vendor, model string, ok bool) {
	if ua != "" {
		for _, m := range c.Models {
			if m.uaRE.MatchString(ua) {
				return m.Vendor, m.Model, true
			}
		}
		for _, v := range c.Vendors {
			if v.uaRE != nil && v.uaRE.MatchString(ua) {
				vendor = v.Vendor
				break
			}
		}
	}
	if pnpVendor != "" && vendor == "" {
		pv := strings.ToLower(strings.Trim(pnpVendor, `" `))
		for _, v := range c.Vendors {
			if slices.Contains(v.PnPVendorNames, pv) {
				vendor = v.Vendor
				break
			}
		}
	}
	if vendor == "" && mac != "" {
		if canon, ok := normMAC(mac); ok {
			vendor = vendorid.Vendor(canon)
		}
	}
	if vendor == "" {
		return "", "", false
	}
	if pnpModel != "" {
		want := normModel(pnpModel)
		for _, m := range c.Models {
			if m.Vendor == vendor && (normModel(m.Model) == want || normModel(m.Var("ua_model")) == want) {
				return vendor, m.Model, true
			}
		}
	}
	return vendor, "", true
}

func normModel(s string) string {
	s = strings.ToLower(strings.Trim(s, `" `))
	for _, p := range []string{"sip-", "snom", "cp-"} {
		s = strings.TrimPrefix(s, p)
	}
	s = strings.TrimSuffix(s, "-3pcc")
	s = strings.TrimSuffix(s, " ip pro")
	return strings.NewReplacer(" ", "", "_", "", "-", "").Replace(s)
}
