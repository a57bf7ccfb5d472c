package vendorsim

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Poly / Polycom UC Software (vendor-configs.md §2): the master file
// <mac>.cfg, else 000000000000.cfg; its <APPLICATION CONFIG_FILES="a, b">
// lists the configuration files, processed left to right where the FIRST
// file that sets a parameter wins ([D14]). Every setting is an XML attribute.
// No multicast PnP; the User-Agent carries no MAC.
var poly = &Vendor{
	Key:             "poly",
	DisplayName:     "Poly",
	OUIs:            []string{"0004f2", "64167f", "482567"},
	PnP:             false,
	Provisionable:   true,
	DefaultModel:    "VVX450",
	DefaultFirmware: func(Phone) string { return "6.4.6.2208" },
	// "FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430 Type/Application",
	// "FileTransport PolyEdge-Edge_E450-UA/8.0.0.15602 Type/Application".
	// The product line before the model comes from the catalog's ua_model
	// ("VVX_450", "SPIP_335", "Trio_8800", "Edge_E450"): SoundPoint IP
	// "FileTransport PolycomSoundPointIP-SPIP_335-UA/4.0.15.1009" (Wazo's
	// collection), Trio "PolycomRealPresenceTrio-Trio_8800-UA/…".
	UserAgent: func(p Phone) string {
		ua := p.uaModel()
		if !strings.Contains(ua, "_") { // a model the catalog does not know: "VVX450" → "VVX_450"
			if i := strings.IndexAny(ua, "0123456789"); i > 0 {
				ua = ua[:i] + "_" + ua[i:]
			}
		}
		line, _, _ := strings.Cut(ua, "_")
		prefix, ok := polyUALines[strings.ToUpper(line)]
		if !ok {
			prefix = "Polycom" + line
		}
		return fmt.Sprintf("FileTransport %s-%s-UA/%s Type/Application", prefix, ua, p.Firmware)
	},
	ResolveURL: func(p Phone, u string) string { return u },
	Plan:       polyPlan,
	CheckSync:  []string{"check-sync"},
}

// polyUALines: the product-line word of Poly User-Agents, by the ua_model
// prefix.
var polyUALines = map[string]string{
	"VVX": "PolycomVVX", "EDGE": "PolyEdge", "SPIP": "PolycomSoundPointIP", "SSIP": "PolycomSoundStationIP",
	"TRIO": "PolycomRealPresenceTrio", "CCX": "PolyCCX",
}

const polyPlaceholder = "[PHONE_MAC_ADDRESS]"

func polyPlan(ctx context.Context, p Phone, base string, f Fetcher, cfg *Config) error {
	var files []string
	readMaster := func(body []byte) error {
		var err error
		files, err = polyConfigFiles(body)
		return err
	}
	masters := []string{p.MAC + ".cfg", "000000000000.cfg"}
	if !isDirURL(base) {
		masters = []string{base} // a master file named in the boot-server URL
	}
	found := false
	for _, m := range masters {
		file, err := fetchParse(ctx, f, cfg, m, readMaster)
		if err != nil {
			return err
		}
		if file.OK() {
			found = true
			break
		}
	}
	if !found {
		return fmt.Errorf("no master configuration file")
	}
	for _, name := range files {
		name = strings.ReplaceAll(name, polyPlaceholder, p.MAC)
		if _, err := fetchParse(ctx, f, cfg, name, func(body []byte) error { return readPolyXML(body, cfg) }); err != nil {
			return err
		}
	}
	polyExtract(cfg)
	return nil
}

// polyConfigFiles reads the master file's CONFIG_FILES list.
func polyConfigFiles(body []byte) ([]string, error) {
	root, err := parseXML(body)
	if err != nil {
		return nil, err
	}
	var app *node
	root.Walk(func(_ []string, n *node) {
		if app == nil && n.Name == "APPLICATION" {
			app = n
		}
	})
	if app == nil {
		return nil, fmt.Errorf("%w: master file without <APPLICATION>", ErrFormat)
	}
	list, _ := app.Attr("CONFIG_FILES")
	var out []string
	for part := range strings.SplitSeq(list, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out, nil
}

// readPolyXML stores every attribute of every element; within a file a
// repeated attribute is an error, across files the first file wins.
func readPolyXML(body []byte, cfg *Config) error {
	root, err := parseXML(body)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var dup string
	root.Walk(func(_ []string, n *node) {
		for _, a := range n.Attrs {
			if a.Name.Space != "" && a.Name.Space != "xmlns" {
				continue
			}
			k := a.Name.Local
			if a.Name.Space == "xmlns" || k == "xmlns" {
				continue
			}
			if seen[k] && dup == "" {
				dup = k
			}
			seen[k] = true
			cfg.set(k, a.Value, true)
		}
	})
	if dup != "" {
		return fmt.Errorf("%w: %s set twice", ErrFormat, dup)
	}
	return nil
}

var polyRegRe = regexp.MustCompile(`^reg\.(\d+)\.`)
var polyCodecRe = regexp.MustCompile(`^voice\.codecPref\.([A-Za-z0-9_.]+)$`)

// polyTransports: reg.X.server.Y.transport UDPOnly, TCPOnly, TLS, DNSnaptr.
var polyTransports = map[string]string{"UDPOnly": "udp", "TCPOnly": "tcp", "TLS": "tls", "DNSnaptr": "dns-naptr", "TCPpreferred": "tcp"}

func polyExtract(cfg *Config) {
	v := cfg.Values
	prio := map[string]int{}
	for k, val := range v {
		if m := polyCodecRe.FindStringSubmatch(k); m != nil {
			if c := neutralCodec(m[1]); c != "" && atoi(val) > 0 {
				if old, ok := prio[c]; !ok || atoi(val) < old {
					prio[c] = atoi(val)
				}
			}
		}
	}
	codecs := byPriority(prio)
	for _, n := range indices(v, polyRegRe) {
		k := func(s string) string { return v[fmt.Sprintf("reg.%d.%s", n, s)] }
		a := Account{
			Line:        n,
			Enabled:     k("address") != "",
			User:        k("address"),
			AuthUser:    k("auth.userId"),
			Password:    k("auth.password"),
			DisplayName: k("displayName"),
			Label:       k("label"),
			Server:      k("server.1.address"),
			Port:        atoi(k("server.1.port")),
			Transport:   transportName(k("server.1.transport"), polyTransports),
			ExpiresSecs: atoi(k("server.1.expires")),
			Codecs:      codecs,
		}
		if e, ok := v[fmt.Sprintf("reg.%d.enable", n)]; ok {
			a.Enabled = onOff(e)
		}
		if ob := k("outboundProxy.address"); ob != "" {
			a.OutboundProxy = ob
			if port := k("outboundProxy.port"); port != "" && port != "0" {
				a.OutboundProxy += ":" + port
			}
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	cfg.Codecs = codecs
	cfg.WebPassword = v["device.auth.localAdminPassword"]
	cfg.Language = v["lcl.ml.lang"]
	cfg.TimeZone = v["tcpIpApp.sntp.gmtOffset"]
	if off, err := strconv.Atoi(cfg.TimeZone); err == nil {
		setZone(cfg, off, true, boolp(onOff(v["tcpIpApp.sntp.daylightSavings.enable"])))
	}
	cfg.NTPServer = v["tcpIpApp.sntp.address"]
	if srv := v["device.prov.serverName"]; srv != "" {
		scheme := map[string]string{"0": "ftp", "1": "tftp", "2": "http", "3": "https", "4": "ftps"}[v["device.prov.serverType"]]
		if scheme != "" && !strings.Contains(srv, "://") {
			srv = scheme + "://" + srv
		}
		cfg.ProvisioningURL = srv
	}
	if onOff(v["prov.polling.enabled"]) && v["prov.polling.mode"] != "abs" {
		cfg.PollSeconds = atoi(v["prov.polling.period"])
	}
	cfg.finish("poly")
}
