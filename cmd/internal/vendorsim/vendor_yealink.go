package vendorsim

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// Yealink (vendor-configs.md §1): boot-file mechanism (V81+): <mac>.boot,
// else y000000000000.boot, each listing "include:config <file>" lines
// processed top to bottom (later files override); without a boot file the
// legacy order y0000000000XX.cfg then <mac>.cfg, where XX is the first field
// of the firmware version. Text "key = value" after "#!version:1.0.0.1".
var yealink = &Vendor{
	Key:           "yealink",
	DisplayName:   "Yealink",
	OUIs:          []string{"001565", "249ad8", "805ec0", "805e0c", "44dbd2"},
	PnP:           true,
	Provisionable: true,
	DefaultModel:  "T54W",
	// The first field of the firmware version is the model's code (the
	// catalog's "code", which also names its common file y000000000XXX.cfg).
	DefaultFirmware: func(p Phone) string {
		if code := p.catalogVar("code"); code != "" {
			return fmt.Sprintf("%d.86.0.45", atoi(code))
		}
		return "96.86.0.45"
	},
	subscribe:  yealinkSubscribe,
	newIDs:     yealinkIDs,
	Retransmit: rfcRetransmit,
	// Wazo's collection: "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37";
	// DECT bases "Yealink W70B 146.87.0.15 80:5e:0c:1d:65:4e".
	UserAgent: func(p Phone) string {
		if yealinkIsDECT(p) {
			return fmt.Sprintf("Yealink %s %s %s", p.uaModel(), p.Firmware, colonMAC(p.MAC))
		}
		return fmt.Sprintf("Yealink SIP-%s %s %s", p.uaModel(), p.Firmware, colonMAC(p.MAC))
	},
	ResolveURL: func(p Phone, u string) string {
		return expand(u, "{mac}", p.MAC, "{MAC}", strings.ToUpper(p.MAC), "$mac", p.MAC, "$MAC", strings.ToUpper(p.MAC))
	},
	Plan:      yealinkPlan,
	CheckSync: []string{"check-sync"},
}

// yealinkIsDECT: the catalog's DECT flag, else the W-series name (not WP).
func yealinkIsDECT(p Phone) bool {
	if m := p.CatalogModel(); m != nil {
		return m.DECT
	}
	m := strings.ToUpper(p.Model)
	return strings.HasPrefix(m, "W") && !strings.HasPrefix(m, "WP")
}

func yealinkPlan(ctx context.Context, p Phone, base string, f Fetcher, cfg *Config) error {
	read := func(body []byte) error { return readYealinkCfg(body, cfg) }
	if !isDirURL(base) {
		if _, err := fetchParse(ctx, f, cfg, base, read); err != nil {
			return err
		}
		yealinkExtract(cfg)
		return nil
	}
	for _, boot := range []string{p.MAC + ".boot", "y000000000000.boot"} {
		var includes []string
		file, err := fetchParse(ctx, f, cfg, boot, func(body []byte) error {
			var err error
			includes, err = yealinkIncludes(body)
			return err
		})
		if err != nil {
			return err
		}
		if !file.OK() {
			continue
		}
		for _, inc := range includes {
			if _, err := fetchParse(ctx, f, cfg, inc, read); err != nil {
				return err
			}
		}
		yealinkExtract(cfg)
		return nil
	}
	// Without a boot file: the catalog's files in order (the model's common
	// file y000000000XXX.cfg, when it has one, then <mac>.cfg). A model the
	// catalog does not know names its common file from the first field of
	// its firmware version.
	names, ok := p.catalogFiles()
	if !ok {
		names = []string{p.MAC + ".cfg"}
		if n, _, ok := strings.Cut(p.Firmware, "."); ok && atoi(n) >= 0 {
			names = append([]string{fmt.Sprintf("y%012d.cfg", atoi(n))}, names...)
		}
	}
	for _, name := range names {
		if _, err := fetchParse(ctx, f, cfg, name, read); err != nil {
			return err
		}
	}
	yealinkExtract(cfg)
	return nil
}

// yealinkIncludes reads a boot file: "#!version:1.0.0.1" first, then
// "include:config <path>" or include:config "path" lines; other settings
// in a boot file (overwrite_mode…) are ignored.
func yealinkIncludes(body []byte) ([]string, error) {
	if err := yealinkHeader(body); err != nil {
		return nil, err
	}
	lines, err := parseKeyValue(body)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range lines {
		if l.Key != "" {
			continue
		}
		rest, ok := strings.CutPrefix(l.Value, "include:config")
		if !ok {
			return nil, fmt.Errorf("%w: line %d: unexpected %q", ErrFormat, l.Line, l.Value)
		}
		rest = strings.Trim(strings.TrimSpace(rest), `"`)
		if rest == "" {
			return nil, fmt.Errorf("%w: line %d: include without a file", ErrFormat, l.Line)
		}
		out = append(out, rest)
	}
	return out, nil
}

func yealinkHeader(body []byte) error {
	first, _, _ := strings.Cut(string(body), "\n")
	if strings.TrimRight(first, "\r") != "#!version:1.0.0.1" {
		return fmt.Errorf("%w: first line must be #!version:1.0.0.1", ErrFormat)
	}
	return nil
}

func readYealinkCfg(body []byte, cfg *Config) error {
	if err := yealinkHeader(body); err != nil {
		return err
	}
	lines, err := parseKeyValue(body)
	if err != nil {
		return err
	}
	seen := map[string]int{}
	for _, l := range lines {
		if l.Key == "" {
			return fmt.Errorf("%w: line %d: not key = value: %q", ErrFormat, l.Line, l.Value)
		}
		if prev, dup := seen[l.Key]; dup {
			return fmt.Errorf("%w: line %d: key %s already set on line %d", ErrFormat, l.Line, l.Key, prev)
		}
		seen[l.Key] = l.Line
		v := l.Value
		if v == "%NULL%" {
			v = ""
		}
		cfg.set(l.Key, v, false)
	}
	return nil
}

var yealinkAccountRe = regexp.MustCompile(`^account\.(\d+)\.`)
var yealinkCodecRe = regexp.MustCompile(`^account\.(\d+)\.codec\.([a-z0-9_]+)\.(enable|priority)$`)

// yealinkTransports: account.X.sip_server.1.transport_type 0 UDP, 1 TCP,
// 2 TLS, 3 DNS-NAPTR.
var yealinkTransports = map[string]string{"0": "udp", "1": "tcp", "2": "tls", "3": "dns-naptr"}

func yealinkExtract(cfg *Config) {
	v := cfg.Values
	for _, n := range indices(v, yealinkAccountRe) {
		k := func(s string) string { return v[fmt.Sprintf("account.%d.%s", n, s)] }
		a := Account{
			Line:        n,
			Enabled:     onOff(k("enable")),
			Label:       k("label"),
			DisplayName: k("display_name"),
			User:        k("user_name"),
			AuthUser:    k("auth_name"),
			Password:    k("password"),
			Server:      k("sip_server.1.address"),
			Port:        atoi(k("sip_server.1.port")),
			Transport:   transportName(k("sip_server.1.transport_type"), yealinkTransports),
			ExpiresSecs: atoi(k("sip_server.1.expires")),
		}
		if onOff(k("outbound_proxy_enable")) {
			a.OutboundProxy = k("outbound_proxy.1.address")
			if port := k("outbound_proxy.1.port"); port != "" && port != "0" {
				a.OutboundProxy += ":" + port
			}
		}
		prio := map[string]int{}
		for key, val := range v {
			m := yealinkCodecRe.FindStringSubmatch(key)
			if m == nil || atoi(m[1]) != n || m[3] != "enable" || !onOff(val) {
				continue
			}
			c := neutralCodec(m[2])
			if c == "" {
				continue
			}
			if p := atoi(v[fmt.Sprintf("account.%d.codec.%s.priority", n, m[2])]); p > 0 {
				prio[c] = p
			}
		}
		a.Codecs = byPriority(prio)
		cfg.Accounts = append(cfg.Accounts, a)
	}
	if up := v["static.security.user_password"]; up != "" {
		if _, pw, ok := strings.Cut(up, ":"); ok {
			cfg.WebPassword = pw
		}
	}
	cfg.Language = v["lang.gui"]
	cfg.TimeZone = v["local_time.time_zone"]
	off, ok := parseOffset(cfg.TimeZone)
	setZone(cfg, off, ok, boolp(v["local_time.summer_time"] != "0" && v["local_time.summer_time"] != ""))
	cfg.NTPServer = v["local_time.ntp_server1"]
	cfg.ProvisioningURL = v["static.auto_provision.server.url"]
	if onOff(v["static.auto_provision.repeat.enable"]) {
		cfg.PollSeconds = 60 * atoi(v["static.auto_provision.repeat.minutes"])
	}
	cfg.finish("yealink")
}
