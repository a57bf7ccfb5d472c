package vendorsim

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
)

// Fanvil (vendor-configs.md §5): the model's common file, then <mac>.cfg
// (lower case). Two formats are read: <sysConf> XML with per-line
// <sip><line index="N"> (firmware 2.2.10+), and "key = value" text.
var fanvil = &Vendor{
	Key:             "fanvil",
	DisplayName:     "Fanvil",
	OUIs:            []string{"0c383e"},
	PnP:             true,
	Provisionable:   true,
	DefaultModel:    "X4U",
	DefaultFirmware: func(Phone) string { return "2.12.16.17" },
	subscribe:       fanvilSubscribe,
	newIDs:          rfcIDs,
	Retransmit:      rfcRetransmit,
	// "Fanvil X4 2.10.2.6887 0c383e07e16c".
	UserAgent: func(p Phone) string {
		return fmt.Sprintf("Fanvil %s %s %s", p.uaModel(), p.Firmware, p.MAC)
	},
	// PLANET documents "$mac" in the PnP URL.
	ResolveURL: func(p Phone, u string) string {
		return expand(u, "$mac", p.MAC, "$MAC", strings.ToUpper(p.MAC), "{mac}", p.MAC)
	},
	Plan:      fanvilPlan,
	CheckSync: []string{"check-sync"},
}

func fanvilPlan(ctx context.Context, p Phone, base string, f Fetcher, cfg *Config) error {
	read := func(body []byte) error { return readFanvil(body, cfg) }
	if !isDirURL(base) {
		if _, err := fetchParse(ctx, f, cfg, base, read); err != nil {
			return err
		}
		fanvilExtract(cfg)
		return nil
	}
	// The catalog lists the model's common file (when it has one) before
	// <mac>.cfg; a model it does not know asks only for <mac>.cfg.
	names, ok := p.catalogFiles()
	if !ok {
		names = []string{p.MAC + ".cfg"}
	}
	for _, name := range names {
		if _, err := fetchParse(ctx, f, cfg, name, read); err != nil {
			return err
		}
	}
	fanvilExtract(cfg)
	return nil
}

func readFanvil(body []byte, cfg *Config) error {
	t := bytes.TrimSpace(body)
	if bytes.HasPrefix(t, []byte("<")) {
		root, err := parseXML(body)
		if err != nil {
			return err
		}
		switch root.Name {
		case "sysConf":
			flattenXML(root, cfg, false)
			return nil
		case "VOIP_CONFIG_FILE":
			return readFanvilVCF(root, cfg)
		}
		return fmt.Errorf("%w: root element %q, want sysConf or VOIP_CONFIG_FILE", ErrFormat, root.Name)
	}
	lines, err := parseKeyValue(body)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if l.Key == "" {
			if strings.HasPrefix(l.Value, "#!") {
				continue
			}
			return fmt.Errorf("%w: line %d: not key = value", ErrFormat, l.Line)
		}
		if seen[l.Key] {
			return fmt.Errorf("%w: line %d: %s set twice", ErrFormat, l.Line, l.Key)
		}
		seen[l.Key] = true
		cfg.set(l.Key, l.Value, false)
	}
	return nil
}

// fanvilVCFNames maps the legacy <VOIP_CONFIG_FILE> settings phonesim reads
// to the <sysConf> names fanvilExtract looks for (layout: Wazo
// plugins/wazo_fanvil/common/templates/base.tpl, FusionPBX
// resources/templates/provision/fanvil/x4/{$mac}.cfg, as config-renderer's
// fanvil/vcf-* templates write it). Line and account entries drop the
// underscores: Phone_Number is PhoneNumber, Register_Pswd RegisterPswd.
var fanvilVCFNames = map[string]string{
	"Download_Server_IP": "FlashServerIP", "Config_File_Name": "FlashFileName", "Download_Interval": "FlashInterval",
	"SNTP_Server": "SNTPServer", "Time_Zone": "TimeZone", "Time_Zone_Name": "TimeZoneName",
	"Enable_DST": "EnableDST", "Language": "DefaultLanguage",
}

// fanvilVCFMarker records that a file was in the legacy format, whose
// <Transport> numbers TLS 2 where <sysConf> uses 3.
const fanvilVCFMarker = "vcf:format"

// readFanvilVCF reads <VOIP_CONFIG_FILE>: modules of flat settings, the SIP
// lines as <SIP_Line_List_Entry><ID>SIPn</ID>…, web users as
// <MMI_Account_Entry><ID>AccountN</ID>….
func readFanvilVCF(root *node, cfg *Config) error {
	cfg.set(fanvilVCFMarker, "1", false)
	entry := func(e *node, idPrefix, keyPrefix string) error {
		id := e.Child("ID")
		if id == nil {
			return fmt.Errorf("%w: <%s> without <ID>", ErrFormat, e.Name)
		}
		n, ok := strings.CutPrefix(id.Text, idPrefix)
		if !ok || atoi(n) < 1 {
			return fmt.Errorf("%w: <%s> ID %q, want %sN", ErrFormat, e.Name, id.Text, idPrefix)
		}
		for _, c := range e.Children {
			if c.Name != "ID" {
				cfg.set(fmt.Sprintf("%s.%d.%s", keyPrefix, atoi(n), strings.ReplaceAll(c.Name, "_", "")), c.Text, false)
			}
		}
		return nil
	}
	for _, mod := range root.Children {
		for _, c := range mod.Children {
			switch c.Name {
			case "SIP_Line_List", "MMI_Account":
				for _, e := range c.Children {
					var err error
					switch e.Name {
					case "SIP_Line_List_Entry":
						err = entry(e, "SIP", "line")
					case "MMI_Account_Entry":
						err = entry(e, "Account", "web.account")
					default:
						err = fmt.Errorf("%w: unexpected <%s> in <%s>", ErrFormat, e.Name, c.Name)
					}
					if err != nil {
						return err
					}
				}
				continue
			}
			if len(c.Children) > 0 {
				continue // settings phonesim does not read (function keys…)
			}
			name := c.Name
			if n, ok := fanvilVCFNames[name]; ok {
				name = n
			}
			cfg.set("vcf."+mod.Name+"."+name, c.Text, false)
		}
	}
	return nil
}

var fanvilLineRe = regexp.MustCompile(`(?:^|\.)line\.(\d+)\.`)

// fanvilTransports: Transport 0 UDP, 1 TCP, 3 TLS (Wazo, FusionPBX);
// fanvilVCFTransports: the legacy format's 2 is TLS (FusionPBX fanvil/x4).
var (
	fanvilTransports    = map[string]string{"0": "udp", "1": "tcp", "2": "tcp", "3": "tls"}
	fanvilVCFTransports = map[string]string{"0": "udp", "1": "tcp", "2": "tls"}
)

func fanvilExtract(cfg *Config) {
	v := cfg.Values
	transports := fanvilTransports
	if v[fanvilVCFMarker] != "" {
		transports = fanvilVCFTransports
	}
	for _, n := range indices(v, fanvilLineRe) {
		k := func(s string) string {
			for _, p := range []string{"sip.line.%d.", "line.%d."} {
				if x, ok := v[fmt.Sprintf(p, n)+s]; ok {
					return x
				}
			}
			return ""
		}
		a := Account{
			Line:        n,
			Enabled:     onOff(k("EnableReg")),
			User:        k("PhoneNumber"),
			DisplayName: k("DisplayName"),
			AuthUser:    k("RegisterUser"),
			Password:    k("RegisterPswd"),
			Server:      k("RegisterAddr"),
			Port:        atoi(k("RegisterPort")),
			Transport:   transportName(k("Transport"), transports),
			ExpiresSecs: atoi(k("RegisterTTL")),
			Codecs:      codecList(k("VoiceCodecMap")),
		}
		if px := k("ProxyAddr"); px != "" && px != a.Server {
			a.OutboundProxy = px
			if port := k("ProxyPort"); port != "" && port != "0" {
				a.OutboundProxy += ":" + port
			}
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	for k, val := range v {
		if strings.HasPrefix(k, "web.account.") && strings.HasSuffix(k, ".Password") {
			if name := v[strings.TrimSuffix(k, "Password")+"Name"]; name == "admin" || name == "" {
				cfg.WebPassword = val
			}
		}
	}
	cfg.Language, _ = suffix(v, "DefaultLanguage")
	cfg.TimeZone, _ = suffix(v, "TimeZoneName")
	if cfg.TimeZone == "" {
		cfg.TimeZone, _ = suffix(v, "TimeZone")
	}
	cfg.NTPServer, _ = suffix(v, "SNTPServer")
	if name := cfg.TimeZone; name != "" {
		if q, ok := suffix(v, "TimeZone"); ok && q != "" {
			dst, _ := suffix(v, "EnableDST")
			setZone(cfg, 900*atoi(q), true, boolp(dst != "" && dst != "0"))
		}
	}
	// The phone polls FlashServerIP/FlashFileName ($mac expanded by the phone).
	if srv, ok := suffix(v, "FlashServerIP"); ok && srv != "" {
		cfg.ProvisioningURL = srv
		if file, ok := suffix(v, "FlashFileName"); ok && file != "" {
			cfg.ProvisioningURL = strings.TrimSuffix(srv, "/") + "/" + file
		}
	}
	if iv, ok := suffix(v, "FlashInterval"); ok {
		cfg.PollSeconds = 3600 * atoi(iv) // hours
	}
	cfg.finish("fanvil")
}
