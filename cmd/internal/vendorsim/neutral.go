package vendorsim

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// The phone knows what its own values mean. These tables translate the
// vendor's language values back to the neutral tags of proto/vocab and its
// time-zone encodings to a UTC offset, so a test can compare what it
// assigned with what the phone applied without knowing each vendor's
// encoding. Sources: vendor-configs.md (§1.3 Yealink lang.gui, §3.3
// Grandstream P1362, §4.3 Snom, §5.3 Fanvil, §2.3 Poly lcl.ml.lang, §6.3
// Cisco, §7.3 Htek P64) — the same sources config-renderer maps from.

// languageValues maps, per vendor, neutral tags to the vendor's value.
var languageValues = map[string]map[string]string{
	"yealink": {"en": "English", "de": "German", "fr": "French", "fr-CA": "French_CA", "es": "Spanish",
		"es-419": "Spanish_LA", "it": "Italian", "pt": "Portuguese", "pt-BR": "Portuguese_LA", "pl": "Polish",
		"ru": "Russian", "tr": "Turkish", "zh-CN": "Chinese_S", "zh-TW": "Chinese_T", "cs": "Czech"},
	"fanvil": {"en": "en", "zh-CN": "cn", "zh-TW": "tc", "ru": "ru", "it": "it", "fr": "fr", "de": "de", "he": "he",
		"es": "es", "ca": "cat", "tr": "tr", "hr": "hr", "sk": "slo", "cs": "cz", "nl": "nl", "ko": "ko", "uk": "ua",
		"pt": "pt", "pl": "pl", "ar": "ar"},
	// Older Fanvil models number their languages (Wazo serie_x/entry.py).
	"fanvil-legacy": {"en": "0", "fr": "4", "de": "16", "es": "10", "it": "7", "nl": "3"},
	"grandstream": {"en": "en", "ar": "ar", "cs": "cz", "de": "de", "es": "es", "fr": "fr", "he": "he", "hr": "hr",
		"hu": "hu", "it": "it", "ja": "ja", "ko": "ko", "lv": "lv", "nl": "nl", "pl": "pl", "pt": "pt", "ru": "ru",
		"sl": "sl", "sv": "se", "tr": "tr", "zh-CN": "zh", "zh-TW": "zh-tw"},
	"snom": {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español", "it": "Italiano",
		"nl": "Nederlands", "pt": "Português"},
	"snom-ascii": {"fr": "Francais", "es": "Espanol", "pt": "Portugues"},
	"poly": {"en": "English_United_States", "en-US": "English_United_States", "en-GB": "English_United_Kingdom", "de": "German_Germany",
		"es": "Spanish_Spain", "fr": "French_France", "fr-CA": "French_Canada", "it": "Italian_Italy",
		"nl": "Dutch_Netherlands", "zh-CN": "Chinese_China", "da": "Danish_Denmark", "ja": "Japanese_Japan",
		"ko": "Korean_Korea", "nb": "Norwegian_Norway", "pl": "Polish_Poland", "pt": "Portuguese_Portugal",
		"ru": "Russian_Russia", "sl": "Slovenian_Slovenia", "sv": "Swedish_Sweden"},
	"cisco": {"en": "English-US", "en-US": "English-US"},
	// The 79x1/797x/894x SEP<MAC>.cnf.xml user locale (Wazo wazo_cisco_sip common.py _LOCALE).
	"cisco-legacy": {"en": "english_united_states", "en-US": "english_united_states"},
	"htek":         {"en": "0"},
	// Gigaset <ProviderFrame> ucI_HTTPLANGUAGE (WZ:plugins/wazo_gigaset/N510/templates/base.tpl).
	"gigaset": {"en": "0x1", "de": "0x2", "es": "0x4", "it": "0x7", "fr": "0x9", "nl": "0xa", "tr": "0x10", "pl": "0x11"},
}

// languageTag returns the neutral tag for a vendor value, or "". A value
// several tags share ("English" for en, en-US, en-GB) gives the tag listed.
func languageTag(vendor, value string) string {
	if value == "" {
		return ""
	}
	var keys []string
	for _, k := range []string{vendor, vendor + "-legacy", vendor + "-ascii"} {
		if _, ok := languageValues[k]; ok {
			keys = append(keys, k)
		}
	}
	var tags []string
	for _, k := range keys {
		for tag, v := range languageValues[k] {
			if v == value {
				tags = append(tags, tag)
			}
		}
	}
	if len(tags) == 0 {
		return ""
	}
	sort.Strings(tags)
	return tags[0]
}

// parseOffset reads "+1", "-5", "+5:30", "-03:30", "+01:00" as seconds east of UTC.
func parseOffset(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	sign := 1
	switch s[0] {
	case '+':
		s = s[1:]
	case '-':
		sign, s = -1, s[1:]
	}
	h, m, hasM := strings.Cut(s, ":")
	hv, err := strconv.Atoi(h)
	if err != nil || hv > 14 {
		return 0, false
	}
	mv := 0
	if hasM {
		if mv, err = strconv.Atoi(m); err != nil || mv >= 60 {
			return 0, false
		}
	}
	return sign * (hv*3600 + mv*60), true
}

// posixOffset reads the standard offset and whether a DST part follows from
// a POSIX TZ string such as "CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00"
// or "<-03>3" (POSIX offsets count west positive).
func posixOffset(tz string) (int, bool, bool) {
	i := 0
	if strings.HasPrefix(tz, "<") {
		j := strings.IndexByte(tz, '>')
		if j < 0 {
			return 0, false, false
		}
		i = j + 1
	} else {
		for i < len(tz) && (tz[i] >= 'A' && tz[i] <= 'Z' || tz[i] >= 'a' && tz[i] <= 'z') {
			i++
		}
	}
	if i == 0 || i >= len(tz) {
		return 0, false, false
	}
	j := i
	if tz[j] == '+' || tz[j] == '-' {
		j++
	}
	for j < len(tz) && (tz[j] >= '0' && tz[j] <= '9' || tz[j] == ':') {
		j++
	}
	off, ok := parseOffset(tz[i:j])
	if !ok {
		return 0, false, false
	}
	return -off, j < len(tz), true
}

// zoneOffset returns an IANA zone's standard offset and whether it has DST
// this year.
func zoneOffset(name string) (int, bool, bool) {
	if name == "Greenwich" {
		name = "Etc/Greenwich"
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return 0, false, false
	}
	y := time.Now().Year()
	_, jan := time.Date(y, 1, 1, 12, 0, 0, 0, loc).Zone()
	_, jul := time.Date(y, 7, 1, 12, 0, 0, 0, loc).Zone()
	return min(jan, jul), jan != jul, true
}

// htekZoneIndex is Htek's P64 index by standard offset (Wazo's _TZ_INFO,
// WZ:plugins/wazo_htek/common/common.py).
var htekZoneIndex = map[string]int{
	"105": -11 * 3600, "2": -10 * 3600, "3": -9 * 3600, "6": -8 * 3600, "10": -7 * 3600, "14": -6 * 3600,
	"18": -5 * 3600, "19": -(4*3600 + 1800), "20": -4 * 3600, "26": -(3*3600 + 1800), "30": -3 * 3600,
	"31": -2 * 3600, "32": -1 * 3600, "33": 0, "49": 1 * 3600, "57": 2 * 3600, "73": 3 * 3600, "74": 3*3600 + 1800,
	"77": 4 * 3600, "83": 5 * 3600, "84": 5*3600 + 1800, "85": 6 * 3600, "88": 7 * 3600, "89": 8 * 3600,
	"93": 9 * 3600, "94": 9*3600 + 1800, "96": 10 * 3600, "100": 10*3600 + 1800, "101": 11 * 3600,
	"102": 12 * 3600, "103": 12*3600 + 2700, "104": 13 * 3600,
}

// snomZone reads a Snom timezone id "<country><offset>" ("GER+1", "USA-5").
func snomZone(id string) (int, bool) {
	i := strings.IndexAny(id, "+-")
	if i < 0 {
		return 0, false
	}
	return parseOffset(id[i:])
}

func setZone(cfg *Config, offset int, ok bool, dst *bool) {
	if !ok {
		return
	}
	cfg.UTCOffset = &offset
	cfg.DST = dst
}

func boolp(b bool) *bool { return &b }
