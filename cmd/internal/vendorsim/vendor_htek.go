package vendorsim

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Htek UC9xx (vendor-configs.md §7): model common file cfg<code>.xml, then
// cfg<mac> and cfg<mac>.xml (lower case). <hl_provision><config> with
// Grandstream-style P-values carrying a descriptive para="…" attribute.
var htek = &Vendor{
	Key:             "htek",
	DisplayName:     "Htek",
	OUIs:            []string{"001fc1"},
	PnP:             true,
	Provisionable:   true,
	DefaultModel:    "UC926",
	DefaultFirmware: func(Phone) string { return "2.0.4.2" },
	subscribe:       htekSubscribe,
	newIDs:          rfcIDs,
	Retransmit:      rfcRetransmit,
	// "Htek UC903 2.0.4.2 00:1f:c1:1c:22:a9".
	UserAgent: func(p Phone) string {
		return fmt.Sprintf("Htek %s %s %s", p.uaModel(), p.Firmware, colonMAC(p.MAC))
	},
	ResolveURL: func(p Phone, u string) string {
		return expand(u, "{mac}", p.MAC, "$mac", p.MAC)
	},
	Plan:      htekPlan,
	CheckSync: []string{"check-sync"},
}

func htekPlan(ctx context.Context, p Phone, base string, f Fetcher, cfg *Config) error {
	read := func(body []byte) error { return readHtekXML(p, body, cfg) }
	if !isDirURL(base) {
		if _, err := fetchParse(ctx, f, cfg, base, read); err != nil {
			return err
		}
		htekExtract(cfg)
		return nil
	}
	// The catalog's files in order: the model's common cfg<code>.xml when it
	// has one, then cfg<mac>.xml, which the phone asks for after the binary
	// cfg<mac> (Dialtone does not serve that one).
	macFile := "cfg" + p.MAC + ".xml"
	names, ok := p.catalogFiles()
	if !ok {
		names = []string{macFile}
	}
	for _, name := range names {
		if name == macFile {
			if _, err := fetchRecord(ctx, f, cfg, "cfg"+p.MAC); err != nil {
				return err
			}
		}
		if _, err := fetchParse(ctx, f, cfg, name, read); err != nil {
			return err
		}
	}
	htekExtract(cfg)
	return nil
}

// readHtekXML stores each P-value as "P<n>" and, when it has one, also
// under its para name.
func readHtekXML(p Phone, body []byte, cfg *Config) error {
	root, err := parseXML(body)
	if err != nil {
		return err
	}
	if root.Name != "hl_provision" {
		return fmt.Errorf("%w: root element %q, want hl_provision", ErrFormat, root.Name)
	}
	if m := root.Child("mac"); m != nil && m.Text != "" && !strings.EqualFold(strings.ReplaceAll(m.Text, ":", ""), p.MAC) {
		return fmt.Errorf("%w: file is for MAC %s, not %s", ErrFormat, m.Text, p.MAC)
	}
	conf := root.Child("config")
	if conf == nil {
		return fmt.Errorf("%w: no <config>", ErrFormat)
	}
	seen := map[string]bool{}
	for _, c := range conf.Children {
		if !pValueRe.MatchString(c.Name) {
			return fmt.Errorf("%w: unexpected element <%s> in <config>", ErrFormat, c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("%w: %s set twice", ErrFormat, c.Name)
		}
		seen[c.Name] = true
		cfg.set(c.Name, c.Text, false)
		if para, ok := c.Attr("para"); ok && para != "" {
			cfg.set("para:"+para, c.Text, false)
		}
	}
	return nil
}

// htekTransports: P130 0 UDP, 1 TCP, 2 TLS, 3 DNS-SRV.
var htekTransports = map[string]string{"0": "udp", "1": "tcp", "2": "tls", "3": "dns-srv"}

var htekAccountRe = regexp.MustCompile(`^para:Account(\d+)_`)

// htekExtract reads accounts by their para names ("Account2_SipUserId"),
// which Htek files carry next to the P-numbers (Wazo's template); the
// registrar, transport, expiry and codecs are Profile 1's, shared by every
// account. P32 (expiry) is in hours: Wazo writes 1 and FusionPBX 2
// (config-renderer's htek spec), values that only make sense as hours.
func htekExtract(cfg *Config) {
	v := cfg.Values
	p1 := func(s string) string { return v["para:Profile1_"+s] }
	server, port := splitHostPort(p1("Sipserver"))
	var codecs []string
	for _, pv := range []string{"P57", "P58", "P59", "P60", "P61", "P62"} {
		if c := rtpCodecs[v[pv]]; c != "" && !slices.Contains(codecs, c) {
			codecs = append(codecs, c)
		}
	}
	for _, n := range indices(v, htekAccountRe) {
		k := func(s string) string { return v[fmt.Sprintf("para:Account%d_%s", n, s)] }
		a := Account{
			Line:          n,
			Enabled:       onOff(k("Active")),
			Label:         k("Label"),
			DisplayName:   k("DisplayName"),
			User:          k("SipUserId"),
			AuthUser:      k("AuthenticateID"),
			Password:      k("AuthenticatePassword"),
			Server:        server,
			Port:          port,
			OutboundProxy: p1("OutboundProxy"),
			Transport:     transportName(p1("SipTransport"), htekTransports),
			ExpiresSecs:   3600 * atoi(p1("RegisterExpiration")),
			Codecs:        codecs,
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	cfg.Codecs = codecs
	cfg.WebPassword = v["P2"]
	cfg.Language = v["P8621"]
	cfg.TimeZone = v["P64"]
	if off, ok := htekZoneIndex[cfg.TimeZone]; ok {
		dst := v["P75"]
		setZone(cfg, off, true, boolp(dst != "" && dst != "0"))
	}
	cfg.NTPServer = v["P30"]
	if path := v["P237"]; path != "" {
		scheme := map[string]string{"1": "http", "2": "https"}[v["P212"]]
		if scheme != "" && !strings.Contains(path, "://") {
			path = scheme + "://" + path
		}
		cfg.ProvisioningURL = path
	}
	if v["P194"] == "1" {
		cfg.PollSeconds = 60 * atoi(v["P193"])
	}
	cfg.finish("htek")
}
