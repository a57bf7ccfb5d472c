package render

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/dialtone-voip/dialtone/services/config-renderer/internal/catalog"
	"github.com/dialtone-voip/dialtone/services/config-renderer/internal/tzrules"
)

// vendorSpec is one vendor's encodings. Sources for every value are in the
// comments and in README.md ("Vendor encodings"); "(inferred)" and "(not
// verified)" mark values no consulted source states directly.
type vendorSpec struct {
	format        string
	transports    map[string]string
	expiryMinutes bool
	expiryHours   bool
	codecs        map[string]string // neutral name -> vendor name
	codecOrder    []string          // neutral names, for the disabled list
	maxCodecs     int
	slots         func([]Codec) []Slot
	languages     map[string]string
	webLanguages  map[string]string
	langVariants  map[string]map[string]string // by the model's "lang" variable
	tz            func(*tzrules.Rules) (*TZ, error)
	lineKeys      func(m *catalog.Model, idx int) map[string]string
	maxDisable    int // accounts beyond this are not listed as Unused (huge DECT bases)
	// noCodecKey / noLanguageKey: the vendor has no provisioning key for codecs /
	// display language at all; a profile's value is left out (with a comment in
	// the file) instead of refused.
	noCodecKey, noLanguageKey bool
	alwaysDisabled            []string // vendor codec names with no neutral name
	// variants are other file formats of the same vendor, chosen by the
	// model's "format" catalog variable (Fanvil "vcf": <VOIP_CONFIG_FILE>,
	// Gigaset "pf510"/"pf720": <ProviderFrame>).
	variants map[string]*vendorSpec
	// hex: the format writes numbers in hex ("0x13c4"); the view then carries
	// Server.PortHex, OutboundPortHex and ExpiryHex.
	hex bool
	// latin1: the file is ISO-8859-1 (the reference's XML declaration); ids and
	// secrets must be representable, display names lose what is not.
	latin1 bool
	// quotedStrings: string values are written inside '"…"' (<ProviderFrame>
	// value='"…"'), so no value may hold a '"': ids and secrets with one are
	// refused, display names get "'" instead.
	quotedStrings bool
}

// fanvilLegacyLanguages: <VOIP_CONFIG_FILE> <Language> numbers (WZ:plugins/wazo_fanvil/serie_x/entry.py _LOCALE).
var fanvilLegacyLanguages = map[string]string{"en": "0", "en-US": "0", "en-GB": "0", "fr": "4", "fr-CA": "4", "de": "16", "es": "10",
	"es-419": "10", "it": "7", "nl": "3"}

// specFor is the vendor spec for m's file format.
func specFor(m *catalog.Model) *vendorSpec {
	sp := specs[m.Vendor]
	if sp == nil {
		return nil
	}
	if alt, ok := sp.variants[m.Var("format")]; ok {
		return alt
	}
	return sp
}

var specs = map[string]*vendorSpec{
	// Yealink: vendor-configs.md §1.3 (WZ:plugins/wazo_yealink/v86/templates/base.tpl,
	// FP:resources/templates/provision/yealink/t46u/{$mac}.cfg).
	"yealink": {
		format:     fmtCfg,
		transports: map[string]string{"udp": "0", "tcp": "1", "tls": "2"},
		codecs: map[string]string{"pcmu": "pcmu", "pcma": "pcma", "g722": "g722", "g729": "g729", "opus": "opus",
			"g726-32": "g726_32", "ilbc": "ilbc", "g723": "g723_63"},
		codecOrder: []string{"pcmu", "pcma", "g722", "g729", "opus", "g726-32", "ilbc", "g723"},
		// lang.gui: the Yealink GUI language packs (WZ:plugins/wazo_yealink/v83/var/tftpboot/lang/*:
		// English, Chinese_S, Chinese_T, French_CA, French, German, Italian, Polish, Portuguese,
		// Portuguese_LA, Spanish, Spanish_LA, Turkish, Russian). There is no Czech pack: "" leaves
		// the LCD language alone.
		languages: map[string]string{"en": "English", "en-US": "English", "en-GB": "English", "de": "German",
			"fr": "French", "fr-CA": "French_CA", "es": "Spanish", "es-419": "Spanish_LA", "it": "Italian",
			"pt": "Portuguese", "pt-BR": "Portuguese_LA", "pl": "Polish", "ru": "Russian", "tr": "Turkish",
			"zh-CN": "Chinese_S", "zh-TW": "Chinese_T", "cs": ""},
		// lang.wui: the web UI list is another one, "English, Chinese_S, Turkish, Portuguese,
		// Spanish, Italian, French, Russian, Deutsch and Czech"
		// (FP:resources/templates/provision/yealink/cp860/y000000000037.cfg); regional variants
		// take the base language, as Wazo sends French for fr_CA to both keys
		// (WZ:plugins/wazo_yealink/common/common.py _LOCALE, v80/templates/base.tpl). No value (zh-TW, pl) leaves the web language alone.
		webLanguages: map[string]string{"en": "English", "en-US": "English", "en-GB": "English", "de": "Deutsch",
			"fr": "French", "fr-CA": "French", "es": "Spanish", "es-419": "Spanish", "it": "Italian",
			"pt": "Portuguese", "pt-BR": "Portuguese", "ru": "Russian", "tr": "Turkish", "zh-CN": "Chinese_S", "cs": "Czech"},
		tz:         tzYealink,
		maxDisable: 1000,
	},
	// Fanvil <sysConf>: §5.3 (WZ:plugins/wazo_fanvil/common/templates/base-new.tpl, common.py).
	"fanvil": {
		format:     fmtXML,
		transports: map[string]string{"udp": "0", "tcp": "1", "tls": "3"},
		codecs: map[string]string{"pcmu": "PCMU", "pcma": "PCMA", "g722": "G722", "g729": "G729", "opus": "OPUS",
			"g726-32": "G726-32", "ilbc": "iLBC", "g723": "G723", "amr-wb": "AMR-WB"},
		codecOrder: []string{"pcmu", "pcma", "g722", "g729", "opus", "g726-32", "ilbc", "g723", "amr-wb"},
		// <sysConf> DefaultLanguage is a language code on every model that reads
		// sysConf (FP:resources/templates/provision/fanvil/{x6,x5s,x3sg,x4u}/{$mac}.cfg:
		// <DefaultLanguage>en</DefaultLanguage>; WZ:plugins/wazo_fanvil/v2_3/entry.py
		// _LOCALE); numbers belong to <VOIP_CONFIG_FILE>'s <Language> (fanvilLegacyLanguages).
		languages: map[string]string{"en": "en", "en-US": "en", "en-GB": "en", "zh-CN": "cn", "zh-TW": "tc", "ru": "ru", "it": "it",
			"fr": "fr", "fr-CA": "fr", "de": "de", "he": "he", "es": "es", "es-419": "es", "ca": "cat", "tr": "tr",
			"hr": "hr", "sk": "slo", "cs": "cz", "nl": "nl", "ko": "ko", "uk": "ua", "pt": "pt", "pt-BR": "pt",
			"pl": "pl", "ar": "ar"},
		tz:         tzFanvil,
		maxDisable: 1000,
	},
	// Grandstream P-values: §3.3 (FP:resources/templates/provision/grandstream/grp2614/{$mac}.xml,
	// gxp16xx; WZ:plugins/wazo_grandstream/common/templates/base.tpl).
	"grandstream": {
		format:        fmtXML,
		transports:    map[string]string{"udp": "0", "tcp": "1", "tls": "2"},
		expiryMinutes: true, // P32 is in minutes
		// Opus is 123 in the P57.. choice slots ("0 - PCMU, 8 - PCMA, 9 - G.722, 2 - G.726-32,
		// 18 - G729A/B, 98 - iLBC, 123 - Opus": FP:resources/templates/provision/grandstream/
		// gxv3240/{$mac}.xml, also wp820, gswave, gac2500).
		codecs:     map[string]string{"pcmu": "0", "pcma": "8", "g722": "9", "g729": "18", "g726-32": "2", "g723": "4", "ilbc": "98", "opus": "123"},
		codecOrder: []string{"pcmu", "pcma", "g722", "g729", "g726-32", "g723", "ilbc", "opus"},
		// 7 choice slots (P57..P62, P46; P451..P457 for account 2); models with
		// "codec_slots": "8" (GRP26xx) have an 8th (P98, P458, P558, P658, P758, P858:
		// FP:resources/templates/provision/grandstream/grp26xx/{$mac}.xml), which
		// must be written too or its default (Opus, 123) stays enabled.
		maxCodecs: 7,
		languages: map[string]string{"en": "en", "en-US": "en", "en-GB": "en", "ar": "ar", "cs": "cz", "de": "de", "es": "es",
			"es-419": "es", "fr": "fr", "fr-CA": "fr", "he": "he", "hr": "hr", "hu": "hu", "it": "it", "ja": "ja", "ko": "ko",
			"lv": "lv", "nl": "nl", "pl": "pl", "pt": "pt", "pt-BR": "pt", "ru": "ru", "sl": "sl", "sv": "se", "tr": "tr",
			"zh-CN": "zh", "zh-TW": "zh-tw"},
		tz:         tzPOSIX,
		lineKeys:   gsLineKeys,
		maxDisable: 1000,
	},
	// Snom <settings>: §4.3 (WZ:plugins/wazo_snom/common/templates/base.tpl, FP:.../snom/D785/{$mac}.xml, [D23]).
	"snom": {
		format:     fmtXML,
		transports: map[string]string{"udp": "udp", "tcp": "tcp", "tls": "tls"},
		// "opus" as a codec_priority_list token is not verified (neither Wazo's nor
		// FusionPBX's Snom templates list Opus; see README "Vendor encodings").
		codecs:     map[string]string{"pcmu": "pcmu", "pcma": "pcma", "g722": "g722", "g729": "g729", "gsm": "gsm", "g723": "g723", "g726-32": "g726-32", "opus": "opus"},
		codecOrder: []string{"pcmu", "pcma", "g722", "g729", "gsm", "g723", "g726-32", "opus"},
		// language values: WZ:plugins/wazo_snom/common/common.py _LOCALE (Deutsch, English,
		// Espanol without tilde, Français, Italiano, Nederlands); Portugues is the name of
		// Snom's gui_lang_PT.xml/web_lang_PT.xml packs (amooma/GS3
		// opt/gemeinschaft/htdocs/prov/snom/settings.php; Snom wiki "Setting Files/XML/Language").
		// The same name goes in web_language (FP:.../snom/D785/{$mac}.xml).
		languages: map[string]string{"en": "English", "en-US": "English", "en-GB": "English", "de": "Deutsch",
			"fr": "Français", "fr-CA": "Français", "es": "Espanol", "es-419": "Espanol", "it": "Italiano",
			"nl": "Nederlands", "pt": "Portugues", "pt-BR": "Portugues"},
		tz:         tzSnom,
		maxDisable: 1000,
	},
	// Gigaset Nx70: §8.1 (WZ:plugins/wazo_gigaset/Nx70_83_v2_65_0/common.py, templates/base.tpl).
	// No provisioning key for codecs or display language is known (§8.1; Wazo's
	// N870 base.tpl sets neither): a profile's codecs and language are left out
	// of the file with a comment, not refused.
	"gigaset": {
		format:        fmtXML,
		transports:    map[string]string{"udp": "1", "tcp": "2", "tls": "3"},
		noCodecKey:    true,
		noLanguageKey: true,
		tz:            tzGigaset,
		maxDisable:    0, // handsets are added per line; unused ones are simply not provisioned
	},
	// Htek: §7.3 (WZ:plugins/wazo_htek/v2_0_4_4_58/templates/base.tpl, common/common.py; FP:.../htek/uc926).
	"htek": {
		format:     fmtXML,
		transports: map[string]string{"udp": "0", "tcp": "1", "tls": "2"},
		// P32 is in hours: Wazo writes 1 (WZ:plugins/wazo_htek/v2_0_4_4_58/templates/base.tpl)
		// and FusionPBX 2 (FP:resources/templates/provision/htek/uc926/{$mac}.cfg), values
		// that only make sense as hours.
		expiryHours: true,
		codecs:      map[string]string{"pcmu": "0", "pcma": "8", "g722": "9", "g729": "18", "g726-32": "2", "g723": "4", "opus": "120"},
		codecOrder:  []string{"pcmu", "pcma", "g722", "g729", "g726-32", "g723", "opus"},
		maxCodecs:   6,
		// P8621 LCD language: only 0 = English is attested (FP:.../htek/uc926/{$mac}.cfg).
		languages:  map[string]string{"en": "0", "en-US": "0"},
		tz:         tzHtek,
		lineKeys:   func(_ *catalog.Model, n int) map[string]string { return htekKeyCache.get(n) },
		maxDisable: 16,
	},
	// Poly UC Software: §2.3 (WZ:plugins/wazo_polycom/common/templates/base.tpl, common.py; FP:.../polycom/6.x).
	"poly": {
		format:     fmtXML,
		transports: map[string]string{"udp": "UDPOnly", "tcp": "TCPOnly", "tls": "TLS"},
		// voice.codecPref.<name>, 0 disables, 1+ orders (FP:app/polycom/app_config.php;
		// names from FP:resources/templates/provision/polycom/ccx500/{$mac}.cfg).
		codecs:     map[string]string{"pcmu": "G711_Mu", "pcma": "G711_A", "g722": "G722", "g729": "G729_AB", "opus": "Opus"},
		codecOrder: []string{"pcmu", "pcma", "g722", "g729", "opus"},
		// Codecs outside the neutral list: disabled whenever the profile sets a
		// list, so that none stays on at its firmware default.
		alwaysDisabled: []string{"G7221.16kbps", "G7221.24kbps", "G7221.32kbps", "G7221_C.24kbps", "G7221_C.32kbps",
			"G7221_C.48kbps", "Siren14.48kbps", "Siren22.64kbps"},
		languages: map[string]string{"en": "English_United_States", "en-US": "English_United_States",
			"en-GB": "English_United_Kingdom", "de": "German_Germany", "es": "Spanish_Spain", "fr": "French_France",
			"fr-CA": "French_Canada", "it": "Italian_Italy", "nl": "Dutch_Netherlands", "zh-CN": "Chinese_China",
			"da": "Danish_Denmark", "ja": "Japanese_Japan", "ko": "Korean_Korea", "nb": "Norwegian_Norway",
			"pl": "Polish_Poland", "pt": "Portuguese_Portugal", "ru": "Russian_Russia", "sl": "Slovenian_Slovenia",
			"sv": "Swedish_Sweden"},
		tz:         tzPoly,
		maxDisable: 1000,
	},
	// Cisco MPP 3PCC <flat-profile>: §6.3 (FP:resources/templates/provision/cisco/8841/{$mac}.xml,
	// WZ:plugins/wazo_cisco_sip/v11_3_1; DST rule [D30]).
	"cisco": {
		format:     fmtXML,
		transports: map[string]string{"udp": "UDP", "tcp": "TCP", "tls": "TLS"},
		// OPUS as a Preferred_Codec value is not verified: FP:.../cisco/8845/{$mac}.xml
		// names the codec OPUS (OPUS_Codec_Name, OPUS_Enable_1_) but no template selects it.
		codecs:     map[string]string{"pcmu": "G711u", "pcma": "G711a", "g722": "G722", "g729": "G729a", "ilbc": "iLBC", "opus": "OPUS"},
		codecOrder: []string{"pcmu", "pcma", "g722", "g729", "ilbc", "opus"},
		maxCodecs:  3, // Preferred, Second, Third; Use_Pref_Codec_Only keeps the rest off
		slots:      ciscoSlots,
		// Other languages need a dictionary server (Dictionary_Server_Script); only English is built in.
		languages:  map[string]string{"en": "English-US", "en-US": "English-US"},
		tz:         tzCisco,
		maxDisable: 1000,
	},
}

func init() {
	specs["grandstream"].slots = slotsOf([]string{"P57", "P58", "P59", "P60", "P61", "P62", "P46"})
	gsSlots8 = slotsOf([]string{"P57", "P58", "P59", "P60", "P61", "P62", "P46", "P98"})
	specs["htek"].slots = slotsOf([]string{"P57", "P58", "P59", "P60", "P61", "P62"})
	specs["snom"].webLanguages = specs["snom"].languages
	// Fanvil legacy <VOIP_CONFIG_FILE> (X2, X3, X3S, X3SG, X4, X5, X5S, X6, X6V2 in
	// WZ:plugins/wazo_fanvil/common/templates/base.tpl; X2P, X3G, X3SP, X4, X4G, H5 in
	// FP:resources/templates/provision/fanvil/<model>/{$mac}.cfg): TLS is 2 there
	// (FP x4: `sip_transport == 'tls'` → <Transport>2), codecs are named G711U/G711A
	// in <VoiceCodecMap> (FP x4), the language is the number in <Language>
	// (WZ serie_x/entry.py _LOCALE).
	fv := *specs["fanvil"]
	fv.transports = map[string]string{"udp": "0", "tcp": "1", "tls": "2"}
	fv.codecs = map[string]string{"pcmu": "G711U", "pcma": "G711A", "g722": "G722", "g729": "G729", "g726-32": "G726-32", "g723": "G723"}
	fv.codecOrder = []string{"pcmu", "pcma", "g722", "g729", "g726-32", "g723"}
	fv.languages = fanvilLegacyLanguages
	specs["fanvil"].variants = map[string]*vendorSpec{"vcf": &fv}
	specs["gigaset"].variants = map[string]*vendorSpec{"pf510": gigasetPF, "pf720": gigasetPF}
	specs["snom"].variants = map[string]*vendorSpec{"kle": snomKLE, "m3": snomM3}
	specs["cisco"].variants = map[string]*vendorSpec{"sip79": cisco79, "sep": ciscoSEP}
}

// ciscoSEP: the <device> XML of the 79x1/79x2/797x/8941/8945 SIP firmware,
// SEP<MAC>.cnf.xml fetched by TFTP through the pnp-listener's TFTP front
// (FP:resources/templates/provision/cisco/79x1/SEP{$mac}.cnf.xml;
// WZ:plugins/wazo_cisco_sip/common/templates/base.tpl, common/common.py).
// transportLayerProtocol: Wazo's _SIP_TRANSPORT (tcp 1, udp 2, tls 3); TLS is
// left out: the phone trusts a TLS server only through the CTL/ITL files a
// Cisco call manager signs, which Dialtone does not serve. preferredCodec:
// "G722" as FusionPBX writes it; g711ulaw/g711alaw are the names the
// 7940/7960 SIP firmware uses for its preferred_codec (FP:.../cisco/7960/
// SIPDefault.cnf) (inferred for this firmware). The language is Wazo's
// _LOCALE triple (user locale name, lang code, network locale); only English
// is built in: other locales need Cisco's locale files under i18n/, which the
// TFTP front does not relay (names with '/' are refused).
var ciscoSEP = &vendorSpec{
	format:       fmtXML,
	transports:   map[string]string{"udp": "2", "tcp": "1"},
	codecs:       map[string]string{"pcmu": "g711ulaw", "pcma": "g711alaw", "g722": "G722"},
	codecOrder:   []string{"pcmu", "pcma", "g722"},
	languages:    map[string]string{"en": "english_united_states", "en-US": "english_united_states"},
	webLanguages: map[string]string{"en": "en", "en-US": "en"}, // <langCode>
	tz:           tzCiscoSEP,
}

// ciscoSEPZones is Wazo's _ZONE_MAP, in its order
// (WZ:plugins/wazo_cisco_sip/common/common.py; the same table is in
// plugins/wazo_cisco_sccp/common/common.py): an IANA zone and the Cisco
// timeZone name for zones with its rules. Wazo writes five names with a
// trailing space ("Samoa Standard Time "); Cisco's names have none, so it is
// dropped here.
var ciscoSEPZones = []struct{ zone, name string }{
	{"Etc/GMT+12", "Dateline Standard Time"},
	{"Pacific/Samoa", "Samoa Standard Time"},
	{"US/Hawaii", "Hawaiian Standard Time"},
	{"US/Alaska", "Alaskan Standard/Daylight Time"},
	{"US/Pacific", "Pacific Standard/Daylight Time"},
	{"US/Mountain", "Mountain Standard/Daylight Time"},
	{"Etc/GMT+7", "US Mountain Standard Time"},
	{"US/Central", "Central Standard/Daylight Time"},
	{"America/Mexico_City", "Mexico Standard/Daylight Time"},
	{"US/Eastern", "Eastern Standard/Daylight Time"},
	{"Etc/GMT+5", "US Eastern Standard Time"},
	{"Canada/Atlantic", "Atlantic Standard/Daylight Time"},
	{"Etc/GMT+4", "SA Western Standard Time"},
	{"Canada/Newfoundland", "Newfoundland Standard/Daylight Time"},
	{"America/Sao_Paulo", "South America Standard/Daylight Time"},
	{"Etc/GMT+3", "SA Eastern Standard Time"},
	{"Etc/GMT+2", "Mid-Atlantic Standard/Daylight Time"},
	{"Atlantic/Azores", "Azores Standard/Daylight Time"},
	{"Europe/London", "GMT Standard/Daylight Time"},
	{"Etc/GMT", "Greenwich Standard Time"},
	{"Egypt", "Egypt Standard/Daylight Time"},
	{"Europe/Athens", "E. Europe Standard/Daylight Time"},
	{"Europe/Paris", "Central Europe Standard/Daylight Time"},
	{"Africa/Johannesburg", "South Africa Standard Time"},
	{"Asia/Jerusalem", "Jerusalem Standard/Daylight Time"},
	{"Asia/Riyadh", "Saudi Arabia Standard Time"},
	{"Europe/Moscow", "Russian Standard/Daylight Time"},
	{"Iran", "Iran Standard/Daylight Time"},
	{"Etc/GMT-4", "Arabian Standard Time"},
	{"Asia/Kabul", "Afghanistan Standard Time"},
	{"Etc/GMT-5", "West Asia Standard Time"},
	{"Asia/Calcutta", "India Standard Time"},
	{"Etc/GMT-6", "Central Asia Standard Time"},
	{"Etc/GMT-7", "SE Asia Standard Time"},
	{"Asia/Taipei", "Taipei Standard Time"},
	{"Asia/Tokyo", "Tokyo Standard Time"},
	{"Australia/ACT", "Cen. Australia Standard/Daylight Time"},
	{"Australia/Brisbane", "AUS Central Standard Time"},
	{"Etc/GMT-10", "West Pacific Standard Time"},
	{"Australia/Tasmania", "Tasmania Standard/Daylight Time"},
	{"Etc/GMT-11", "Central Pacific Standard Time"},
	{"Etc/GMT-12", "Fiji Standard Time"},
}

// tzCiscoSEP names the zone as Wazo does: the table entry whose offsets and
// DST rule for the year equal the zone's, the later entry winning where two
// have the same rules (Wazo keys a dict by offset and DST rule, so a later
// zone overwrites an earlier one: Australia/Tasmania over Australia/ACT).
// Where no entry has the zone's rules, V["name"] is "" and the file leaves
// the phone's own zone (with a comment) rather than Wazo's nearby-offset or
// US-Eastern fallbacks, which would set a wrong clock.
func tzCiscoSEP(r *tzrules.Rules) (*TZ, error) {
	name := ""
	for _, z := range ciscoSEPZones {
		if cr, err := tzrules.For(z.zone, r.Year); err == nil && sameRules(r, cr) {
			name = z.name
		}
	}
	return &TZ{Zone: r.Zone, HasDST: r.HasDST, V: map[string]string{"name": name}}, nil
}

// cisco79: the 7940/7960 SIP firmware's 'key: "value"' files (FP:resources/templates/
// provision/cisco/7960/SIPDefault.cnf, SIP{$mac}.cnf), fetched by TFTP through the
// pnp-listener's TFTP front. Account n is line<n>_* and proxy<n>_*. The templates set
// no transport (UDP only here) and no language; preferred_codec takes one of
// g711ulaw, g711alaw, g729 (SIPDefault.cnf comment). time_zone takes Cisco's
// abbreviations (FP $cisco_time_zone, no table given), so the zone is left to the
// phone.
var cisco79 = &vendorSpec{
	format:        fmtCfg,
	transports:    map[string]string{"udp": "udp"},
	codecs:        map[string]string{"pcmu": "g711ulaw", "pcma": "g711alaw", "g729": "g729"},
	codecOrder:    []string{"pcmu", "pcma", "g729"},
	noLanguageKey: true,
	tz:            func(r *tzrules.Rules) (*TZ, error) { return &TZ{Zone: r.Zone, HasDST: r.HasDST}, nil },
	quotedStrings: true,
}

// snomKLE: the <settings> module format of the Snom M100 KLE and M500 KLE DECT
// bases (FP:resources/templates/provision/snom/M100KLE/{$mac}.xml, M500KLE/{$mac}.xml).
// codec_priority tokens are the template's (g711u g711a g729 g726 g722 ilbc, "none"
// ends the list); transport_mode gets FusionPBX's sip_transport value (udp/tcp/tls);
// selected_timezone is an Olson name (the template's default America/New_York), so
// the zone is written as given and the base applies DST itself. The template has no
// language key.
var snomKLE = &vendorSpec{
	format:        fmtXML,
	transports:    map[string]string{"udp": "udp", "tcp": "tcp", "tls": "tls"},
	codecs:        map[string]string{"pcmu": "g711u", "pcma": "g711a", "g729": "g729", "g726-32": "g726", "g722": "g722", "ilbc": "ilbc"},
	codecOrder:    []string{"pcmu", "pcma", "g729", "g726-32", "g722", "ilbc"},
	noLanguageKey: true,
	tz:            tzOlson,
	maxDisable:    1000,
}

// snomM3: the "%KEY%:value" format of the Snom m3 (FP:resources/templates/provision/
// snom/m3/{$mac}.cfg): strings inside '"…"', account n in SUBSCR_<n-1>_ and
// SRV_<n-1>_ keys. The template sets no transport (UDP only here), no language and
// no time zone (%GMT_TIME_ZONE% is commented out, its encoding unknown); codec
// numbers from its commented %SRV_n_SIP_UA_CODEC_PRIORITY%:0,1,3,4,0xFF (0xFF ends
// the list; which number is which codec is not verified: 0 G.711u, 1 G.711a, 3 G.729,
// 4 G.726 is assumed; amooma/GS3 opt/gemeinschaft/htdocs/prov/snom/settings-m3.php
// sends 1,0,3,4,0xFF; no source names the numbers).
var snomM3 = &vendorSpec{
	format:        fmtCfg,
	transports:    map[string]string{"udp": "udp"},
	codecs:        map[string]string{"pcmu": "0", "pcma": "1", "g729": "3", "g726-32": "4"},
	codecOrder:    []string{"pcmu", "pcma", "g729", "g726-32"},
	noLanguageKey: true,
	tz:            func(r *tzrules.Rules) (*TZ, error) { return &TZ{Zone: r.Zone, HasDST: r.HasDST}, nil },
	lineKeys:      func(_ *catalog.Model, n int) map[string]string { return snomM3KeyCache.get(n) },
	quotedStrings: true,
}

var snomM3KeyCache = &keyCache{build: func(n int) map[string]string { return map[string]string{"i": strconv.Itoa(n - 1)} }}

// tzOlson writes the zone as its IANA name (Snom KLE selected_timezone).
func tzOlson(r *tzrules.Rules) (*TZ, error) {
	return &TZ{Zone: r.Zone, HasDST: r.HasDST, V: map[string]string{"name": r.Zone}}, nil
}

// gigasetPF: the <ProviderFrame> format of the N510 IP PRO and the N720 DM/IP PRO
// multicell (WZ:plugins/wazo_gigaset/N510/templates/base.tpl, N720/templates/base.tpl,
// common/common.py). Codec ids from the N510 template's comment "0x00(G.711ulaw),
// 0x01(G.711alaw),0x02(G.726),0x03(G.729),0x05(G722)"; web-UI language ids from its
// comment "English=0x1,German=0x2,Spanish=0x4,Italian=0x7,French=0x9,Dutch=0xa,
// Turkish=0x10,Polski=0x11" (ucI_HTTPLANGUAGE: the web UI's language; no handset
// language key is known). Transport: only UDP appears (N720
// ucSIP_PREFERRED_TRANSPORT_LAYER 17, the IP protocol number; the N510 has no key).
var gigasetPF = &vendorSpec{
	format:     fmtXML,
	transports: map[string]string{"udp": "17"},
	codecs:     map[string]string{"pcmu": "0x00", "pcma": "0x01", "g726-32": "0x02", "g729": "0x03", "g722": "0x05"},
	codecOrder: []string{"pcmu", "pcma", "g722", "g729", "g726-32"},
	languages: map[string]string{"en": "0x1", "en-US": "0x1", "en-GB": "0x1", "de": "0x2", "es": "0x4", "es-419": "0x4",
		"it": "0x7", "fr": "0x9", "fr-CA": "0x9", "nl": "0xa", "tr": "0x10", "pl": "0x11"},
	tz:            tzGigasetPF,
	lineKeys:      func(_ *catalog.Model, n int) map[string]string { return gigasetPFKeyCache.get(n) },
	maxDisable:    0, // accounts are written per line; unused ones are simply not provisioned
	hex:           true,
	latin1:        true,
	quotedStrings: true,
}

var gigasetPFKeyCache = &keyCache{build: gigasetPFKeys}

// gigasetPFKeys: account n's index (n-1), its N510 key suffix ("" for account 1,
// "_n" after: aucS_SIP_LOGIN_ID, aucS_SIP_LOGIN_ID_2, …) and its handset mask
// (uiSendMask/uiReceiveMask 2^(n-1): handset n sends and receives on account n),
// as WZ:plugins/wazo_gigaset/N510/templates/base.tpl computes them.
func gigasetPFKeys(n int) map[string]string {
	k := map[string]string{"i": strconv.Itoa(n - 1), "n": strconv.Itoa(n), "sfx": ""}
	if n > 1 {
		k["sfx"] = "_" + strconv.Itoa(n)
	}
	if n >= 1 && n <= 32 {
		k["mask"] = fmt.Sprintf("0x%x", uint64(1)<<(n-1))
	}
	return k
}

// gigasetPFZones: uiI_TIME_TIMEZONE by standard UTC offset in minutes
// (WZ:plugins/wazo_gigaset/common/common.py _TZ_GIGASET); the base applies DST
// itself (ucB_TIME_USE_AUTOMATIC_DST).
var gigasetPFZones = map[int]int{
	-12 * 60: 0x00, -11 * 60: 0x01, -10 * 60: 0x02, -9 * 60: 0x03, -8 * 60: 0x04, -7 * 60: 0x07, -6 * 60: 0x09,
	-5 * 60: 0x0D, -4 * 60: 0x10, -3 * 60: 0x12, -2 * 60: 0x16, -1 * 60: 0x18, 0: 0x1A, 60: 0x1B, 120: 0x20,
	180: 0x28, 240: 0x2C, 270: 0x2D, 300: 0x2F, 330: 0x30, 345: 0x31, 360: 0x33, 390: 0x35, 420: 0x36,
	480: 0x38, 540: 0x3D, 570: 0x40, 600: 0x43, 660: 0x47, 720: 0x48, 780: 0x50,
}

func tzGigasetPF(r *tzrules.Rules) (*TZ, error) {
	code, ok := gigasetPFZones[r.StdOffset/60]
	if r.StdOffset%60 != 0 || !ok {
		return nil, invalid("time zone %s: gigaset has no time zone code for its UTC offset", r.Zone)
	}
	dst := "0x0"
	if r.HasDST {
		dst = "0x1"
	}
	return &TZ{Zone: r.Zone, HasDST: r.HasDST, V: map[string]string{"code": fmt.Sprintf("0x%x", code), "dst": dst}}, nil
}

// slotsOf fills fixed choice slots with the chosen codecs; the remaining slots
// repeat the first choice, so no other codec is offered.
func slotsOf(keys []string) func([]Codec) []Slot {
	return func(cs []Codec) []Slot {
		out := make([]Slot, len(keys))
		for i, k := range keys {
			c := cs[0]
			if i < len(cs) {
				c = cs[i]
			}
			out[i] = Slot{Key: k, Value: c.Name}
		}
		return out
	}
}

func ciscoSlots(cs []Codec) []Slot {
	keys := []string{"Preferred_Codec", "Second_Preferred_Codec", "Third_Preferred_Codec"}
	out := make([]Slot, len(keys))
	for i, k := range keys {
		val := "Unspecified" // MPP and SPA: FP:.../cisco/8841/{$mac}.xml, spa504g/{$mac}.xml
		if i < len(cs) {
			val = cs[i].Name
		}
		out[i] = Slot{Key: k, Value: val}
	}
	return out
}

// keyCache memoises a per-account key table: each index's map is built once
// and only read afterwards (by views and templates).
type keyCache struct {
	build func(int) map[string]string
	m     sync.Map // int -> map[string]string
}

func (c *keyCache) get(n int) map[string]string {
	if n < 0 || n > 4096 {
		return c.build(n) // not cached: the cache stays bounded whatever a template asks
	}
	if k, ok := c.m.Load(n); ok {
		return k.(map[string]string)
	}
	k, _ := c.m.LoadOrStore(n, c.build(n))
	return k.(map[string]string)
}

var (
	gsKeyCache     = &keyCache{build: gsKeys}
	gsHighKeyCache = &keyCache{build: gsKeysHigh}
	gsDPKeyCache   = &keyCache{build: gsKeysDP}
	htekKeyCache   = &keyCache{build: htekKeys}
	gsSlots8       func([]Codec) []Slot
)

// gsLineKeys picks the model's account key table: models with the catalog
// variable "gs_blocks": "1700" (GXP21xx) put accounts 5 and 6 in the P1700 and
// P1800 blocks (FP:resources/templates/provision/grandstream/gxp21xx/{$mac}.xml:
// P1701 "Account 5 active", P1801 "Account 6 active"); the others (GRP26xx,
// FP:.../grp26xx/{$mac}.xml: P701 for account 5) keep Wazo's (n+2)·100 blocks.
func gsLineKeys(m *catalog.Model, n int) map[string]string {
	if m != nil && m.Var("gs_blocks") == "dp" {
		return gsDPKeyCache.get(n)
	}
	if m != nil && m.Var("gs_blocks") == "1700" && n >= 5 {
		return gsHighKeyCache.get(n)
	}
	return gsKeyCache.get(n)
}

// gsKeysDP: DP750/DP752 account n (FP:resources/templates/provision/grandstream/dp750/{$mac}.xml).
func gsKeysDP(n int) map[string]string {
	p := func(b int) string { return "P" + strconv.Itoa(b+n) }
	return map[string]string{"user": p(4059), "auth": p(4089), "password": p(4119), "display": p(4179),
		"profile": p(4149), "hsmode": p(27079)}
}

// gsKeysHigh: account n >= 5 in the P(n+12)·100 blocks (P1701…, P1801…).
func gsKeysHigh(n int) map[string]string {
	if n < 5 {
		return gsKeys(n)
	}
	return gsBlock((n + 12) * 100)
}

// gsKeys are Grandstream's per-account P-values: account 1 has its own numbers,
// account n >= 2 uses the block P{(n+2)*100+x} (WZ:plugins/wazo_grandstream/common/
// templates/base.tpl). FusionPBX writes the same offsets for accounts 2-5
// (FP:.../gxp16xx/{$mac}.xml account 2-3, gxp21xx/{$mac}.xml 3-4, grp26xx/{$mac}.xml
// 3-5: active 1, server 2, outbound 3, user 4, auth 5, password 6, display 7,
// expiry 12, name 17, transport 48, codecs 51-58); account 6+ (P801…) is Wazo's
// generalisation only (not verified).
func gsKeys(n int) map[string]string {
	if n == 1 {
		return map[string]string{"active": "P271", "name": "P270", "display": "P3", "user": "P35", "auth": "P36",
			"password": "P34", "server": "P47", "outbound": "P48", "transport": "P130", "expiry": "P32",
			"c1": "P57", "c2": "P58", "c3": "P59", "c4": "P60", "c5": "P61", "c6": "P62", "c7": "P46", "c8": "P98"}
	}
	return gsBlock((n + 2) * 100)
}

func gsBlock(b int) map[string]string {
	p := func(x int) string { return "P" + strconv.Itoa(b+x) }
	return map[string]string{"active": p(1), "server": p(2), "outbound": p(3), "user": p(4), "auth": p(5),
		"password": p(6), "display": p(7), "expiry": p(12), "name": p(17), "transport": p(48),
		"c1": p(51), "c2": p(52), "c3": p(53), "c4": p(54), "c5": p(55), "c6": p(56), "c7": p(57), "c8": p(58)}
}

// htekKeys are Htek's per-account P-values (WZ:plugins/wazo_htek/v2_0_4_4_58/templates/base.tpl).
// Server, transport and codecs live in Profile 1, shared by all accounts.
func htekKeys(n int) map[string]string {
	fixed := [][7]string{
		{"P271", "P20000", "P35", "P36", "P34", "P3", "P24082"},
		{"P401", "P20001", "P735", "P736", "P734", "P703", "P24083"},
		{"P501", "P20002", "P504", "P505", "P506", "P507", "P24084"},
		{"P601", "P20003", "P604", "P605", "P606", "P607", "P24085"},
		{"P20360", "P20378", "P1704", "P1705", "P1706", "P1707", "P24086"},
		{"P20361", "P20379", "P1804", "P1805", "P1806", "P1807", "P24087"},
	}
	var k [7]string
	if n <= 6 {
		k = fixed[n-1]
	} else {
		i := n - 7
		p := func(b int) string { return "P" + strconv.Itoa(b+i) }
		// Wazo's profile numbers for accounts 7+ overlap the active flags; the
		// profile key is left out (accounts default to Profile 1).
		k = [7]string{p(24090), p(24100), p(24110), p(24120), p(24130), p(24140), ""}
	}
	return map[string]string{"active": k[0], "label": k[1], "user": k[2], "auth": k[3], "password": k[4], "display": k[5], "profile": k[6]}
}

// ---- time zones -----------------------------------------------------------

func hm(sec int, sep string, padH bool) string {
	sign := "+"
	if sec < 0 {
		sign, sec = "-", -sec
	}
	h, m := sec/3600, sec%3600/60
	if padH {
		return fmt.Sprintf("%s%02d%s%02d", sign, h, sep, m)
	}
	if m == 0 {
		return sign + strconv.Itoa(h)
	}
	return fmt.Sprintf("%s%d%s%02d", sign, h, sep, m)
}

// tzYealink: local_time.time_zone "[+/-]X[:Y]" [D10]; DST by exact date for the
// year (dst_time_type 0, M/D/H), as Wazo's current plugin does, because the
// by-week form's day-of-week numbering is not documented in the sources.
func tzYealink(r *tzrules.Rules) (*TZ, error) {
	v := map[string]string{"offset": hm(r.StdOffset, ":", false), "summer": "0"}
	if r.HasDST {
		if r.Save()%60 != 0 {
			return nil, invalid("time zone %s: DST saving cannot be expressed for yealink", r.Zone)
		}
		v["summer"] = "1"
		v["type"] = "0"
		v["start"] = fmt.Sprintf("%02d/%02d/%02d", int(r.Start.Month), r.Start.Day, r.Start.Hour)
		v["end"] = fmt.Sprintf("%02d/%02d/%02d", int(r.End.Month), r.End.Day, r.End.Hour)
		v["save"] = strconv.Itoa(r.Save() / 60)
	}
	return &TZ{Zone: r.Zone, HasDST: r.HasDST, V: v}, nil
}

// tzFanvil: TimeZone in quarter hours, TimeZoneName "UTC+1"/"UTC-05"/"UCT"
// (WZ:plugins/wazo_fanvil/serie_x/entry.py); DST by week (DSTFixedType 2),
// week -1 = last, weekday 0 = Sunday (WZ:.../common/common.py: tzinform weekday − 1,
// and tzinform counts Sunday as 1: wazo-platform/wazo-provd wazo_provd/tzinform/tzdatax
// at 492fc1e has America/New_York "3/W2.1" (second Sunday); FP:resources/templates/
// provision/fanvil/x6/{$mac}.cfg writes the EU rule's last Sunday as Wday 0).
func tzFanvil(r *tzrules.Rules) (*TZ, error) {
	if r.StdOffset%900 != 0 {
		return nil, invalid("time zone %s cannot be expressed for fanvil", r.Zone)
	}
	h := r.StdOffset / 3600
	name := "UCT"
	switch {
	case r.StdOffset%3600 != 0:
		name = "UTC" + hm(r.StdOffset, ":", false)
	case h < 0:
		name = fmt.Sprintf("UTC-%02d", -h)
	case h > 0:
		name = fmt.Sprintf("UTC+%d", h)
	}
	v := map[string]string{"zone": strconv.Itoa(r.StdOffset / 900), "name": name, "dst": "0"}
	if r.HasDST {
		v["dst"] = "2" // manual rules (FP:app/fanvil/app_config.php: 0 off, 1 automatic, 2 manual)
		v["type"] = "2"
		v["offset"] = strconv.Itoa(r.Save() / 60)
		for p, t := range map[string]tzrules.Transition{"Start": r.Start, "End": r.End} {
			w := strconv.Itoa(t.Week)
			if t.Week == 5 {
				w = "-1"
			}
			v[p+"Mon"], v[p+"Week"], v[p+"Wday"], v[p+"Hour"] = strconv.Itoa(int(t.Month)), w, strconv.Itoa(int(t.Weekday)), strconv.Itoa(t.Hour)
		}
	}
	return &TZ{Zone: r.Zone, HasDST: r.HasDST, V: v}, nil
}

// tzPOSIX writes a POSIX TZ string (Grandstream P64 "customize" + P246; examples
// of the syntax in vendor-configs.md §3.3: "CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00").
func tzPOSIX(r *tzrules.Rules) (*TZ, error) {
	return &TZ{Zone: r.Zone, HasDST: r.HasDST, V: map[string]string{"posix": POSIX(r)}}, nil
}

// POSIX renders r as a POSIX TZ string. Week rules use Mm.w.d; a rule that does
// not hold next year uses this year's Julian day (Jn, Feb 29 not counted).
func POSIX(r *tzrules.Rules) string {
	off := func(sec int) string { // POSIX offsets count west positive
		sec = -sec
		sign := ""
		if sec < 0 {
			sign, sec = "-", -sec
		}
		h, m := sec/3600, sec%3600/60
		if m == 0 {
			return sign + strconv.Itoa(h)
		}
		return fmt.Sprintf("%s%d:%02d", sign, h, m)
	}
	std, dst := abbrevs(r)
	s := std + off(r.StdOffset)
	if !r.HasDST {
		return s
	}
	rule := func(t tzrules.Transition) string {
		tm := fmt.Sprintf("/%02d:%02d:00", t.Hour, t.Minute)
		if t.Stable {
			return fmt.Sprintf("M%d.%d.%d%s", int(t.Month), t.Week, int(t.Weekday), tm)
		}
		yd := time.Date(r.Year, t.Month, t.Day, 0, 0, 0, 0, time.UTC).YearDay()
		if isLeap(r.Year) && t.Month > 2 {
			yd--
		}
		return fmt.Sprintf("J%d%s", yd, tm)
	}
	return s + dst + off(r.DSTOffset) + "," + rule(r.Start) + "," + rule(r.End)
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// abbrevs returns alphabetic zone abbreviations from the tz database, or
// placeholders where the database has numeric ones ("-03"): POSIX names must be
// alphabetic when unquoted.
func abbrevs(r *tzrules.Rules) (string, string) {
	loc, err := tzrules.Load(r.Zone)
	std, dst := "TZS", "TZD"
	if err != nil {
		return std, dst
	}
	alpha := func(s string) bool {
		if len(s) < 3 || len(s) > 6 {
			return false
		}
		for i := 0; i < len(s); i++ {
			if (s[i] < 'A' || s[i] > 'Z') && (s[i] < 'a' || s[i] > 'z') {
				return false
			}
		}
		return true
	}
	probe := func(t time.Time) (string, int) { n, o := t.In(loc).Zone(); return n, o }
	for _, t := range []time.Time{time.Date(r.Year, 1, 15, 12, 0, 0, 0, time.UTC), time.Date(r.Year, 7, 15, 12, 0, 0, 0, time.UTC)} {
		n, o := probe(t)
		if o == r.StdOffset && alpha(n) {
			std = n
		}
		if r.HasDST && o == r.DSTOffset && alpha(n) {
			dst = n
		}
	}
	if std == dst {
		dst = "TZD"
	}
	return std, dst
}

// tzPoly: tcpIpApp.sntp.gmtOffset in seconds and the daylightSavings fields;
// week n is date (n−1)·7+1 with dayOfWeek, week 5 is lastInMonth
// (WZ:plugins/wazo_polycom/common/common.py). dayOfWeek 1 = Sunday … 7 = Saturday and
// date 1/8/15/22 = first/second/third/fourth occurrence (Polycom SoundPoint IP SIP 2.2
// Administrator Guide, tcpIpApp.sntp.daylightSavings.*: azmanual.top/manuals/189944/
// polycom-soundpoint-sip-220.html?page=165). A rule that does
// not hold next year is written as a fixed day for this year.
func tzPoly(r *tzrules.Rules) (*TZ, error) {
	v := map[string]string{"offset": strconv.Itoa(r.StdOffset), "dst": "0"}
	if r.HasDST && r.Save() != 3600 {
		return nil, invalid("time zone %s: poly takes only a one-hour DST saving", r.Zone)
	}
	if r.HasDST {
		v["dst"] = "1"
		fixed := !r.Start.Stable || !r.End.Stable
		v["fixed"] = "0"
		if fixed {
			v["fixed"] = "1"
		}
		for p, t := range map[string]tzrules.Transition{"start": r.Start, "stop": r.End} {
			v[p+".month"], v[p+".time"] = strconv.Itoa(int(t.Month)), strconv.Itoa(t.Hour)
			switch {
			case fixed:
				v[p+".date"], v[p+".dow"], v[p+".last"] = strconv.Itoa(t.Day), "1", "0"
			case t.Week == 5:
				v[p+".date"], v[p+".dow"], v[p+".last"] = "1", strconv.Itoa(int(t.Weekday)+1), "1"
			default:
				v[p+".date"], v[p+".dow"], v[p+".last"] = strconv.Itoa((t.Week-1)*7+1), strconv.Itoa(int(t.Weekday)+1), "0"
			}
		}
	}
	return &TZ{Zone: r.Zone, HasDST: r.HasDST, V: v}, nil
}

// tzCisco: Time_Zone "GMT+hh:mm" and Daylight_Saving_Time_Rule
// "start=M/D/W/HH:mm:ss;end=…;save=H[:mm:ss]" with W 1..7 = Monday..Sunday, the
// first W on or after day D, D = −1 for the last W of the month, W = 0 for an
// exact date [D30].
func tzCisco(r *tzrules.Rules) (*TZ, error) {
	v := map[string]string{"zone": "GMT" + hm(r.StdOffset, ":", true), "dst": "No"}
	if r.HasDST {
		rule := func(t tzrules.Transition) string {
			tm := fmt.Sprintf("%d:%d:0", t.Hour, t.Minute)
			if !t.Stable {
				return fmt.Sprintf("%d/%d/0/%s", int(t.Month), t.Day, tm)
			}
			w := int(t.Weekday)
			if w == 0 {
				w = 7
			}
			d := (t.Week-1)*7 + 1
			if t.Week == 5 {
				d = -1
			}
			return fmt.Sprintf("%d/%d/%d/%s", int(t.Month), d, w, tm)
		}
		save := r.Save()
		sv := strconv.Itoa(save / 3600)
		if save%3600 != 0 {
			sv = fmt.Sprintf("%d:%02d:00", save/3600, save%3600/60)
		}
		v["dst"] = "Yes"
		v["rule"] = "start=" + rule(r.Start) + ";end=" + rule(r.End) + ";save=" + sv
	}
	return &TZ{Zone: r.Zone, HasDST: r.HasDST, V: v}, nil
}

// htekZones is Htek's P64 index by standard offset (WZ:plugins/wazo_htek/common/common.py
// _TZ_INFO). P75 = 2 lets the phone apply its own DST rule for the zone ("DST off=0
// on=1 auto=2", FP:app/htek/app_config.php htek_dst; Wazo's base.tpl writes 2).
var htekZones = map[int]string{
	-11 * 3600: "105", -10 * 3600: "2", -9 * 3600: "3", -8 * 3600: "6", -7 * 3600: "10", -6 * 3600: "14",
	-5 * 3600: "18", -(4*3600 + 1800): "19", -4 * 3600: "20", -(3*3600 + 1800): "26", -3 * 3600: "30",
	-2 * 3600: "31", -1 * 3600: "32", 0: "33", 1 * 3600: "49", 2 * 3600: "57", 3 * 3600: "73", 3*3600 + 1800: "74",
	4 * 3600: "77", 5 * 3600: "83", 5*3600 + 1800: "84", 6 * 3600: "85", 7 * 3600: "88", 8 * 3600: "89",
	9 * 3600: "93", 9*3600 + 1800: "94", 10 * 3600: "96", 10*3600 + 1800: "100", 11 * 3600: "101",
	12 * 3600: "102", 12*3600 + 2700: "103", 13 * 3600: "104",
}

func tzHtek(r *tzrules.Rules) (*TZ, error) {
	idx, ok := htekZones[r.StdOffset]
	if !ok {
		return nil, invalid("time zone %s (UTC%s) has no htek index", r.Zone, hm(r.StdOffset, ":", false))
	}
	dst := "0"
	if r.HasDST {
		dst = "2"
	}
	return &TZ{Zone: r.Zone, HasDST: r.HasDST, V: map[string]string{"index": idx, "dst": dst}}, nil
}

// Named-zone vendors: the zone is written as one of the vendor's names, chosen
// by comparing rules computed from the tz database (same offsets and the same
// transitions this year), not by a hand-copied table.

// gigasetZones is the allowed DmGlobal.0.TimeZone list (WZ:plugins/wazo_gigaset/Nx70_83_v2_65_0/common.py).
var gigasetZones = []string{
	"Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver", "America/Chicago",
	"America/New_York", "America/Caracas", "America/Sao_Paulo", "Europe/Dublin", "Europe/Lisbon", "Europe/London",
	"Greenwich", "Europe/Amsterdam", "Europe/Andorra", "Europe/Belgrade", "Europe/Berlin", "Europe/Bratislava",
	"Europe/Brussels", "Europe/Budapest", "Europe/Copenhagen", "Europe/Gibraltar", "Europe/Ljubljana",
	"Europe/Luxembourg", "Europe/Madrid", "Europe/Malta", "Europe/Monaco", "Europe/Oslo", "Europe/Paris",
	"Europe/Podgorica", "Europe/Prague", "Europe/Rome", "Europe/San_Marino", "Europe/Sarajevo", "Europe/Skopje",
	"Europe/Stockholm", "Europe/Tirane", "Europe/Vaduz", "Europe/Vatican", "Europe/Vienna", "Europe/Warsaw",
	"Europe/Zagreb", "Europe/Zurich", "Africa/Cairo", "Europe/Athens", "Europe/Bucharest", "Europe/Chisinau",
	"Europe/Helsinki", "Europe/Kaliningrad", "Europe/Kiev", "Europe/Mariehamn", "Europe/Nicosia", "Europe/Riga",
	"Europe/Sofia", "Europe/Tallinn", "Europe/Vilnius", "Europe/Istanbul", "Europe/Kirov", "Europe/Minsk",
	"Europe/Moscow", "Europe/Simferopol", "Europe/Volgograd", "Asia/Dubai", "Europe/Astrakhan", "Europe/Samara",
	"Europe/Ulyanovsk", "Asia/Karachi", "Asia/Dhaka", "Asia/Hong_Kong", "Asia/Tokyo", "Australia/Adelaide",
	"Australia/Darwin", "Australia/Brisbane", "Australia/Sydney", "Pacific/Noumea",
}

func tzGigaset(r *tzrules.Rules) (*TZ, error) {
	name, ok := equivalent(r, "gigaset", gigasetZones)
	if !ok {
		return nil, invalid("time zone %s matches no zone gigaset accepts", r.Zone)
	}
	return &TZ{Zone: r.Zone, HasDST: r.HasDST, V: map[string]string{"name": name}}, nil
}

// snomZones maps Snom timezone ids to a representative IANA zone. The ids marked
// v are quoted in vendor-configs.md §4.3 ([D23][D24], PV, KP, FP:app/snom/app_config.php);
// USA-6 and USA-8 are what Wazo writes for en_US at those offsets (WZ:plugins/wazo_snom/
// common/common.py _add_timezone: _LOCALE country + "%+d" standard hours).
var snomZones = []struct{ id, zone string }{
	{"GER+1", "Europe/Berlin"},    // v
	{"GBR-0", "Europe/London"},    // v
	{"USA-5", "America/New_York"}, // v
	{"USA-6", "America/Chicago"},
	{"USA-7", "America/Denver"}, // v
	{"USA-8", "America/Los_Angeles"},
	{"CAN-4", "America/Halifax"},    // v
	{"BRA-2", "America/Noronha"},    // v
	{"RUS+3", "Europe/Moscow"},      // v
	{"JPN+9", "Asia/Tokyo"},         // v
	{"AUS+10", "Australia/Sydney"},  // v
	{"NZL+12", "Pacific/Auckland"},  // v
	{"TON+13", "Pacific/Tongatapu"}, // v
}

func tzSnom(r *tzrules.Rules) (*TZ, error) {
	z, ok := equivalent(r, "snom", snomZoneNames)
	if !ok {
		return nil, invalid("time zone %s matches no snom timezone id", r.Zone)
	}
	return &TZ{Zone: r.Zone, HasDST: r.HasDST, V: map[string]string{"id": snomIDs[z]}}, nil
}

var (
	snomZoneNames []string
	snomIDs       = map[string]string{}
)

func init() {
	for _, z := range snomZones {
		snomZoneNames = append(snomZoneNames, z.zone)
		snomIDs[z.zone] = z.id
	}
}

var equivCache sync.Map // list/zone/year -> string (bounded: zones x years in use)

// equivalent picks the candidate whose rules for r.Year equal r's: r.Zone itself
// when listed, else the first candidate with the same offsets and transitions.
func equivalent(r *tzrules.Rules, list string, candidates []string) (string, bool) {
	key := list + "/" + r.Zone + "/" + strconv.Itoa(r.Year)
	if v, ok := equivCache.Load(key); ok {
		s := v.(string)
		return s, s != ""
	}
	found := ""
	for _, c := range candidates {
		if c == r.Zone {
			found = c
			break
		}
	}
	if found == "" {
		for _, c := range candidates {
			cr, err := tzrules.For(canonical(c), r.Year)
			if err == nil && sameRules(r, cr) {
				found = c
				break
			}
		}
	}
	equivCache.Store(key, found)
	return found, found != ""
}

func canonical(z string) string {
	if z == "Greenwich" {
		return "Etc/Greenwich"
	}
	return z
}

func sameRules(a, b *tzrules.Rules) bool {
	if a.StdOffset != b.StdOffset || a.HasDST != b.HasDST {
		return false
	}
	if !a.HasDST {
		return true
	}
	return a.DSTOffset == b.DSTOffset && a.Start.At.Equal(b.Start.At) && a.End.At.Equal(b.End.At)
}
