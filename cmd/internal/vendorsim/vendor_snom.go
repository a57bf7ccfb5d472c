package vendorsim

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// snom (vendor-configs.md §4): the phone replaces {mac} (upper case) and
// {phone_type} in the setting-server URL. When the URL names no file it
// fetches snom<model>.htm and snom<model>-<MAC>.htm; a file may be a
// <settings> document or a <setting-files> index whose <file url=…> entries
// are fetched in turn. Parameters: <name idx="N" perm="…">value</name>.
var snom = &Vendor{
	Key:             "snom",
	DisplayName:     "Snom",
	OUIs:            []string{"000413"},
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
