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

// Gigaset Pro DECT Nx70 (vendor-configs.md §8.1): per-device <mac>.xml
// (lower case); <provisioning><nvm><param name= value=/>…</nvm>.
// Accounts SipAccount.<hs>.*, providers SipProvider.<id>.*.
var gigaset = &Vendor{
	Key:             "gigaset",
	DisplayName:     "Gigaset",
	OUIs:            vendorid.Prefixes("gigaset"), // the suite's one table, a typical block first
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
		if names, ok := p.catalogFiles(); ok {
			name = names[0] // N510/N720: <MAC>.xml in upper case
		} else if m := strings.ToUpper(p.Model); strings.HasPrefix(m, "N510") || strings.HasPrefix(m, "N720") {
			name = strings.ToUpper(p.MAC) + ".xml" // a made-up model of those families
		}
	}
	frame := false
	if _, err := fetchParse(ctx, f, cfg, name, func(body []byte) (err error) {
		frame, err = readGigasetXML(body, cfg)
		return err
	}); err != nil {
		return err
	}
	if frame {
		gigasetFrameExtract(cfg)
		return nil
	}
	gigasetExtract(cfg)
	return nil
}

// readGigasetXML reads an Nx70 <provisioning> file or an N510/N720
// <ProviderFrame> (frame true): <SYMB_ITEM ID=… value=…/> items whose string
// values are written inside '"…"' (stored unquoted), plus <MAC_ADDRESS>,
// <PROFILE_NAME> and <S_…> elements.
func readGigasetXML(body []byte, cfg *Config) (frame bool, err error) {
	root, err := parseXML(body)
	if err != nil {
		return false, err
	}
	if root.Name == "ProviderFrame" {
		prov := root.Child("Provider")
		if prov == nil {
			return true, fmt.Errorf("%w: no <Provider>", ErrFormat)
		}
		seen := map[string]bool{}
		for _, c := range prov.Children {
			name := c.Name
			if c.Name == "SYMB_ITEM" {
				if name, _ = c.Attr("ID"); name == "" {
					return true, fmt.Errorf("%w: <SYMB_ITEM> without ID", ErrFormat)
				}
			}
			val, _ := c.Attr("value")
			if len(val) >= 2 && strings.HasPrefix(val, `"`) && strings.HasSuffix(val, `"`) {
				val = val[1 : len(val)-1]
			}
			if seen[name] {
				return true, fmt.Errorf("%w: %s set twice", ErrFormat, name)
			}
			seen[name] = true
			cfg.set(name, val, false)
		}
		return true, nil
	}
	return false, readGigasetNVM(root, cfg)
}

func readGigasetNVM(root *node, cfg *Config) error {
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

// gigasetFrameCodecs: <ProviderFrame> vocoder ids (WZ:plugins/wazo_gigaset/N510/
// templates/base.tpl: 0x00 G.711u, 0x01 G.711a, 0x02 G.726, 0x03 G.729, 0x05 G.722;
// 0xff ends a list).
var gigasetFrameCodecs = map[string]string{"0x00": "pcmu", "0x01": "pcma", "0x02": "g726-32", "0x03": "g729", "0x05": "g722"}

func frameCodecs(list string) []string {
	var out []string
	for id := range strings.SplitSeq(list, ",") {
		if c, ok := gigasetFrameCodecs[strings.ToLower(strings.TrimSpace(id))]; ok {
			out = append(out, c)
		}
	}
	return out
}

// hexOrDec reads "0x13c4" or "5060".
func hexOrDec(s string) int {
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		n, err := strconv.ParseInt(h, 16, 32)
		if err != nil {
			return 0
		}
		return int(n)
	}
	return atoi(s)
}

var (
	gigasetN510ActiveRe = regexp.MustCompile(`^BS_IP_Data1\.ucB_SIP_ACCOUNT_IS_ACTIVE_(\d+)$`)
	gigasetN720ActiveRe = regexp.MustCompile(`^BS_VOIP_Data\.astVoipAccounts\[(\d+)\]\.ucB_SIP_ACCOUNT_IS_ACTIVE_1$`)
)

// gigasetFrameExtract: the N510 (BS_IP_Data1.*, account n's keys suffixed "_n"
// from 2) and the N720 (BS_VOIP_Data.astVoipAccounts[n-1].*, provider 0).
func gigasetFrameExtract(cfg *Config) {
	v := cfg.Values
	for _, n := range indices(v, gigasetN510ActiveRe) {
		sfx := ""
		if n > 1 {
			sfx = "_" + strconv.Itoa(n)
		}
		a := Account{
			Line: n, Enabled: hexOrDec(v[fmt.Sprintf("BS_IP_Data1.ucB_SIP_ACCOUNT_IS_ACTIVE_%d", n)]) == 1,
			User: v["BS_IP_Data1.aucS_SIP_USER_ID"+sfx], AuthUser: v["BS_IP_Data3.aucS_SIP_LOGIN_ID"+sfx],
			Password: v["BS_IP_Data1.aucS_SIP_PASSWORD"+sfx], DisplayName: v["BS_IP_Data1.aucS_SIP_DISPLAYNAME"+sfx],
			Server: v["BS_IP_Data1.aucS_SIP_REGISTRAR"+sfx], Port: hexOrDec(v["BS_IP_Data1.uiI_SIP_REGISTRAR_PORT"+sfx]),
			Transport: "udp", ExpiresSecs: hexOrDec(v["BS_IP_Data1.uiI_RE_REGISTRATION_TIMER"+sfx]),
			Codecs: frameCodecs(v["BS_IP_Data1.ucI_SIP_PREFERRED_VOCODER"+sfx]),
		}
		if a.Server == "" {
			a.Server = v["BS_IP_Data1.aucS_SIP_SERVER"+sfx]
		}
		if ob := v["BS_IP_Data1.aucS_OUTBOUND_PROXY"+sfx]; ob != "" && hexOrDec(v["BS_IP_Data1.ucI_OUTBOUND_PROXY_MODE"+sfx]) != 2 {
			a.OutboundProxy = ob
			if port := hexOrDec(v["BS_IP_Data1.uiI_OUTBOUND_PROXY_PORT"+sfx]); port != 0 {
				a.OutboundProxy += ":" + strconv.Itoa(port)
			}
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	const pv = "BS_VOIP_Data.astVoipProviders[0]."
	var n720 []int // account indexes from 0, which indices() skips
	for key := range v {
		if m := gigasetN720ActiveRe.FindStringSubmatch(key); m != nil {
			if i, err := strconv.Atoi(m[1]); err == nil && i < 10000 {
				n720 = append(n720, i)
			}
		}
	}
	slices.Sort(n720)
	for _, i := range n720 {
		k := func(s string) string { return v[fmt.Sprintf("BS_VOIP_Data.astVoipAccounts[%d].%s", i, s)] }
		a := Account{
			Line: i + 1, Enabled: hexOrDec(k("ucB_SIP_ACCOUNT_IS_ACTIVE_1")) == 1,
			User: k("aucS_SIP_USER_ID[0]"), AuthUser: k("aucS_SIP_LOGIN_ID[0]"), Password: k("aucS_SIP_PASSWORD[0]"),
			DisplayName: k("aucS_SIP_DISPLAYNAME[0]"),
			Server:      v[pv+"aucSIP_REGISTRAR[%]"], Port: hexOrDec(v[pv+"uiSIP_REGISTRAR_PORT"]),
			// 17 = UDP (WZ N720 base.tpl); 6 = TCP by the same IP-protocol numbering (inferred).
			Transport:   transportName(v[pv+"ucSIP_PREFERRED_TRANSPORT_LAYER"], map[string]string{"17": "udp", "6": "tcp"}),
			ExpiresSecs: hexOrDec(v[pv+"uiRE_REGISTRATION_TIMER"]),
			Codecs:      frameCodecs(v["BS_VOIP_Data.astVoipAccounts[%].aucI_SIP_PREFERRED_VOCODER[%]"]),
		}
		if a.Server == "" {
			a.Server = v[pv+"aucSIP_SERVER[%]"]
		}
		if ob := v[pv+"aucOUTBOUND_PROXY[%]"]; ob != "" && v[pv+"ucOUTBOUND_PROXY_MODE"] != "2" {
			a.OutboundProxy = ob
			if port := hexOrDec(v[pv+"uiOUTBOUND_PROXY_PORT"]); port != 0 {
				a.OutboundProxy += ":" + strconv.Itoa(port)
			}
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	cfg.WebPassword = v["BS_CUSTOM.WebUIPassword"]
	cfg.NTPServer = v["BS_IP_Data1.aucS_TIME_NTP_SERVER"]
	if cfg.NTPServer == "" {
		cfg.NTPServer = v["BS_IP_Data.aucS_TIME_NTP_SERVER[%]"]
	}
	cfg.Language = v["BS_IP_Data1.ucI_HTTPLANGUAGE"]
	if cfg.Language == "" {
		cfg.Language = v["BS_IP_Data.ucI_HTTPLANGUAGE"]
	}
	// The N510 is given its server without a scheme (as Wazo writes it); the
	// base then uses HTTP (inferred).
	if u := v["BS_IP_Data1.aucS_DATA_SERVER[0]"]; u != "" {
		cfg.ProvisioningURL = "http://" + u
	}
	tz, dst := v["BS_IP_Data1.uiI_TIME_TIMEZONE"], v["BS_IP_Data1.ucB_TIME_USE_AUTOMATIC_DST"]
	if tz == "" {
		tz, dst = v["BS_IP_Data.uiI_TIME_TIMEZONE"], v["BS_IP_Data.ucB_TIME_USE_AUTOMATIC_DST"]
	}
	if tz != "" {
		cfg.TimeZone = tz
		for off, code := range gigasetFrameZones {
			if code == hexOrDec(tz) {
				setZone(cfg, off*60, true, boolp(hexOrDec(dst) == 1))
			}
		}
	}
	cfg.finish("gigaset")
}

// gigasetFrameZones: uiI_TIME_TIMEZONE by standard offset in minutes
// (WZ:plugins/wazo_gigaset/common/common.py _TZ_GIGASET).
var gigasetFrameZones = map[int]int{
	-12 * 60: 0x00, -11 * 60: 0x01, -10 * 60: 0x02, -9 * 60: 0x03, -8 * 60: 0x04, -7 * 60: 0x07, -6 * 60: 0x09,
	-5 * 60: 0x0D, -4 * 60: 0x10, -3 * 60: 0x12, -2 * 60: 0x16, -1 * 60: 0x18, 0: 0x1A, 60: 0x1B, 120: 0x20,
	180: 0x28, 240: 0x2C, 270: 0x2D, 300: 0x2F, 330: 0x30, 345: 0x31, 360: 0x33, 390: 0x35, 420: 0x36,
	480: 0x38, 540: 0x3D, 570: 0x40, 600: 0x43, 660: 0x47, 720: 0x48, 780: 0x50,
}
