package render

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/quick"

	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	"github.com/dialtone-voip/dialtone/proto/vocab"
	"github.com/dialtone-voip/dialtone/services/config-renderer/internal/catalog"
)

// Where each vendor's MAC file keeps line 1's display name and label, as parseFile names them.
var displayKey = map[string][2]string{
	"yealink":     {"account.1.display_name", "account.1.label"},
	"fanvil":      {"sip/line[1]/DisplayName", ""},
	"grandstream": {"P3", "P270"},
	"snom":        {"user_realname[1]", "user_idle_text[1]"},
	"gigaset":     {"SipAccount.00001.DisplayName", ""},
	"htek":        {"P3", "P20000"},
	"poly":        {"reg.1.displayName", "reg.1.label"},
	"cisco":       {"Display_Name_1_", "Short_Name_1_"},
}

var hostile = []string{"<", ">", "&", "\"", "'", "\n", "\r", "=", " = ", "\x00", "\t", "]]>", "<!--", "&amp;", "%NULL%",
	"\u2028", "é", "日本", "\xff", "#", "account.2.password = x", "</P3><P2>evil</P2>", "\" evil=\"1", "{{.}}", ";transport=udp"}

func randomName(r *rand.Rand) string {
	var b strings.Builder
	for n := r.IntN(6) + 1; n > 0; n-- {
		if r.IntN(2) == 0 {
			b.WriteString(hostile[r.IntN(len(hostile))])
		} else {
			b.WriteByte(byte('a' + r.IntN(26)))
		}
	}
	return b.String()
}

// A display name or label can never add, remove or change a key: the parsed
// file has exactly the keys of a plain render, and the value is the sanitised name.
func TestEscapingProperty(t *testing.T) {
	s := loadDefault(t)
	for vendor, keys := range displayKey {
		m, _ := s.Catalog.Model(vendor, representative[vendor][len(representative[vendor])-1])
		var macFile string
		for _, f := range m.Files {
			if f.Secrets {
				macFile = f.Pattern
			}
		}
		base := scenario("single", m)
		base.Lines[0].Label = "plain"
		file := ""
		for _, f := range m.Files {
			if f.Pattern == macFile {
				file = f.Name(base.Mac)
			}
		}
		plain, err := s.Render(base, file, goldenNow)
		if err != nil {
			t.Fatal(err)
		}
		plainKV, err := parseFile(vendor, file, plain.Content)
		if err != nil {
			t.Fatal(err)
		}
		check := func(seed uint64) bool {
			r := rand.New(rand.NewPCG(seed, 7))
			name, label := randomName(r), randomName(r)
			p := scenario("single", m)
			p.Lines[0].DisplayName, p.Lines[0].Label = name, label
			res, err := s.Render(p, file, goldenNow)
			if err != nil {
				t.Logf("%s %q: %v", vendor, name, err)
				return false
			}
			kv, err := parseFile(vendor, file, res.Content)
			if err != nil {
				t.Logf("%s %q: %v\n%s", vendor, name, err, res.Content)
				return false
			}
			if !slices.Equal(slices.Sorted(maps.Keys(kv)), slices.Sorted(maps.Keys(plainKV))) {
				t.Logf("%s %q: key set changed", vendor, name)
				return false
			}
			wantName, wantLabel := sanitizeText(name, 64), sanitizeText(label, 32)
			if wantLabel == "" {
				wantLabel = p.Lines[0].Extension
			}
			if kv[keys[0]] != wantName {
				t.Logf("%s: display name %q parsed as %q, want %q", vendor, name, kv[keys[0]], wantName)
				return false
			}
			if keys[1] != "" && kv[keys[1]] != wantLabel {
				t.Logf("%s: label %q parsed as %q, want %q", vendor, label, kv[keys[1]], wantLabel)
				return false
			}
			for k, v := range kv { // nothing else moved
				if k != keys[0] && k != keys[1] && v != plainKV[k] {
					t.Logf("%s: %s changed from %q to %q", vendor, k, plainKV[k], v)
					return false
				}
			}
			return true
		}
		if err := quick.Check(check, &quick.Config{MaxCount: 300}); err != nil {
			t.Errorf("%s: %v", vendor, err)
		}
	}
}

// Language and codec mappings, for every family: each language a model lists
// renders to the expected key/value, others are refused; codecs come out in
// the profile's order in the vendor's names.
func TestLanguageAndCodecMappings(t *testing.T) {
	s := loadDefault(t)
	langKey := map[string]string{"yealink": "lang.gui", "fanvil": "phone/display/DefaultLanguage", "grandstream": "P1362",
		"snom": "language", "htek": "P8621", "poly": "lcl.ml.lang", "cisco": "Language_Selection"}
	spot := map[string]map[string]string{ // spot checks against the sources
		"yealink":     {"de": "German", "fr-CA": "French_CA", "zh-CN": "Chinese_S", "pt-BR": "Portuguese_LA"},
		"grandstream": {"cs": "cz", "sv": "se", "zh-TW": "zh-tw", "de": "de"},
		"snom":        {"de": "Deutsch", "nl": "Nederlands", "fr": "Français"},
		"poly":        {"de": "German_Germany", "en-GB": "English_United_Kingdom", "sv": "Swedish_Sweden"},
		"cisco":       {"en": "English-US"},
		"htek":        {"en": "0"},
	}
	codecKey := map[string]func(kv map[string]string) []string{
		"yealink": func(kv map[string]string) []string { return ordered(kv, "account.1.codec.", ".priority", ".enable") },
		"fanvil": func(kv map[string]string) []string {
			if v, ok := kv["SIP_CONFIG_MODULE/SIP_Line_List/SIP_Line_List_Entry[SIP1]/VoiceCodecMap"]; ok {
				return strings.Split(v, ",") // legacy <VOIP_CONFIG_FILE>
			}
			return strings.Split(kv["sip/line[1]/VoiceCodecMap"], ",")
		},
		"grandstream": func(kv map[string]string) []string {
			return uniq([]string{kv["P57"], kv["P58"], kv["P59"], kv["P60"], kv["P61"], kv["P62"], kv["P46"]})
		},
		"snom": func(kv map[string]string) []string {
			if _, ok := kv["sip_account/idx[1]/user_id"]; ok { // M100/M500 KLE: <idx> list ended by "none"
				var out []string
				for i := 1; kv[fmt.Sprintf("sip_account/idx[1]/codec_priority/idx[%d]", i)] != "none"; i++ {
					out = append(out, kv[fmt.Sprintf("sip_account/idx[1]/codec_priority/idx[%d]", i)])
				}
				return out
			}
			if v, ok := kv["SRV_0_SIP_UA_CODEC_PRIORITY"]; ok { // m3: numbers ended by 0xFF
				return strings.Split(strings.TrimSuffix(v, ",0xFF"), ",")
			}
			return strings.Split(strings.TrimSuffix(kv["codec_priority_list[1]"], ",telephone-event"), ",")
		},
		"htek": func(kv map[string]string) []string {
			return uniq([]string{kv["P57"], kv["P58"], kv["P59"], kv["P60"], kv["P61"], kv["P62"]})
		},
		"poly": func(kv map[string]string) []string { return ordered(kv, "voice.codecPref.", "", "") },
		"cisco": func(kv map[string]string) []string {
			if v, ok := kv["preferred_codec"]; ok { // 7940/7960: one key
				return []string{v}
			}
			if v, ok := kv["sipProfile/preferredCodec"]; ok { // SEP<MAC>.cnf.xml: one key
				return []string{v}
			}
			var out []string
			for _, k := range []string{"Preferred_Codec_1_", "Second_Preferred_Codec_1_", "Third_Preferred_Codec_1_"} {
				if kv[k] != "Unspecified" {
					out = append(out, kv[k])
				}
			}
			return out
		},
	}
	for _, m := range s.Catalog.Models {
		spec := specFor(m)
		file := ""
		for _, f := range m.Files {
			if f.Secrets {
				file = f.Pattern
			}
		}
		for _, lang := range vocab.Languages {
			p := scenario("single", m)
			p.Language = lang
			name := strings.NewReplacer("{mac}", p.Mac, "{MAC}", strings.ToUpper(p.Mac)).Replace(file)
			r, err := s.Render(p, name, goldenNow)
			if spec.noLanguageKey { // no key at all: rendered without it, with a comment
				if err != nil || !strings.Contains(string(r.Content), "language: not provisionable") {
					t.Errorf("%s %s: %v", m.Name(), lang, err)
				}
				continue
			}
			if !contains(m.Languages, lang) {
				if !isInvalid(err) {
					t.Errorf("%s %s: unsupported language gave %v", m.Name(), lang, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s %s: %v", m.Name(), lang, err)
				continue
			}
			kv, _ := parseFile(m.Vendor, name, r.Content)
			key, want, ok := langKey[m.Vendor], "", false
			if want, ok = spot[m.Vendor][lang]; ok && isSEP(m) { // Wazo _LOCALE's user locale, built in for English only
				key, want = "userLocale/name", map[string]string{"en": "i18n/english_united_states", "en-US": "i18n/english_united_states"}[lang]
			}
			if ok && kv[key] != want {
				t.Errorf("%s %s: %s = %q, want %q", m.Name(), lang, key, kv[key], want)
			}
		}
		if codecKey[m.Vendor] == nil {
			continue
		}
		for _, reverse := range []bool{false, true} {
			p := scenario("single", m)
			p.Codecs = codecList(m, reverse, min(3, len(m.Codecs)))
			name := strings.NewReplacer("{mac}", p.Mac, "{MAC}", strings.ToUpper(p.Mac)).Replace(file)
			r, err := s.Render(p, name, goldenNow)
			if err != nil {
				t.Errorf("%s codecs: %v", m.Name(), err)
				continue
			}
			kv, _ := parseFile(m.Vendor, name, r.Content)
			var want []string
			for _, c := range p.Codecs {
				want = append(want, spec.codecs[vocab.CodecName(c)])
			}
			if m.Var("format") == "sip79" || isSEP(m) { // preferred_codec only; the firmware offers its others itself
				want = want[:1]
			}
			if got := codecKey[m.Vendor](kv); !slices.Equal(got, want) {
				t.Errorf("%s codecs: got %v, want %v", m.Name(), got, want)
			}
		}
	}
}

// ordered returns the codec names of keys prefix+name+suffix with priority > 0, by priority.
func ordered(kv map[string]string, prefix, suffix, enableSuffix string) []string {
	type pc struct {
		name string
		prio string
	}
	var list []pc
	for k, v := range kv {
		if strings.HasPrefix(k, prefix) && strings.HasSuffix(k, suffix) && v != "0" {
			name := strings.TrimSuffix(strings.TrimPrefix(k, prefix), suffix)
			if strings.Contains(name, ".") {
				continue
			}
			if enableSuffix != "" && kv[prefix+name+enableSuffix] != "1" {
				continue
			}
			list = append(list, pc{name, v})
		}
	}
	slices.SortFunc(list, func(a, b pc) int { return len(a.prio)*100 - len(b.prio)*100 + strings.Compare(a.prio, b.prio) })
	var out []string
	for _, x := range list {
		out = append(out, x.name)
	}
	return out
}

func uniq(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// The same property for Gigaset's <ProviderFrame> (N510, N720): strings sit
// inside '"…"' in an ISO-8859-1 file, so a '"' in a name becomes "'" and a
// character beyond Latin-1 "?"; no name adds, removes or changes another key.
func TestEscapingPropertyProviderFrame(t *testing.T) {
	s := loadDefault(t)
	for _, c := range []struct {
		model string
		name  []string // keys holding the display name
		label []string // keys holding the label
	}{
		{"N510", []string{"BS_IP_Data1.aucS_SIP_DISPLAYNAME", "BS_Accounts.astAccounts[0].aucAccountName[0]"},
			[]string{"BS_IP_Data1.aucS_SIP_ACCOUNT_NAME_1", "BS_AE_Subscriber.stMtDat[0].aucTlnName"}},
		{"N720", []string{"BS_VOIP_Data.astVoipAccounts[0].aucS_SIP_DISPLAYNAME[0]"}, nil},
	} {
		m, _ := s.Catalog.Model("gigaset", c.model)
		base := scenario("single", m)
		base.Lines[0].Label = "plain"
		file := strings.ToUpper(base.Mac) + ".xml"
		plain, err := s.Render(base, file, goldenNow)
		if err != nil {
			t.Fatal(err)
		}
		plainKV, err := parseFile("gigaset", file, plain.Content)
		if err != nil {
			t.Fatal(err)
		}
		fix := func(s string) string {
			s = strings.ReplaceAll(s, `"`, "'")
			return strings.Map(func(r rune) rune {
				if r > 0xff {
					return '?'
				}
				return r
			}, s)
		}
		check := nameLabelProperty(t, s, m, "gigaset", file, c.name, c.label, plainKV, fix)
		if err := quick.Check(check, &quick.Config{MaxCount: 300}); err != nil {
			t.Errorf("%s: %v", c.model, err)
		}
	}
}

// The same property for Snom's M100/M500 KLE <settings> modules (XML text) and
// the m3's %KEY%:"value" lines (a '"' in a name becomes "'", a control
// character a space): no name adds, removes or changes another key.
func TestEscapingPropertySnomKLEAndM3(t *testing.T) {
	s := loadDefault(t)
	for _, c := range []struct {
		model, ext   string
		name, label  []string
		quotedString bool
	}{
		{"M100KLE", ".xml", []string{"sip_account/idx[1]/display_name"},
			[]string{"sip_account/idx[1]/label", "hs_settings/idx[1]/handset_name"}, false},
		{"M500KLE", ".xml", []string{"sip_account/idx[1]/display_name"},
			[]string{"sip_account/idx[1]/label", "hs_settings/idx[1]/handset_name"}, false},
		{"m3", ".cfg", []string{"SUBSCR_0_UA_DATA_DISP_NAME"}, nil, true},
	} {
		m, _ := s.Catalog.Model("snom", c.model)
		base := scenario("single", m)
		base.Lines[0].Label = "plain"
		file := base.Mac + c.ext
		plain, err := s.Render(base, file, goldenNow)
		if err != nil {
			t.Fatal(err)
		}
		plainKV, err := parseFile("snom", file, plain.Content)
		if err != nil {
			t.Fatal(err)
		}
		fix := func(s string) string {
			if c.quotedString {
				s = strings.ReplaceAll(escCfg(s), `"`, "'")
			}
			return s
		}
		check := nameLabelProperty(t, s, m, "snom", file, c.name, c.label, plainKV, fix)
		if err := quick.Check(check, &quick.Config{MaxCount: 300}); err != nil {
			t.Errorf("%s: %v", c.model, err)
		}
	}
}

// The same property for the Cisco SEP<MAC>.cnf.xml <device> (79x1/797x/894x):
// the display name is element text in <displayName> and <phoneLabel>, the
// label in <featureLabel>; XML escaping keeps every other element as it was.
func TestEscapingPropertyCiscoSEP(t *testing.T) {
	s := loadDefault(t)
	for _, model := range []string{"7911G", "7961G", "8945"} {
		m, _ := s.Catalog.Model("cisco", model)
		base := scenario("single", m)
		base.Lines[0].Label = "plain"
		file := "SEP" + strings.ToUpper(base.Mac) + ".cnf.xml"
		plain, err := s.Render(base, file, goldenNow)
		if err != nil {
			t.Fatal(err)
		}
		plainKV, err := parseFile("cisco", file, plain.Content)
		if err != nil {
			t.Fatal(err)
		}
		check := nameLabelProperty(t, s, m, "cisco", file, []string{"line[1]/displayName", "sipProfile/phoneLabel"},
			[]string{"line[1]/featureLabel"}, plainKV, func(s string) string { return s })
		if err := quick.Check(check, &quick.Config{MaxCount: 300}); err != nil {
			t.Errorf("%s: %v", model, err)
		}
	}
}

// The m3 quotes its strings with '"' and has no escape for one: an id or
// secret holding '"' is refused naming the field, not written broken.
func TestSnomM3RefusesQuoteInSecrets(t *testing.T) {
	s := loadDefault(t)
	m, _ := s.Catalog.Model("snom", "m3")
	for _, set := range []func(p *provisioningv1.ProvisioningProfile){
		func(p *provisioningv1.ProvisioningProfile) { p.Lines[0].Password = `pw"x` },
		func(p *provisioningv1.ProvisioningProfile) { p.Lines[0].Extension = `20"1` },
		func(p *provisioningv1.ProvisioningProfile) { p.Lines[0].AuthUser = `a"b` },
	} {
		p := scenario("single", m)
		set(p)
		if _, err := s.Render(p, p.Mac+".cfg", goldenNow); !isInvalid(err) {
			t.Errorf("quote in an m3 id/secret: %v, want InvalidArgument", err)
		}
	}
}

// nameLabelProperty is the check of the escaping property tests above: a
// random display name and label render the keys nameKeys and labelKeys as
// fix makes them, and leave every other key of the plain render as it was.
func nameLabelProperty(t *testing.T, s *Set, m *catalog.Model, vendor, file string, nameKeys, labelKeys []string,
	plainKV map[string]string, fix func(string) string) func(uint64) bool {
	return func(seed uint64) bool {
		r := rand.New(rand.NewPCG(seed, 7))
		name, label := randomName(r), randomName(r)
		p := scenario("single", m)
		p.Lines[0].DisplayName, p.Lines[0].Label = name, label
		res, err := s.Render(p, file, goldenNow)
		if err != nil {
			t.Logf("%s %q: %v", m.Model, name, err)
			return false
		}
		kv, err := parseFile(vendor, file, res.Content)
		if err != nil {
			t.Logf("%s %q: %v\n%s", m.Model, name, err, res.Content)
			return false
		}
		if !slices.Equal(slices.Sorted(maps.Keys(kv)), slices.Sorted(maps.Keys(plainKV))) {
			t.Logf("%s %q: key set changed", m.Model, name)
			return false
		}
		wantLabel := sanitizeText(label, 32)
		if wantLabel == "" {
			wantLabel = p.Lines[0].Extension
		}
		want := map[string]string{}
		for _, k := range nameKeys {
			want[k] = fix(sanitizeText(name, 64))
		}
		for _, k := range labelKeys {
			want[k] = fix(wantLabel)
		}
		for k, v := range kv {
			w, ok := want[k]
			if !ok {
				w = plainKV[k]
			}
			if v != w {
				t.Logf("%s: %s = %q, want %q (name %q, label %q)", m.Model, k, v, w, name, label)
				return false
			}
		}
		return true
	}
}
