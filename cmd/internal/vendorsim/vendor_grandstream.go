package vendorsim

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// Grandstream (vendor-configs.md §3): cfg<mac> (binary, which Dialtone does
// not serve), then cfg<mac>.xml; if that fails, cfg<model>.xml, then cfg.xml.
// Names lower case. The PnP URL must be a directory ending in "/" (gs_tools).
// <gs_provision><config version="1"> with P-values, or version="2" with
// <item name="alias">.
var grandstream = &Vendor{
	Key:             "grandstream",
	DisplayName:     "Grandstream",
	OUIs:            []string{"000b82", "c074ad", "ec74d7"},
	PnP:             true,
	Provisionable:   true,
	DefaultModel:    "GRP2614",
	DefaultFirmware: func(Phone) string { return "1.0.5.67" },
	subscribe:       grandstreamSubscribe,
	newIDs:          grandstreamIDs,
	Retransmit:      fiveSends,
	// "Grandstream Model HW GRP2614 SW 1.0.5.15 DevId c074ad0b63ee".
	UserAgent: func(p Phone) string {
		return fmt.Sprintf("Grandstream Model HW %s SW %s DevId %s", p.uaModel(), p.Firmware, p.MAC)
	},
	ResolveURL: func(p Phone, u string) string {
		return expand(u, "{mac}", p.MAC, "{MAC}", strings.ToUpper(p.MAC), "${mac}", p.MAC, "$mac", p.MAC)
	},
	Plan:      grandstreamPlan,
	CheckSync: []string{"check-sync"},
}

func grandstreamPlan(ctx context.Context, p Phone, base string, f Fetcher, cfg *Config) error {
	read := func(body []byte) error { return readGrandstreamXML(p, body, cfg) }
	if !isDirURL(base) {
		// Only a directory is accepted by real phones (gs_tools README);
		// phonesim fetches the file anyway so a wrong URL is visible.
		if _, err := fetchParse(ctx, f, cfg, base, read); err != nil {
			return err
		}
		grandstreamExtract(p, cfg)
		return nil
	}
	if _, err := fetchRecord(ctx, f, cfg, "cfg"+p.MAC); err != nil {
		return err
	}
	file, err := fetchParse(ctx, f, cfg, "cfg"+p.MAC+".xml", read)
	if err != nil {
		return err
	}
	if !file.OK() {
		for _, name := range []string{"cfg" + strings.ToLower(p.Model) + ".xml", "cfg.xml"} {
			file, err := fetchParse(ctx, f, cfg, name, read)
			if err != nil {
				return err
			}
			if file.OK() {
				break
			}
		}
	}
	grandstreamExtract(p, cfg)
	return nil
}

// readGrandstreamXML stores P-values as "P<n>" and v2 aliases by name.
// A <mac> element must match the phone's (the phone validates it, [D20]).
func readGrandstreamXML(p Phone, body []byte, cfg *Config) error {
	root, err := parseXML(body)
	if err != nil {
		return err
	}
	if root.Name != "gs_provision" {
		return fmt.Errorf("%w: root element %q, want gs_provision", ErrFormat, root.Name)
	}
	if m := root.Child("mac"); m != nil && m.Text != "" && !strings.EqualFold(m.Text, p.MAC) {
		return fmt.Errorf("%w: file is for MAC %s, not %s", ErrFormat, m.Text, p.MAC)
	}
	conf := root.Child("config")
	if conf == nil {
		return fmt.Errorf("%w: no <config>", ErrFormat)
	}
	seen := map[string]bool{}
	for _, c := range conf.Children {
		key := c.Name
		if c.Name == "item" {
			name, ok := c.Attr("name")
			if !ok || name == "" {
				return fmt.Errorf("%w: <item> without name", ErrFormat)
			}
			key = name
		} else if !pValueRe.MatchString(c.Name) {
			return fmt.Errorf("%w: unexpected element <%s> in <config>", ErrFormat, c.Name)
		}
		if seen[key] {
			return fmt.Errorf("%w: %s set twice", ErrFormat, key)
		}
		seen[key] = true
		cfg.set(key, c.Text, false)
	}
	return nil
}

var pValueRe = regexp.MustCompile(`^P\d+$`)

// grandstreamTransports: P130 0 UDP, 1 TCP, 2 TLS/TCP (vendor-configs.md §3.3).
var grandstreamTransports = map[string]string{"0": "udp", "1": "tcp", "2": "tls"}

// gsAccount lists the P-values of one account: line 1 has its own numbers,
// line N ≥ 2 uses the block (N+2)·100 (account 2 = P401…, Wazo base.tpl).
type gsAccount struct {
	active, name, display, user, auth, password, server, proxy, transport, expiry string
	codecs                                                                        []string
}

func gsAccountKeys(n int) gsAccount {
	if n == 1 {
		return gsAccount{"P271", "P270", "P3", "P35", "P36", "P34", "P47", "P48", "P130", "P32",
			[]string{"P57", "P58", "P59", "P60", "P61", "P62", "P46", "P98"}}
	}
	return gsBlockKeys((n + 2) * 100)
}

// gsAccountKeys1700: models with the catalog variable gs_blocks "1700"
// (GXP21xx, GXP2020/2120, GAC2500) keep accounts 5 and 6 in the P1700 and
// P1800 blocks (P1701 "Account 5 active").
func gsAccountKeys1700(n int) gsAccount {
	if n >= 5 {
		return gsBlockKeys((n + 12) * 100)
	}
	return gsAccountKeys(n)
}

// gsAccountKeysDP: DECT bases (gs_blocks "dp", DP750/DP752): profile 1
// carries server, proxy, transport, expiry and codecs for every account;
// account n has user P4059+n, auth P4089+n, password P4119+n, name P4179+n
// (FusionPBX grandstream/dp750/{$mac}.xml, as config-renderer writes it).
func gsAccountKeysDP(n int) gsAccount {
	p := func(b int) string { return fmt.Sprintf("P%d", b+n) }
	one := gsAccountKeys(1)
	return gsAccount{one.active, p(4179), p(4179), p(4059), p(4089), p(4119), one.server, one.proxy, one.transport, one.expiry, one.codecs}
}

// gsKeysFor picks the phone's account key table from its catalog variables.
func gsKeysFor(p Phone) func(int) gsAccount {
	switch p.catalogVar("gs_blocks") {
	case "dp":
		return gsAccountKeysDP
	case "1700":
		return gsAccountKeys1700
	}
	return gsAccountKeys
}

func gsBlockKeys(b int) gsAccount {
	p := func(o int) string { return fmt.Sprintf("P%d", b+o) }
	var codecs []string
	for o := 51; o <= 57; o++ {
		codecs = append(codecs, p(o))
	}
	return gsAccount{p(1), p(17), p(7), p(4), p(5), p(6), p(2), p(3), p(48), p(12), codecs}
}

var gsAliasAccountRe = regexp.MustCompile(`^account\.(\d+)\.`)

func grandstreamExtract(p Phone, cfg *Config) {
	v := cfg.Values
	keys := gsKeysFor(p)
	// A DECT base shares profile 1's server among its accounts: only a user
	// makes an account there.
	shared := p.catalogVar("gs_blocks") == "dp"
	lines := map[int]bool{}
	for n := 1; n <= 16; n++ {
		if k := keys(n); v[k.user] != "" || !shared && v[k.server] != "" {
			lines[n] = true
		}
	}
	for _, n := range indices(v, gsAliasAccountRe) {
		lines[n] = true
	}
	for n := 1; n <= 16; n++ {
		if !lines[n] {
			continue
		}
		k := keys(n)
		alias := func(s string) string { return v[fmt.Sprintf("account.%d.%s", n, s)] }
		pick := func(pv, al string) string {
			if x := v[pv]; x != "" {
				return x
			}
			return alias(al)
		}
		a := Account{
			Line:          n,
			Enabled:       onOff(pick(k.active, "enable")),
			Label:         pick(k.name, "name"),
			DisplayName:   pick(k.display, "sip.subscriber.name"),
			User:          pick(k.user, "sip.userid"),
			AuthUser:      pick(k.auth, "sip.subscriber.userid"),
			Password:      pick(k.password, "sip.subscriber.password"),
			OutboundProxy: pick(k.proxy, "sip.outboundProxy.1.address"),
			Transport:     transportName(pick(k.transport, "sip.transport"), grandstreamTransports),
			ExpiresSecs:   60 * atoi(pick(k.expiry, "sip.registerExpiration")), // minutes
		}
		a.Server, a.Port = splitHostPort(pick(k.server, "sip.server.1.address"))
		seen := map[string]bool{}
		for i, pv := range k.codecs {
			raw := v[pv]
			if raw == "" {
				raw = alias(fmt.Sprintf("codec.choice.%d", i+1))
			}
			c, ok := rtpCodecs[raw]
			if !ok {
				c = neutralCodec(raw)
			}
			if c != "" && !seen[c] {
				seen[c] = true
				a.Codecs = append(a.Codecs, c)
			}
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	first := func(keys ...string) string {
		for _, k := range keys {
			if x := v[k]; x != "" {
				return x
			}
		}
		return ""
	}
	cfg.WebPassword = first("P2", "users.admin.password")
	cfg.Language = first("P1362", "language.gui")
	cfg.TimeZone = first("P64", "dateTime.timezone")
	if cfg.TimeZone == "customize" {
		cfg.TimeZone = first("P246", "dateTime.timezone.custom")
	}
	if off, dst, ok := posixOffset(cfg.TimeZone); ok {
		setZone(cfg, off, ok, boolp(dst))
	}
	cfg.NTPServer = first("P30", "dateTime.ntp.server.1")
	if path := first("P237", "provisioning.config.serverPath"); path != "" {
		scheme := map[string]string{"0": "tftp", "1": "http", "2": "https", "TFTP": "tftp", "HTTP": "http", "HTTPS": "https"}[first("P212", "provisioning.config.protocol")]
		if scheme != "" && !strings.Contains(path, "://") {
			path = scheme + "://" + path
		}
		cfg.ProvisioningURL = path
	}
	if mode := first("P194", "provisioning.auto.mode"); mode == "1" || mode == "YesUpgradeMin" {
		cfg.PollSeconds = 60 * atoi(first("P193", "provisioning.auto.interval"))
	}
	cfg.finish("grandstream")
}
