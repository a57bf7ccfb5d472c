package vendorsim

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// Gigaset Pro DECT Nx70 (vendor-configs.md §8.1): per-device <mac>.xml
// (lower case); <provisioning><nvm><param name= value=/>…</nvm>.
// Accounts SipAccount.<hs>.*, providers SipProvider.<id>.*.
var gigaset = &Vendor{
	Key:             "gigaset",
	DisplayName:     "Gigaset",
	OUIs:            []string{"7c2f80", "589ec6", "002104", "14b370"},
	PnP:             true,
	Provisionable:   true,
	DefaultModel:    "N870",
	DefaultFirmware: func(Phone) string { return "83.V2.11.0+build.a546b91" },
	subscribe:       gigasetSubscribe,
	newIDs:          gigasetIDs,
	Retransmit:      rfcRetransmit,
	// "Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605".
	UserAgent: func(p Phone) string {
		ua := p.uaModel()
		if p.CatalogModel() == nil {
			ua += " IP PRO"
		}
		return fmt.Sprintf("Gigaset %s/%s;%s", ua, p.Firmware, strings.ToUpper(p.MAC))
	},
	ResolveURL: func(p Phone, u string) string {
		return expand(u, "{mac}", p.MAC, "{MAC}", strings.ToUpper(p.MAC), "%MACD", strings.ToUpper(p.MAC))
	},
	Plan:      gigasetPlan,
	CheckSync: []string{"check-sync"},
}

func gigasetPlan(ctx context.Context, p Phone, base string, f Fetcher, cfg *Config) error {
	name := base
	if isDirURL(base) {
		name = p.MAC + ".xml"
	}
	if _, err := fetchParse(ctx, f, cfg, name, func(body []byte) error { return readGigasetXML(body, cfg) }); err != nil {
		return err
	}
	gigasetExtract(cfg)
	return nil
}

func readGigasetXML(body []byte, cfg *Config) error {
	root, err := parseXML(body)
	if err != nil {
		return err
	}
	if root.Name != "provisioning" {
		return fmt.Errorf("%w: root element %q, want provisioning", ErrFormat, root.Name)
	}
	nvm := root.Child("nvm")
	if nvm == nil {
		return fmt.Errorf("%w: no <nvm>", ErrFormat)
	}
	seen := map[string]bool{}
	for _, c := range nvm.Children {
		if c.Name != "param" {
			continue // <oper> actions
		}
		name, ok := c.Attr("name")
		if !ok || name == "" {
			return fmt.Errorf("%w: <param> without name", ErrFormat)
		}
		val, _ := c.Attr("value")
		if seen[name] {
			return fmt.Errorf("%w: %s set twice", ErrFormat, name)
		}
		seen[name] = true
		cfg.set(name, val, false)
	}
	return nil
}

var gigasetAccountRe = regexp.MustCompile(`^SipAccount\.(\d+)\.`)

// gigasetTransports: SipProvider.<id>.TransportProtocol 1 UDP, 2 TCP, 3 TLS.
var gigasetTransports = map[string]string{"1": "udp", "2": "tcp", "3": "tls"}

func gigasetExtract(cfg *Config) {
	v := cfg.Values
	for _, n := range indices(v, gigasetAccountRe) {
		k := func(s string) string {
			if x, ok := v[fmt.Sprintf("SipAccount.%05d.%s", n, s)]; ok {
				return x // handset ids are 5 digits
			}
			return v[fmt.Sprintf("SipAccount.%d.%s", n, s)]
		}
		a := Account{
			Line:        n, // the handset id
			Enabled:     true,
			User:        k("UserName"),
			AuthUser:    k("AuthName"),
			Password:    k("AuthPassword"),
			DisplayName: k("DisplayName"),
		}
		if e, ok := v[fmt.Sprintf("SipAccount.%05d.AccountActive", n)]; ok {
			a.Enabled = onOff(e)
		}
		prov := k("ProviderId")
		pk := func(s string) string { return v["SipProvider."+prov+"."+s] }
		a.Server = pk("RegServerAddress")
		if a.Server == "" {
			a.Server = pk("Domain")
		}
		a.Port = atoi(pk("RegServerPort"))
		a.Transport = transportName(pk("TransportProtocol"), gigasetTransports)
		a.ExpiresSecs = atoi(pk("RegServerRefreshTimer"))
		// OutboundProxyMode 2 = never (Dialtone writes it when there is none).
		if mode := pk("OutboundProxyMode"); mode != "" && mode != "2" && pk("OutboundProxyAddress") != "" {
			a.OutboundProxy = pk("OutboundProxyAddress")
			if port := pk("OutboundProxyPort"); port != "" && port != "0" {
				a.OutboundProxy += ":" + port
			}
		}
		a.Codecs = codecList(strings.ReplaceAll(pk("AudioCodecs"), ";", ","))
		cfg.Accounts = append(cfg.Accounts, a)
	}
	cfg.WebPassword = v["WebUIAccounts.1.Password"]
	cfg.TimeZone = v["DmGlobal.0.TimeZone"]
	if off, dst, ok := zoneOffset(cfg.TimeZone); ok {
		setZone(cfg, off, ok, boolp(dst))
	}
	cfg.NTPServer = v["DmGlobal.0.NtpServer"]
	cfg.Language, _ = suffix(v, "Language")
	cfg.ProvisioningURL = v["Provisioning.global.ProvisioningServer"]
	cfg.finish("gigaset")
}
