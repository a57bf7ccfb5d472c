package vendorsim

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/dialtone-voip/dialtone/platform/vendorid"
)

// snom (vendor-configs.md §4): the phone replaces {mac} (upper case) and
// {phone_type} in the setting-server URL. When the URL names no file it
// fetches snom<model>.htm and snom<model>-<MAC>.htm; a file may be a
// <settings> document or a <setting-files> index whose <file url=…> entries
// are fetched in turn. Parameters: <name idx="N" perm="…">value</name>.
var snom = &Vendor{
	Key:             "snom",
	DisplayName:     "Snom",
	OUIs:            vendorid.Prefixes("snom"), // the suite's one table, a typical block first
	PnP:             true,
	Provisionable:   true,
	DefaultModel:    "D785",
	DefaultFirmware: func(Phone) string { return "10.1.169.16" },
	subscribe:       snomSubscribe,
	newIDs:          snomIDs,
	Retransmit:      rfcRetransmit,
	// "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)";
	// DECT "Mozilla/4.0 (compatible; Snom M900 05.20.0001 000413b60680)".
	UserAgent: func(p Phone) string {
		if f := p.catalogVar("format"); f == "kle" || f == "m3" {
			// No source gives these bases' User-Agent; the catalog's pattern
			// (?i)^snom[ _-]?<model>\b, without a MAC.
			return fmt.Sprintf("Snom %s %s", p.uaModel(), p.Firmware)
		}
		if m := p.CatalogModel(); m != nil && m.DECT || m == nil && strings.HasPrefix(strings.ToUpper(p.Model), "M") {
			return fmt.Sprintf("Mozilla/4.0 (compatible; Snom %s %s %s)", p.uaModel(), p.Firmware, p.MAC)
		}
		return fmt.Sprintf("Mozilla/4.0 (compatible; snom%s-SIP %s 2010.12-00004-g9ba52f5 %s SXM:0 UXM:0)", p.uaModel(), p.Firmware, strings.ToUpper(p.MAC))
	},
	ResolveURL: func(p Phone, u string) string {
		return expand(u, "{mac}", strings.ToUpper(p.MAC), "{phone_type}", "snom"+p.Model)
	},
	Plan:      snomPlan,
	CheckSync: []string{"check-sync"},
}

// maxSettingFiles bounds the setting-files indirection (a loop guard).
const maxSettingFiles = 32

func snomPlan(ctx context.Context, p Phone, base string, f Fetcher, cfg *Config) error {
	if format := p.catalogVar("format"); format == "kle" || format == "m3" {
		return snomBasePlan(ctx, p, base, f, cfg)
	}
	queue := []string{base}
	if isDirURL(base) {
		// The catalog's .htm files (snom<model>.htm, snom<model>-<MAC>.htm);
		// <MAC>.xml only when a setting-files index names it.
		queue = []string{"snom" + p.Model + ".htm", "snom" + p.Model + "-" + strings.ToUpper(p.MAC) + ".htm"}
		if names, ok := p.catalogFiles(); ok {
			queue = slices.DeleteFunc(names, func(n string) bool { return !strings.HasSuffix(n, ".htm") })
		}
	}
	seen := map[string]bool{}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		if len(seen) > maxSettingFiles {
			return fmt.Errorf("%w: more than %d setting files", ErrFormat, maxSettingFiles)
		}
		var more []string
		if _, err := fetchParse(ctx, f, cfg, name, func(body []byte) error {
			var err error
			more, err = readSnomXML(body, cfg)
			return err
		}); err != nil {
			return err
		}
		queue = append(more, queue...)
	}
	snomExtract(cfg)
	return nil
}

// readSnomXML reads <settings> (phone-settings, functionKeys…) or a
// <setting-files> index and returns the files the index lists.
func readSnomXML(body []byte, cfg *Config) ([]string, error) {
	root, err := parseXML(body)
	if err != nil {
		return nil, err
	}
	switch root.Name {
	case "setting-files":
		var out []string
		for _, c := range root.Children {
			if c.Name != "file" {
				continue
			}
			u, ok := c.Attr("url")
			if !ok || u == "" {
				return nil, fmt.Errorf("%w: <file> without url", ErrFormat)
			}
			out = append(out, u)
		}
		return out, nil
	case "settings":
		for _, sect := range root.Children {
			if sect.Name != "phone-settings" {
				continue // functionKeys, tbook… carry no account data
			}
			seen := map[string]bool{}
			for _, c := range sect.Children {
				key := c.Name
				if idx, ok := c.Attr("idx"); ok {
					key += "#" + idx
				}
				if seen[key] {
					return nil, fmt.Errorf("%w: %s set twice", ErrFormat, key)
				}
				seen[key] = true
				cfg.set(key, c.Text, false)
			}
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%w: root element %q, want settings or setting-files", ErrFormat, root.Name)
}

var snomUserRe = regexp.MustCompile(`^user_[a-z_]+#(\d+)$`)

func snomExtract(cfg *Config) {
	v := cfg.Values
	for _, n := range indices(v, snomUserRe) {
		k := func(s string) string { return v[fmt.Sprintf("%s#%d", s, n)] }
		a := Account{
			Line:        n,
			Enabled:     onOff(k("user_active")),
			DisplayName: k("user_realname"),
			Label:       k("user_idle_text"),
			User:        k("user_name"),
			AuthUser:    k("user_pname"),
			Password:    k("user_pass"),
			ExpiresSecs: atoi(k("user_expiry")),
			Transport:   "udp",
		}
		host, params, _ := strings.Cut(k("user_host"), ";")
		a.Server, a.Port = splitHostPort(host)
		if t := snomTransportParam(params); t != "" {
			a.Transport = t
		}
		if ob := k("user_outbound"); ob != "" {
			h, params, _ := strings.Cut(ob, ";")
			// Dialtone writes the registrar itself as outbound when there is
			// no proxy, to carry the transport (snom has no other key for it).
			if h != host {
				a.OutboundProxy = h
			}
			if t := snomTransportParam(params); t != "" {
				a.Transport = t
			}
		}
		a.Codecs = codecList(k("codec_priority_list"))
		cfg.Accounts = append(cfg.Accounts, a)
	}
	cfg.WebPassword = v["http_pass"]
	if cfg.WebPassword == "" {
		cfg.WebPassword = v["admin_mode_password"]
	}
	cfg.Language = v["language"]
	cfg.TimeZone = v["timezone"]
	off, ok := snomZone(cfg.TimeZone)
	setZone(cfg, off, ok, nil)
	cfg.NTPServer = v["ntp_server"]
	cfg.ProvisioningURL = v["setting_server"]
	if onOff(v["prov_polling_enabled"]) && v["prov_polling_mode"] != "abs" {
		cfg.PollSeconds = atoi(v["prov_polling_period"])
	} else if t := atoi(v["settings_refresh_timer"]); t > 0 {
		cfg.PollSeconds = t
	}
	cfg.finish("snom")
}

func snomTransportParam(params string) string {
	for p := range strings.SplitSeq(params, ";") {
		if k, val, ok := strings.Cut(p, "="); ok && strings.TrimSpace(k) == "transport" {
			return strings.ToLower(strings.TrimSpace(val))
		}
	}
	return ""
}

// snomBasePlan: the M100/M500 KLE ({mac}.xml, <settings> modules) and the m3
// ({mac}.cfg, %KEY%:value lines) fetch the one file the URL they were given
// names (FusionPBX's index.php?mac=…); a directory URL gets the catalog's name.
func snomBasePlan(ctx context.Context, p Phone, base string, f Fetcher, cfg *Config) error {
	name := base
	format := p.catalogVar("format")
	if isDirURL(base) {
		name = p.MAC + map[string]string{"kle": ".xml", "m3": ".cfg"}[format]
		if names, ok := p.catalogFiles(); ok {
			name = names[0]
		}
	}
	read := readSnomKLE
	if format == "m3" {
		read = readSnomM3
	}
	if _, err := fetchParse(ctx, f, cfg, name, func(body []byte) error { return read(body, cfg) }); err != nil {
		return err
	}
	if format == "m3" {
		snomM3Extract(cfg)
	} else {
		snomKLEExtract(cfg)
	}
	return nil
}

// readSnomKLE stores every leaf of a KLE <settings> file under its path, an
// <idx id="N"> as "idx[N]" ("sip_account/idx[1]/user_id").
func readSnomKLE(body []byte, cfg *Config) error {
	root, err := parseXML(body)
	if err != nil {
		return err
	}
	if root.Name != "settings" {
		return fmt.Errorf("%w: root element %q, want settings", ErrFormat, root.Name)
	}
	seen := map[string]bool{}
	var walk func(n *node, prefix string) error
	walk = func(n *node, prefix string) error {
		for _, c := range n.Children {
			k := prefix + c.Name
			if c.Name == "idx" {
				id, _ := c.Attr("id")
				if id == "" {
					return fmt.Errorf("%w: <idx> without id under %s", ErrFormat, prefix)
				}
				k += "[" + id + "]"
			}
			if len(c.Children) > 0 {
				if err := walk(c, k+"/"); err != nil {
					return err
				}
				continue
			}
			if seen[k] {
				return fmt.Errorf("%w: %s set twice", ErrFormat, k)
			}
			seen[k] = true
			cfg.set(k, c.Text, false)
		}
		return nil
	}
	return walk(root, "")
}

var snomKLEAccountRe = regexp.MustCompile(`^sip_account/idx\[(\d+)\]/sip_account_enable$`)

func snomKLEExtract(cfg *Config) {
	v := cfg.Values
	for _, n := range indices(v, snomKLEAccountRe) {
		k := func(s string) string { return v[fmt.Sprintf("sip_account/idx[%d]/%s", n, s)] }
		a := Account{
			Line: n, Enabled: k("sip_account_enable") == "1",
			DisplayName: k("display_name"), Label: k("label"), User: k("user_id"),
			AuthUser: k("authentication_name"), Password: k("authentication_access_password"),
			Server: k("primary_registration_server_address"), Port: atoi(k("primary_registration_server_port")),
			ExpiresSecs: atoi(k("primary_registration_expires")), Transport: strings.ToLower(k("transport_mode")),
		}
		if a.Server == "" {
			a.Server = k("primary_sip_server_address")
		}
		if ob := k("primary_outbound_proxy_server_address"); ob != "" {
			a.OutboundProxy = ob
			if port := k("primary_outbound_proxy_server_port"); port != "" {
				a.OutboundProxy += ":" + port
			}
		}
		for i := 1; ; i++ {
			c, ok := v[fmt.Sprintf("sip_account/idx[%d]/codec_priority/idx[%d]", n, i)]
			if !ok || c == "none" {
				break
			}
			if nc := neutralCodec(c); nc != "" {
				a.Codecs = append(a.Codecs, nc)
			}
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	cfg.WebPassword = v["profile/admin/access_password"]
	cfg.NTPServer = v["time_date/ntp_server_addr"]
	cfg.TimeZone = v["time_date/selected_timezone"]
	if off, dst, ok := zoneOffset(cfg.TimeZone); ok && cfg.TimeZone != "" {
		setZone(cfg, off, true, boolp(dst))
	}
	cfg.ProvisioningURL = v["provisioning/server_address"]
	if t := atoi(v["provisioning/resync_time"]); t > 0 {
		cfg.PollSeconds = t * 60
	}
	cfg.finish("snom")
}

// m3Line: %KEY%:value, the value a "…" string or numbers, then an optional // comment.
var m3Line = regexp.MustCompile(`^%([A-Z0-9_]+)%:\s*("[^"]*"|[0-9A-Fa-fx,]+)\s*(?://.*)?$`)

// readSnomM3 reads the m3's lines; // comments and blank lines are skipped,
// END_OF_FILE ends the file.
func readSnomM3(body []byte, cfg *Config) error {
	seen := map[string]bool{}
	for n, line := range strings.Split(string(body), "\n") {
		line = strings.TrimRight(line, "\r")
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "//") {
			continue
		}
		if t == "END_OF_FILE" {
			return nil
		}
		m := m3Line.FindStringSubmatch(t)
		if m == nil {
			return fmt.Errorf("%w: line %d is not %%KEY%%:value", ErrFormat, n+1)
		}
		if seen[m[1]] {
			return fmt.Errorf("%w: %s set twice", ErrFormat, m[1])
		}
		seen[m[1]] = true
		cfg.set(m[1], strings.Trim(m[2], `"`), false)
	}
	return fmt.Errorf("%w: no END_OF_FILE", ErrFormat)
}

// snomM3Codecs: %SRV_n_SIP_UA_CODEC_PRIORITY% numbers (0xFF ends the list;
// 0 G.711u, 1 G.711a, 3 G.729, 4 G.726: inferred from FusionPBX's 0,1,3,4,0xFF).
var snomM3Codecs = map[string]string{"0": "pcmu", "1": "pcma", "3": "g729", "4": "g726-32"}

var snomM3AccountRe = regexp.MustCompile(`^SUBSCR_(\d+)_SIP_UA_DATA_SIP_NAME$`)

func snomM3Extract(cfg *Config) {
	v := cfg.Values
	var idx []int
	for key := range v {
		if m := snomM3AccountRe.FindStringSubmatch(key); m != nil {
			if i, err := strconv.Atoi(m[1]); err == nil && i < 10000 {
				idx = append(idx, i)
			}
		}
	}
	slices.Sort(idx)
	for _, i := range idx {
		sub := func(s string) string { return v[fmt.Sprintf("SUBSCR_%d_%s", i, s)] }
		srv := func(s string) string { return v[fmt.Sprintf("SRV_%d_%s", i, s)] }
		a := Account{
			Line: i + 1, Enabled: true, User: sub("SIP_UA_DATA_SIP_NAME"), DisplayName: sub("UA_DATA_DISP_NAME"),
			AuthUser: sub("UA_DATA_AUTH_NAME"), Password: sub("UA_DATA_AUTH_PASS"),
			Server: srv("SIP_UA_DATA_DOMAIN"), Port: atoi(srv("SIP_UA_DATA_SERVER_PORT")), Transport: "udp",
			ExpiresSecs: atoi(srv("SIP_UA_DATA_REREG_TIME")),
		}
		if ob := srv("SIP_UA_DATA_PROXY_ADDR"); ob != "" && ob != a.Server {
			a.OutboundProxy = ob
		}
		for id := range strings.SplitSeq(srv("SIP_UA_CODEC_PRIORITY"), ",") {
			if c, ok := snomM3Codecs[strings.TrimSpace(id)]; ok {
				a.Codecs = append(a.Codecs, c)
			}
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	cfg.NTPServer = v["NETWORK_SNTP_SERVER"]
	if u := v["NETWORK_TFTP_SERVER"]; u != "" {
		cfg.ProvisioningURL = u
	}
	cfg.finish("snom")
}
