package vendorsim

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/dialtone-voip/dialtone/platform/vendorid"
)

// Fanvil (vendor-configs.md §5): the model's common file, then <mac>.cfg
// (lower case). Two formats are read: <sysConf> XML with per-line
// <sip><line index="N"> (firmware 2.2.10+), and "key = value" text.
var fanvil = &Vendor{
	Key:             "fanvil",
	DisplayName:     "Fanvil",
	OUIs:            vendorid.Prefixes("fanvil"), // the suite's one table, a typical block first
	PnP:             true,
	Provisionable:   true,
	DefaultModel:    "X4U",
	DefaultFirmware: func(string) string { return "2.12.16.17" },
	subscribe:       fanvilSubscribe,
	newIDs:          rfcIDs,
	Retransmit:      rfcRetransmit,
	// "Fanvil X4 2.10.2.6887 0c383e07e16c".
	UserAgent: func(p Phone) string {
		return fmt.Sprintf("Fanvil %s %s %s", p.Model, p.Firmware, p.MAC)
	},
	// PLANET documents "$mac" in the PnP URL.
	ResolveURL: func(p Phone, u string) string {
		return expand(u, "$mac", p.MAC, "$MAC", strings.ToUpper(p.MAC), "{mac}", p.MAC)
	},
	Plan:      fanvilPlan,
	CheckSync: []string{"check-sync"},
}

// fanvilCommon lists the model common files Wazo serves (COMMON_FILES).
var fanvilCommon = map[string]string{
	"X2": "f0X2hw1.100.cfg", "X3": "F0V00X300000.cfg", "X3S": "f0X3shw1.100.cfg", "X3SG": "f0X3sghw1.100.cfg",
	"X4": "f0X4hw1.100.cfg", "X5": "f0X5hw1.100.cfg", "X5S": "F0V00X5S0000.cfg", "X6": "F0V00X600000.cfg",
	"X6V2": "F0000X600000.cfg", "X210": "F0V00X200000.cfg", "X5U-V2": "F0V5UV200000.cfg",
	"X210-V2": "fanvil_x210_v2_hwv2_0.txt", "X4U-V2": "fanvil_x4u_v2_hwv2_0.txt", "V62": "F0VV6200000.cfg",
	"V64": "F0V0V6400000.cfg", "V65": "F0V0V6500000.cfg", "V67": "F0V0V6700000.cfg",
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
	if common, ok := fanvilCommon[strings.ToUpper(p.Model)]; ok {
		if _, err := fetchParse(ctx, f, cfg, common, read); err != nil {
			return err
		}
	}
	if _, err := fetchParse(ctx, f, cfg, p.MAC+".cfg", read); err != nil {
		return err
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
		if root.Name != "sysConf" {
			return fmt.Errorf("%w: root element %q, want sysConf", ErrFormat, root.Name)
		}
		flattenXML(root, cfg, false)
		return nil
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

var fanvilLineRe = regexp.MustCompile(`(?:^|\.)line\.(\d+)\.`)

// fanvilTransports: Transport 0 UDP, 1 TCP, 3 TLS (Wazo, FusionPBX).
var fanvilTransports = map[string]string{"0": "udp", "1": "tcp", "2": "tcp", "3": "tls"}

func fanvilExtract(cfg *Config) {
	v := cfg.Values
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
			Transport:   transportName(k("Transport"), fanvilTransports),
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
