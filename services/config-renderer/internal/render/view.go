// Package render turns a vendor-neutral provisioning profile into vendor files:
// per-vendor mappings (transport, codecs, languages, time zones) build a view in
// Go, and embedded text/template templates, layered with operator overrides,
// lay it out. Every printed value passes through the escaper of the file's format.
package render

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/vocab"
	"github.com/dialtone-voip/dialtone/services/config-renderer/internal/catalog"
	"github.com/dialtone-voip/dialtone/services/config-renderer/internal/tzrules"
)

// Errors the edge maps to gRPC codes; messages never carry secrets.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid argument")
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// View is what a template sees. Values are already in the vendor's encoding;
// templates only lay them out (and escape them).
type View struct {
	Vendor, Model, Family string
	MAC, MACUpper         string
	File                  string // requested file name
	Bootstrap             bool
	Accounts              int  // the model's SIP accounts
	DECT                  bool // a DECT base: account n is handset n
	Vars                  map[string]string

	Lines  []Line // configured lines, index order
	Unused []int  // account indexes 1..Accounts without a line (to disable)
	// UnusedK are the vendor key names of each Unused account, where the
	// vendor numbers its keys per account (Grandstream, Htek).
	UnusedK []map[string]string
	Server  Server

	// Codecs is the profile's ordered list in the vendor's names (empty: leave
	// the phone's defaults); Disabled the vendor's other known codecs.
	Codecs   []Codec
	Disabled []Codec
	// Slots are the vendor's fixed codec-choice slots, when it has them.
	Slots []Slot

	// NoCodecKey and NoLanguageKey: the profile sets codecs / a language but the
	// vendor has no provisioning key for it at all (Gigaset), so the file leaves
	// the phone's own setting and says so in a comment.
	NoCodecKey    bool
	NoLanguageKey bool

	// RegStart is the render time in Unix seconds: a DECT base opens its
	// handset registration window from then (Gigaset update_dm RegStart).
	RegStart int

	WebPassword string
	Language    string // vendor value, "" to leave untouched
	Language2   string // a second vendor value where the vendor has two (web UI)
	TZ          *TZ    // nil to leave untouched
	NTP         string

	Prov *Prov // nil when the profile has no provisioning URL
	PnP  bool  // keep multicast PnP on (bootstrap); off once provisioned

	prov Prov // Prov's storage (templates cannot see unexported fields)
}

// viewPool recycles views with their slices' storage: a render then
// allocates almost nothing for its view.
var viewPool = sync.Pool{New: func() any { return new(View) }}

func getView() *View { return viewPool.Get().(*View) }

// release zeroes v (passwords included) and returns it to the pool, keeping
// the capacity of its slices.
func (v *View) release() {
	clear(v.Lines[:cap(v.Lines)])
	lines, codecs, disabled, unused := v.Lines[:0], v.Codecs[:0], v.Disabled[:0], v.Unused[:0]
	*v = View{Lines: lines, Codecs: codecs, Disabled: disabled, Unused: unused}
	viewPool.Put(v)
}

// Line is one SIP account.
type Line struct {
	Index                         int
	Extension, AuthUser, Password string
	DisplayName, Label            string
	K                             map[string]string // vendor key names (P-values…)
	Handset                       string            // Gigaset handset id, 5 digits
	// DECTCode is the handset's DECT access code: the last four digits of the
	// extension, zero-padded ("0000" without digits), as Wazo computes it
	// (WZ:plugins/wazo_gigaset/N870_83_v2_48_0/common.py _add_ac_code).
	DECTCode string
}

// Server is the registrar in the vendor's encoding.
type Server struct {
	Host          string
	Port          int
	HostPort      string // host:port
	Transport     string // vendor encoding
	TransportName string // udp, tcp, tls
	Outbound      bool
	OutboundHost  string
	OutboundPort  int
	OutboundHP    string // host:port
	Expiry        int    // in the vendor's unit
	// PortHex, OutboundPortHex and ExpiryHex: the same numbers in hex
	// ("0x13c4"), for formats that write them so (vendorSpec.hex).
	PortHex, OutboundPortHex, ExpiryHex string
}

// Codec is one codec in the vendor's naming.
type Codec struct {
	Name     string
	Priority int
}

// Slot is one codec-choice slot (Grandstream/Htek style).
type Slot struct {
	Key, Value string
}

// TZ is a time zone in the vendor's encoding; V holds the vendor's keys.
type TZ struct {
	Zone   string
	HasDST bool
	V      map[string]string
}

// Prov is the phone's own provisioning settings.
type Prov struct {
	URL         string // as given, ending in "/"
	URLNoSlash  string
	HostPath    string // without scheme
	HTTPS       bool
	PollSeconds int
	PollMinutes int
	PollHours   int
}

// tokenOK: 1-128 characters, none of them a control character (a hand loop:
// this runs for every field of every render).
func tokenOK(s string) bool {
	if s == "" || len(s) > 4*128 {
		return false
	}
	n := 0
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
		n++
	}
	return n <= 128
}

// validHost reports whether h is a DNS name (labels of 1-63 letters, digits
// and inner hyphens, optional final dot) or a bracketed IP literal. It is the
// regular expression hostRE (view_test.go) by hand, because it runs for two or
// three fields of every render; FuzzValidHost keeps the two equal.
func validHost(h string) bool {
	if len(h) > 253 || h == "" {
		return false
	}
	if h[0] == '[' {
		if len(h) < 4 || len(h) > 47 || h[len(h)-1] != ']' {
			return false
		}
		for i := 1; i < len(h)-1; i++ {
			c := h[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
				return false
			}
		}
		return true
	}
	if h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	for label := range strings.SplitSeq(h, ".") {
		if n := len(label); n == 0 || n > 63 || label[0] == '-' || label[n-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return false
			}
		}
	}
	return true
}

// sanitizeText turns control characters into spaces and trims: display names and
// labels are shown on a screen, where a line break means nothing.
func sanitizeText(s string, max int) string {
	if len(s) <= max && plainText(s) {
		return s // what the loop below would return, without allocating
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 {
			r = ' '
		}
		b.WriteRune(r)
	}
	out := strings.TrimSpace(b.String())
	if len([]rune(out)) > max {
		out = string([]rune(out)[:max])
	}
	return out
}

// plainText: printable ASCII without a leading or trailing space, which
// sanitizeText returns unchanged.
func plainText(s string) bool {
	if s != "" && (s[0] == ' ' || s[len(s)-1] == ' ') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// canonicalMAC parses a MAC, without allocating when it is already canonical.
func canonicalMAC(s string) (string, error) {
	if len(s) == 12 {
		ok := true
		for i := 0; i < 12 && ok; i++ {
			ok = s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f'
		}
		if ok {
			return s, nil
		}
	}
	return macaddr.Parse(s)
}

// handsetIDs are Gigaset's 5-digit handset ids, precomputed for the usual indexes.
var handsetIDs = func() (ids [256]string) {
	for i := range ids {
		ids[i] = fmt.Sprintf("%05d", i)
	}
	return
}()

// dectCode is the last four digits of ext, zero-padded.
func dectCode(ext string) string {
	var d [4]byte
	n := 0
	for i := len(ext) - 1; i >= 0 && n < 4; i-- {
		if c := ext[i]; c >= '0' && c <= '9' {
			n++
			d[4-n] = c
		}
	}
	for i := 0; i < 4-n; i++ {
		d[i] = '0'
	}
	return string(d[:])
}

func handsetID(idx int) string {
	if idx < len(handsetIDs) {
		return handsetIDs[idx]
	}
	return fmt.Sprintf("%05d", idx)
}

// newView validates p against model m and the vendor spec and makes its view.
func newView(p *provisioningv1.ProvisioningProfile, m *catalog.Model, spec *vendorSpec, file string, now time.Time) (*View, error) {
	mac, err := canonicalMAC(p.GetMac())
	if err != nil {
		return nil, invalid("mac: %v", err)
	}
	v := new(View)
	if err := build(v, p, m, spec, file, mac, now); err != nil {
		return nil, err
	}
	return v, nil
}

// build validates p against model m and the vendor spec and fills v, a zero
// View (whose slices may have capacity), for the phone with canonical mac.
func build(v *View, p *provisioningv1.ProvisioningProfile, m *catalog.Model, spec *vendorSpec, file, mac string, now time.Time) error {
	v.Vendor, v.Model, v.Family, v.MAC, v.MACUpper = m.Vendor, m.Model, m.Family, mac, strings.ToUpper(mac)
	v.File, v.Bootstrap, v.Accounts, v.Vars, v.PnP = file, p.GetBootstrap(), m.SIPAccounts, m.Vars, p.GetBootstrap()
	v.RegStart = int(now.Truncate(time.Minute).Unix())
	v.DECT = m.IsDECT()
	// Provisioning continuity.
	if u := p.GetProvisioningUrl(); u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.User != nil || pu.RawQuery != "" || pu.Fragment != "" || !tokenOK(u) || strings.ContainsAny(u, " \"'<>\\") {
			return invalid("provisioning_url must be an absolute http(s) URL without query or credentials")
		}
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		poll := p.GetPollInterval().AsDuration()
		if poll <= 0 {
			poll = 24 * time.Hour
		}
		if poll < time.Minute || poll > 30*24*time.Hour {
			return invalid("poll_interval must be between 1m and 720h")
		}
		v.prov = Prov{
			URL: u, URLNoSlash: strings.TrimSuffix(u, "/"), HostPath: strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://"),
			HTTPS: pu.Scheme == "https", PollSeconds: int(poll / time.Second),
			PollMinutes: int((poll + time.Minute - 1) / time.Minute), PollHours: int((poll + time.Hour - 1) / time.Hour),
		}
		v.Prov = &v.prov
	} else if v.Bootstrap {
		return invalid("a bootstrap profile needs provisioning_url (it must keep the phone polling)")
	}
	if n := p.GetNtpServer(); n != "" {
		if !validHost(n) {
			return invalid("ntp_server %q is not a host name or address", n)
		}
		v.NTP = n
	}
	if l := p.GetLanguage(); l != "" {
		switch {
		case !vocab.IsLanguage(l):
			return invalid("language %q is not on the neutral list", l)
		case spec.noLanguageKey:
			// The vendor has no key to set it with (Gigaset):
			// refusing would make the phone unprovisionable for a tenant-wide
			// default it cannot honour anyway. The file says so in a comment.
			v.NoLanguageKey = true
		case !contains(m.Languages, l):
			return invalid("language %q is not supported by %s %s", l, m.Vendor, m.Model)
		default:
			langs := spec.languages
			if alt, ok := spec.langVariants[m.Var("lang")]; ok {
				langs = alt
			}
			val, ok := langs[l]
			if !ok {
				return invalid("language %q has no %s value", l, m.Vendor)
			}
			v.Language, v.Language2 = val, val
			if spec.webLanguages != nil {
				v.Language2 = spec.webLanguages[l]
			}
			if v.Language == "" && v.Language2 == "" {
				return invalid("language %q has no %s value", l, m.Vendor)
			}
		}
	}
	if z := p.GetTimeZone(); z != "" {
		tz, err := vendorTZ(m.Vendor, spec, z, now.Year())
		if err != nil {
			return err
		}
		v.TZ = tz
	}
	// Codecs: exactly the profile's list, in order, in the vendor's names.
	if cs := p.GetCodecs(); len(cs) > 0 {
		if err := codecs(v, cs, m, spec); err != nil {
			return err
		}
	}
	if v.Bootstrap {
		return nil // no lines, no passwords, whatever the profile holds
	}
	if pw := p.GetWebPassword(); pw != "" {
		if !tokenOK(pw) {
			return invalid("web_password must be 1-128 characters without control characters")
		}
		if (spec.quotedStrings && strings.Contains(pw, `"`)) || (spec.latin1 && !isLatin1(pw)) {
			return invalid("web_password: %s %s cannot carry '\"' or characters outside ISO-8859-1", m.Vendor, m.Model)
		}
		v.WebPassword = pw
	}
	lines := p.GetLines()
	if len(lines) > m.SIPAccounts {
		return invalid("%d lines, but %s %s has %d SIP accounts", len(lines), m.Vendor, m.Model, m.SIPAccounts)
	}
	if len(lines) > cap(v.Lines) {
		v.Lines = make([]Line, 0, len(lines))
	}
	if len(lines) > 0 {
		if err := server(v, p.GetSipServer(), spec, m); err != nil {
			return err
		}
	}
	used := make([]bool, m.SIPAccounts+1)
	for i, l := range lines {
		idx := int(l.GetIndex())
		if idx == 0 {
			idx = i + 1
		}
		if idx < 1 || idx > m.SIPAccounts || used[idx] {
			return invalid("line index %d is out of range 1..%d or repeated", idx, m.SIPAccounts)
		}
		used[idx] = true
		ln := Line{Index: idx, Extension: l.GetExtension(), AuthUser: l.GetAuthUser(), Password: l.GetPassword(),
			DisplayName: sanitizeText(l.GetDisplayName(), 64), Label: sanitizeText(l.GetLabel(), 32)}
		if ln.AuthUser == "" {
			ln.AuthUser = ln.Extension
		}
		if ln.Label == "" {
			ln.Label = ln.Extension
		}
		if !tokenOK(ln.Extension) || strings.ContainsAny(ln.Extension, " @:;<>\"") {
			return invalid("line %d: extension must be 1-128 characters without spaces, control characters or @:;<>\"", idx)
		}
		if !tokenOK(ln.AuthUser) {
			return invalid("line %d: auth_user must be 1-128 characters without control characters", idx)
		}
		if ln.Password != "" && !tokenOK(ln.Password) {
			return invalid("line %d: password must be at most 128 characters without control characters", idx)
		}
		if spec.quotedStrings || spec.latin1 {
			if err := carried(spec, idx, &ln); err != nil {
				return err
			}
		}
		ln.Handset = handsetID(idx)
		ln.DECTCode = dectCode(ln.Extension)
		v.Lines = append(v.Lines, ln)
	}
	// Lines in index order.
	for i := 1; i < len(v.Lines); i++ {
		for j := i; j > 0 && v.Lines[j].Index < v.Lines[j-1].Index; j-- {
			v.Lines[j], v.Lines[j-1] = v.Lines[j-1], v.Lines[j]
		}
	}
	if n := min(m.SIPAccounts, spec.maxDisable) - len(v.Lines); n > cap(v.Unused) {
		v.Unused = make([]int, 0, n)
	}
	for i := 1; i <= m.SIPAccounts && i <= spec.maxDisable; i++ {
		if !used[i] {
			v.Unused = append(v.Unused, i)
		}
	}
	if spec.lineKeys != nil {
		for i := range v.Lines {
			v.Lines[i].K = spec.lineKeys(m, v.Lines[i].Index)
		}
		v.UnusedK = make([]map[string]string, len(v.Unused))
		for i, n := range v.Unused {
			v.UnusedK[i] = spec.lineKeys(m, n)
		}
	}
	return nil
}

type tzKey struct {
	vendor, zone string
	year         int
	spec         *vendorSpec // a vendor's formats may encode zones differently
}

// tzCache holds each vendor's encoding per (zone, year): derived once from the
// tz database, immutable, shared by every render. Bounded by zones in use.
var tzCache sync.Map

func vendorTZ(vendor string, spec *vendorSpec, zone string, year int) (*TZ, error) {
	k := tzKey{vendor, zone, year, spec}
	if v, ok := tzCache.Load(k); ok {
		return v.(*TZ), nil
	}
	r, err := tzrules.For(zone, year)
	if err != nil {
		return nil, invalid("time_zone: %v", err)
	}
	tz, err := spec.tz(r)
	if err != nil {
		return nil, err
	}
	tzCache.Store(k, tz)
	return tz, nil
}

func server(v *View, s *provisioningv1.SipServer, spec *vendorSpec, m *catalog.Model) error {
	if s == nil || s.GetHost() == "" {
		return invalid("sip_server.host is required when the profile has lines")
	}
	if !validHost(s.GetHost()) {
		return invalid("sip_server.host %q is not a host name or address", s.GetHost())
	}
	t := s.GetTransport()
	if t == provisioningv1.Transport_TRANSPORT_UNSPECIFIED {
		t = provisioningv1.Transport_TRANSPORT_UDP
	}
	name := vocab.TransportName(t)
	enc, ok := spec.transports[name]
	if name == "" || !ok {
		return invalid("transport %v is not supported by %s", t, v.Vendor)
	}
	if m != nil && !m.SupportsTransport(name) {
		return invalid("sip_server.transport %s is not supported by %s %s", name, m.Vendor, m.Model)
	}
	port := int(s.GetPort())
	if port == 0 {
		port = 5060
		if t == provisioningv1.Transport_TRANSPORT_TLS {
			port = 5061
		}
	}
	if port < 1 || port > 65535 {
		return invalid("sip_server.port %d out of range", port)
	}
	exp := int(s.GetRegistrationExpiry().AsDuration() / time.Second)
	if exp == 0 {
		exp = 3600
	}
	if exp < 30 || exp > 86400*7 {
		return invalid("registration_expiry must be between 30s and 168h")
	}
	if spec.expiryMinutes {
		exp = (exp + 59) / 60
	}
	if spec.expiryHours {
		exp = (exp + 3599) / 3600
	}
	v.Server = Server{Host: s.GetHost(), Port: port, HostPort: s.GetHost() + ":" + strconv.Itoa(port),
		Transport: enc, TransportName: name, Expiry: exp}
	if ob := s.GetOutboundProxyHost(); ob != "" {
		if !validHost(ob) {
			return invalid("sip_server.outbound_proxy_host %q is not a host name or address", ob)
		}
		op := int(s.GetOutboundProxyPort())
		if op == 0 {
			op = 5060
			if t == provisioningv1.Transport_TRANSPORT_TLS {
				op = 5061
			}
		}
		if op < 1 || op > 65535 {
			return invalid("sip_server.outbound_proxy_port %d out of range", op)
		}
		v.Server.Outbound, v.Server.OutboundHost, v.Server.OutboundPort = true, ob, op
		v.Server.OutboundHP = ob + ":" + strconv.Itoa(op)
	}
	if spec.hex {
		v.Server.PortHex, v.Server.ExpiryHex = "0x"+strconv.FormatInt(int64(port), 16), "0x"+strconv.FormatInt(int64(exp), 16)
		if v.Server.Outbound {
			v.Server.OutboundPortHex = "0x" + strconv.FormatInt(int64(v.Server.OutboundPort), 16)
		}
	}
	return nil
}

func codecs(v *View, cs []provisioningv1.Codec, m *catalog.Model, spec *vendorSpec) error {
	var buf [16]string
	seen := buf[:0] // neutral names, in the profile's order
	if !spec.noCodecKey && cap(v.Codecs) < len(cs) {
		v.Codecs = make([]Codec, 0, len(cs))
	}
	for i, c := range cs {
		name := vocab.CodecName(c)
		if name == "" {
			return invalid("codec %v is not a known codec", c)
		}
		if slices.Contains(seen, name) {
			return invalid("codec %s listed twice", name)
		}
		seen = append(seen, name)
		if spec.noCodecKey {
			continue // checked for sense only
		}
		vn, ok := spec.codecs[name]
		if !ok || !contains(m.Codecs, name) {
			return invalid("codec %s is not supported by %s %s", name, m.Vendor, m.Model)
		}
		v.Codecs = append(v.Codecs, Codec{Name: vn, Priority: i + 1})
	}
	if spec.noCodecKey {
		v.NoCodecKey = true
		return nil
	}
	maxCodecs, slots := spec.maxCodecs, spec.slots
	if m.Var("codec_slots") == "8" && gsSlots8 != nil && m.Vendor == "grandstream" {
		maxCodecs, slots = 8, gsSlots8
	}
	if maxCodecs > 0 && len(cs) > maxCodecs {
		return invalid("%s takes at most %d codecs", m.Vendor, maxCodecs)
	}
	if cap(v.Disabled) < len(spec.codecOrder) {
		v.Disabled = make([]Codec, 0, len(spec.codecOrder))
	}
	for _, name := range spec.codecOrder {
		if !slices.Contains(seen, name) {
			v.Disabled = append(v.Disabled, Codec{Name: spec.codecs[name]})
		}
	}
	for _, name := range spec.alwaysDisabled {
		v.Disabled = append(v.Disabled, Codec{Name: name})
	}
	if slots != nil {
		v.Slots = slots(v.Codecs)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// carried checks line idx against a format that quotes its strings with '"'
// and/or is ISO-8859-1 (Gigaset <ProviderFrame>): ids and the password must fit
// as they are; the display name and label get "'" for '"'.
func carried(spec *vendorSpec, idx int, ln *Line) error {
	for _, f := range []struct{ name, v string }{{"extension", ln.Extension}, {"auth_user", ln.AuthUser}, {"password", ln.Password}} {
		if (spec.quotedStrings && strings.Contains(f.v, `"`)) || (spec.latin1 && !isLatin1(f.v)) {
			return invalid("line %d: %s cannot carry '\"' or characters outside ISO-8859-1 in this model's file", idx, f.name)
		}
	}
	if spec.quotedStrings {
		ln.DisplayName = strings.ReplaceAll(ln.DisplayName, `"`, "'")
		ln.Label = strings.ReplaceAll(ln.Label, `"`, "'")
	}
	return nil
}

func isLatin1(s string) bool {
	for _, r := range s {
		if r > 0xff {
			return false
		}
	}
	return true
}
