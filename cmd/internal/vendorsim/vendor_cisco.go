package vendorsim

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/dialtone-voip/dialtone/platform/vendorid"
)

// Cisco MPP 3PCC (vendor-configs.md §6): the profile rule is a URL with
// macros ($MA lower-case MAC, $MAU upper, $MAC with colons, $PN/$PSN the
// product); a directory URL gets <mac>.xml appended (phonesim's reading of
// Dialtone's directory URLs). <flat-profile> with one element per
// parameter, line parameters ending in _<n>_; the last occurrence wins.
// Profile_Rule_B.._D, when set to another URL, are fetched in turn.
var cisco = &Vendor{
	Key:           "cisco",
	DisplayName:   "Cisco",
	PnP:           false,
	Provisionable: true,
	OUIs:          vendorid.Prefixes("cisco"), // the suite's one table, a typical block first
	DefaultModel:  "CP-8851-3PCC",
	DefaultFirmware: func(p Phone) string {
		if ciscoIsSPA(p) {
			return "7.6.2b"
		}
		return "12.0.1"
	},
	// MPP "Cisco-CP-7832-3PCC/11.0.1 (00562b043615)"; SPA
	// "Cisco/SPA504G-7.6.2b (0018B9FFFFFF)(CCQ16130A8W)", older
	// "Linksys/SPA-942-6.1.5(a) (4MM00F503446)", carrying the serial number
	// rather than the MAC.
	UserAgent: func(p Phone) string {
		if ciscoIs79(p) || ciscoIsSEP(p) { // fetched for it by the pnp-listener's TFTP front (tftpfront.UserAgent)
			return "dialtone-pnp-listener-tftp (MAC:" + strings.ToUpper(p.MAC) + ")"
		}
		if ciscoIsSPA(p) {
			return fmt.Sprintf("Cisco/%s-%s (%s)(CCQ16130A8W)", p.uaModel(), p.Firmware, strings.ToUpper(p.MAC))
		}
		return fmt.Sprintf("Cisco-%s/%s (%s)", p.uaModel(), p.Firmware, p.MAC)
	},
	ResolveURL: ciscoExpand,
	Plan:       ciscoPlan,
	CheckSync:  []string{"resync", "check-sync"},
}

// ciscoIsSPA: the SPA5xx/SPA9xx family, by the catalog or the model name.
func ciscoIsSPA(p Phone) bool {
	if m := p.CatalogModel(); m != nil {
		return strings.HasPrefix(m.Family, "SPA")
	}
	return strings.HasPrefix(strings.ToUpper(p.Model), "SPA")
}

// ciscoIs79: the 7940/7960 SIP firmware (catalog format sip79).
func ciscoIs79(p Phone) bool { return p.catalogVar("format") == "sip79" }

// ciscoIsSEP: the 79x1/79x2/797x/894x SIP firmware (catalog format sep).
func ciscoIsSEP(p Phone) bool { return p.catalogVar("format") == "sep" }

func ciscoExpand(p Phone, u string) string {
	psn := p.catalogVar("psn")
	if psn == "" {
		psn = strings.TrimPrefix(p.Model, "CP-")
	}
	// Longest macros first so $MAU is not read as $MA + "U".
	return expand(u, "$MAU", strings.ToUpper(p.MAC), "$MAC", colonMAC(p.MAC), "$MA", p.MAC,
		"$PSN", psn, "$PN", p.Model, "$SWVER", p.Firmware)
}

// ciscoPlan: a directory URL stands for the factory rule under it: the
// catalog's first file ("/$PSN.xml" for MPP, "/spa$PSN.cfg" for SPA), which
// config-renderer serves with Profile_Rule set to "<url>$MA.xml". When a file sets Profile_Rule to another URL the phone
// resyncs from it at once; Profile_Rule_B.._D are fetched in turn.
func ciscoPlan(ctx context.Context, p Phone, base string, f Fetcher, cfg *Config) error {
	if ciscoIs79(p) {
		return cisco79Plan(ctx, p, base, f, cfg)
	}
	if ciscoIsSEP(p) {
		return ciscoSEPPlan(ctx, p, base, f, cfg)
	}
	first := base
	if isDirURL(base) {
		first = ciscoExpand(p, "$PSN.xml")
		if ciscoIsSPA(p) {
			first = ciscoExpand(p, "spa$PSN.cfg")
		}
		if names, ok := p.catalogFiles(); ok {
			first = names[0]
		}
	}
	done := map[string]bool{}
	queue := []string{first}
	for len(queue) > 0 && len(done) < 5 {
		name := queue[0]
		queue = queue[1:]
		if done[name] {
			continue
		}
		done[name] = true
		file, err := fetchParse(ctx, f, cfg, name, func(body []byte) error { return readCiscoXML(body, cfg) })
		if err != nil {
			return err
		}
		if !file.OK() {
			continue
		}
		if r := strings.TrimSpace(cfg.Values["Profile_Rule"]); r != "" {
			if u := ciscoExpand(p, ciscoStripOptions(r)); u != file.URL && !done[u] {
				queue = append(queue, u)
			}
		}
		for _, rule := range []string{"Profile_Rule_B", "Profile_Rule_C", "Profile_Rule_D"} {
			if r := strings.TrimSpace(cfg.Values[rule]); r != "" {
				queue = append(queue, ciscoExpand(p, ciscoStripOptions(r)))
			}
		}
	}
	ciscoExtract(cfg)
	return nil
}

// ciscoStripOptions drops a leading "[--uid u --pwd p]" qualifier.
func ciscoStripOptions(rule string) string {
	if strings.HasPrefix(rule, "[") {
		if i := strings.Index(rule, "]"); i > 0 {
			return strings.TrimSpace(rule[i+1:])
		}
	}
	return rule
}

func readCiscoXML(body []byte, cfg *Config) error {
	root, err := parseXML(body)
	if err != nil {
		return err
	}
	if root.Name != "flat-profile" {
		return fmt.Errorf("%w: root element %q, want flat-profile", ErrFormat, root.Name)
	}
	for _, c := range root.Children {
		if len(c.Children) > 0 {
			return fmt.Errorf("%w: <%s> is not flat", ErrFormat, c.Name)
		}
		cfg.set(c.Name, c.Text, false) // "the last such occurrence overrides"
	}
	return nil
}

var ciscoUserRe = regexp.MustCompile(`^User_ID_(\d+)_$`)

func ciscoExtract(cfg *Config) {
	v := cfg.Values
	for _, n := range indices(v, ciscoUserRe) {
		k := func(s string) string { return v[fmt.Sprintf("%s_%d_", s, n)] }
		a := Account{
			Line:          n,
			Enabled:       k("Line_Enable") == "" || onOff(k("Line_Enable")),
			DisplayName:   k("Display_Name"),
			Label:         k("Short_Name"),
			User:          k("User_ID"),
			AuthUser:      k("Auth_ID"),
			Password:      k("Password"),
			OutboundProxy: k("Outbound_Proxy"),
			Transport:     transportName(k("SIP_Transport"), nil),
			ExpiresSecs:   atoi(k("Register_Expires")),
		}
		if uob := k("Use_Outbound_Proxy"); uob != "" && !onOff(uob) {
			a.OutboundProxy = ""
		}
		a.Server, a.Port = splitHostPort(k("Proxy"))
		if a.Port == 0 {
			a.Port = atoi(k("SIP_Port"))
		}
		for _, c := range []string{"Preferred_Codec", "Second_Preferred_Codec", "Third_Preferred_Codec"} {
			if name := neutralCodec(k(c)); name != "" && !slices.Contains(a.Codecs, name) {
				a.Codecs = append(a.Codecs, name)
			}
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	cfg.WebPassword = v["Admin_Password"]
	cfg.Language = v["Language_Selection"]
	if cfg.Language == "" {
		cfg.Language = v["Locale"]
	}
	cfg.TimeZone = v["Time_Zone"]
	if off, ok := parseOffset(strings.TrimPrefix(cfg.TimeZone, "GMT")); ok {
		setZone(cfg, off, true, boolp(onOff(v["Daylight_Saving_Time_Enable"])))
	}
	cfg.NTPServer = v["Primary_NTP_Server"]
	cfg.ProvisioningURL = ciscoStripOptions(v["Profile_Rule"]) // with the phone's macros unexpanded
	cfg.PollSeconds = atoi(v["Resync_Periodic"])
	cfg.finish("cisco")
}

// cisco79Plan: the 7940/7960 read SIPDefault.cnf, then SIP<MAC>.cnf (upper-case
// MAC), from their TFTP server's root; phonesim fetches the same names under the
// URL it was given, as the pnp-listener's TFTP front does for the phone. A
// URL naming a file fetches that file alone.
func cisco79Plan(ctx context.Context, p Phone, base string, f Fetcher, cfg *Config) error {
	names := []string{base}
	if isDirURL(base) {
		names = []string{"SIPDefault.cnf", "SIP" + strings.ToUpper(p.MAC) + ".cnf"}
		if n, ok := p.catalogFiles(); ok {
			names = n
		}
	}
	for _, name := range names {
		if _, err := fetchParse(ctx, f, cfg, name, func(body []byte) error { return readCisco79(body, cfg) }); err != nil {
			return err
		}
	}
	cisco79Extract(cfg)
	return nil
}

// cisco79Line: key: "value" (FusionPBX cisco/7960 SIPDefault.cnf, SIP{$mac}.cnf),
// the value quoted or bare, an optional ; comment after it.
var cisco79Line = regexp.MustCompile(`^([A-Za-z0-9_.]+)\s*:\s*("[^"]*"|[^\s;"]*)\s*(?:;.*)?$`)

// readCisco79 reads key: "value" lines; # comments and blank lines are skipped.
// A later file's value overrides an earlier one's, as SIP<MAC>.cnf overrides
// SIPDefault.cnf.
func readCisco79(body []byte, cfg *Config) error {
	for n, line := range strings.Split(string(body), "\n") {
		t := strings.TrimSpace(strings.TrimRight(line, "\r"))
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		m := cisco79Line.FindStringSubmatch(t)
		if m == nil {
			return fmt.Errorf("%w: line %d is not key: \"value\"", ErrFormat, n+1)
		}
		cfg.set(m[1], strings.Trim(m[2], `"`), false)
	}
	return nil
}

var cisco79UserRe = regexp.MustCompile(`^line(\d+)_name$`)

func cisco79Extract(cfg *Config) {
	v := cfg.Values
	for _, n := range indices(v, cisco79UserRe) {
		k := func(s string) string { return v[fmt.Sprintf("line%d_%s", n, s)] }
		if k("name") == "" {
			continue
		}
		a := Account{
			Line: n, Enabled: true, User: k("name"), DisplayName: k("displayname"), Label: k("shortname"),
			AuthUser: k("authname"), Password: k("password"), Transport: "udp",
			Server:      v[fmt.Sprintf("proxy%d_address", n)],
			Port:        atoi(v[fmt.Sprintf("proxy%d_port", n)]),
			ExpiresSecs: atoi(v["timer_register_expires"]),
		}
		if ob := v["outbound_proxy"]; ob != "" {
			a.OutboundProxy = ob
			if port := v["outbound_proxy_port"]; port != "" {
				a.OutboundProxy += ":" + port
			}
		}
		if c := neutralCodec(v["preferred_codec"]); c != "" {
			a.Codecs = []string{c}
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	cfg.WebPassword = v["phone_password"]
	cfg.NTPServer = v["sntp_server"]
	cfg.finish("cisco")
}

// ciscoSEPPlan: the 79x1/797x/894x SIP firmware asks its TFTP server for its
// trust lists CTLSEP<MAC>.tlv and ITLSEP<MAC>.tlv (Wazo wazo_cisco_sip
// common/common.py _FILENAME_REGEXES; without them it runs unsecured), then
// SEP<MAC>.cnf.xml (upper-case MAC), and XMLDefault.cnf.xml only when that is
// missing. phonesim asks for the same names under the URL it was given, as the
// pnp-listener's TFTP front does for the phone. A URL naming a file fetches
// that file alone.
func ciscoSEPPlan(ctx context.Context, p Phone, base string, f Fetcher, cfg *Config) error {
	read := func(body []byte) error { return readCiscoSEP(body, cfg) }
	if !isDirURL(base) {
		if _, err := fetchParse(ctx, f, cfg, base, read); err != nil {
			return err
		}
		ciscoSEPExtract(cfg)
		return nil
	}
	mac := strings.ToUpper(p.MAC)
	for _, name := range []string{"CTLSEP" + mac + ".tlv", "ITLSEP" + mac + ".tlv"} {
		if _, err := fetchRecord(ctx, f, cfg, name); err != nil { // a trust list phonesim does not check
			return err
		}
	}
	file, err := fetchParse(ctx, f, cfg, "SEP"+mac+".cnf.xml", read)
	if err != nil {
		return err
	}
	if !file.OK() {
		if _, err := fetchParse(ctx, f, cfg, "XMLDefault.cnf.xml", read); err != nil {
			return err
		}
	}
	ciscoSEPExtract(cfg)
	return nil
}

// readCiscoSEP reads a <device> document (FusionPBX cisco/79x1/SEP{$mac}.cnf.xml,
// Wazo wazo_cisco_sip common/templates/base.tpl) into Values: each leaf under
// its path below <device> ("sipProfile/phoneLabel"), a line's children as
// "line[<button>]/<name>".
func readCiscoSEP(body []byte, cfg *Config) error {
	root, err := parseXML(body)
	if err != nil {
		return err
	}
	if root.Name != "device" {
		return fmt.Errorf("%w: root element %q, want device", ErrFormat, root.Name)
	}
	var walk func(n *node, path string) error
	walk = func(n *node, path string) error {
		for _, c := range n.Children {
			if c.Name == "line" && path == "sipProfile/sipLines" {
				b, _ := c.Attr("button")
				if atoi(b) < 1 {
					return fmt.Errorf("%w: <line> without a button number", ErrFormat)
				}
				for _, k := range c.Children {
					cfg.set("line["+b+"]/"+k.Name, k.Text, false)
				}
				continue
			}
			p := c.Name
			if path != "" {
				p = path + "/" + c.Name
			}
			if len(c.Children) == 0 {
				cfg.set(p, c.Text, false)
			} else if err := walk(c, p); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root, "")
}

var ciscoSEPLineRe = regexp.MustCompile(`^line\[(\d+)\]/name$`)

// ciscoSEPTransports: transportLayerProtocol (Wazo common.py _SIP_TRANSPORT).
var ciscoSEPTransports = map[string]string{"1": "tcp", "2": "udp", "3": "tls"}

// ciscoSEPZones: the timeZone names of Wazo's _ZONE_MAP (wazo_cisco_sip
// common/common.py) and the zone each stands for, to read back the offset.
var ciscoSEPZones = map[string]string{
	"Dateline Standard Time": "Etc/GMT+12", "Samoa Standard Time": "Pacific/Samoa", "Hawaiian Standard Time": "US/Hawaii",
	"Alaskan Standard/Daylight Time": "US/Alaska", "Pacific Standard/Daylight Time": "US/Pacific",
	"Mountain Standard/Daylight Time": "US/Mountain", "US Mountain Standard Time": "Etc/GMT+7",
	"Central Standard/Daylight Time": "US/Central", "Mexico Standard/Daylight Time": "America/Mexico_City",
	"Eastern Standard/Daylight Time": "US/Eastern", "US Eastern Standard Time": "Etc/GMT+5",
	"Atlantic Standard/Daylight Time": "Canada/Atlantic", "SA Western Standard Time": "Etc/GMT+4",
	"Newfoundland Standard/Daylight Time": "Canada/Newfoundland", "South America Standard/Daylight Time": "America/Sao_Paulo",
	"SA Eastern Standard Time": "Etc/GMT+3", "Mid-Atlantic Standard/Daylight Time": "Etc/GMT+2",
	"Azores Standard/Daylight Time": "Atlantic/Azores", "GMT Standard/Daylight Time": "Europe/London",
	"Greenwich Standard Time": "Etc/GMT", "Egypt Standard/Daylight Time": "Egypt", "E. Europe Standard/Daylight Time": "Europe/Athens",
	"Central Europe Standard/Daylight Time": "Europe/Paris", "South Africa Standard Time": "Africa/Johannesburg",
	"Jerusalem Standard/Daylight Time": "Asia/Jerusalem", "Saudi Arabia Standard Time": "Asia/Riyadh",
	"Russian Standard/Daylight Time": "Europe/Moscow", "Iran Standard/Daylight Time": "Iran", "Arabian Standard Time": "Etc/GMT-4",
	"Afghanistan Standard Time": "Asia/Kabul", "West Asia Standard Time": "Etc/GMT-5", "India Standard Time": "Asia/Calcutta",
	"Central Asia Standard Time": "Etc/GMT-6", "SE Asia Standard Time": "Etc/GMT-7", "Taipei Standard Time": "Asia/Taipei",
	"Tokyo Standard Time": "Asia/Tokyo", "Cen. Australia Standard/Daylight Time": "Australia/ACT",
	"AUS Central Standard Time": "Australia/Brisbane", "West Pacific Standard Time": "Etc/GMT-10",
	"Tasmania Standard/Daylight Time": "Australia/Tasmania", "Central Pacific Standard Time": "Etc/GMT-11",
	"Fiji Standard Time": "Etc/GMT-12",
}

func ciscoSEPExtract(cfg *Config) {
	v := cfg.Values
	transport := ciscoSEPTransports[v["transportLayerProtocol"]]
	if transport == "" {
		transport = "udp" // the firmware's default (Wazo base.tpl: transportLayerProtocol|d(2))
	}
	for _, n := range indices(v, ciscoSEPLineRe) {
		k := func(s string) string { return v[fmt.Sprintf("line[%d]/%s", n, s)] }
		a := Account{
			Line: n, Enabled: true, User: k("name"), AuthUser: k("authName"), Password: k("authPassword"),
			DisplayName: k("displayName"), Label: k("featureLabel"), Server: k("proxy"), Port: atoi(k("port")),
			Transport: transport, ExpiresSecs: atoi(v["sipProfile/sipStack/timerRegisterExpires"]),
		}
		if a.Server == "USECALLMANAGER" { // Wazo's spelling: the call manager group's member
			a.Server = v["devicePool/callManagerGroup/members/member/callManager/processNodeName"]
		}
		if ob := v["sipProfile/sipProxies/outboundProxy"]; ob != "" {
			a.OutboundProxy = ob
			if port := v["sipProfile/sipProxies/outboundProxyPort"]; port != "" {
				a.OutboundProxy += ":" + port
			}
		}
		if c := neutralCodec(v["sipProfile/preferredCodec"]); c != "" {
			a.Codecs = []string{c}
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	cfg.WebPassword = v["commonProfile/phonePassword"]
	cfg.Language = strings.TrimPrefix(v["userLocale/name"], "i18n/")
	cfg.TimeZone = v["devicePool/dateTimeSetting/timeZone"]
	if zone, ok := ciscoSEPZones[strings.TrimSpace(cfg.TimeZone)]; ok {
		off, dst, ok := zoneOffset(zone)
		setZone(cfg, off, ok, boolp(dst))
	}
	cfg.NTPServer = v["devicePool/dateTimeSetting/ntps/ntp/name"]
	cfg.finish("cisco")
}
