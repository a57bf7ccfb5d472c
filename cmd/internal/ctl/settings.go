package ctl

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

// settingsFlags are a phone's provisioning settings as flags (assign, add).
type settingsFlags struct {
	webPassword, language, timezone, iface, transport, codecs string
	deviceCert                                                string
	rps, https                                                bool
}

func (s *settingsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.webPassword, "web-password", "", "phone web-portal admin password (never printed)")
	fs.StringVar(&s.language, "language", "", "display language tag, any case; a region the list lacks falls back to its language (de-DE is de): "+strings.Join(vocab.Languages, ", "))
	fs.StringVar(&s.timezone, "timezone", "", "IANA time zone, e.g. Europe/Berlin")
	fs.StringVar(&s.iface, "interface", "", "SIP interface id (see 'interfaces list')")
	fs.StringVar(&s.transport, "transport", "", "SIP transport: udp, tcp or tls")
	fs.BoolVar(&s.rps, "rps", false, "register the phone with its vendor's redirect service")
	fs.BoolVar(&s.https, "https", false, "hand the phone an https:// provisioning URL")
	fs.StringVar(&s.deviceCert, "device-cert", "", "device-certificate policy: off, prefer or require (default: the tenant's)")
	fs.StringVar(&s.codecs, "codecs", "", "audio codecs in priority order, e.g. g722,pcmu,pcma (known: "+strings.Join(vocab.CodecNames(), ", ")+")")
}

// build validates the settings locally and returns them.
func (s *settingsFlags) build(tenant string) (*inventoryv1.ProvisioningSettings, error) {
	out := &inventoryv1.ProvisioningSettings{WebPassword: s.webPassword, SaveToRps: s.rps, Https: s.https}
	if s.language != "" {
		l, err := vocab.ParseLanguage(s.language)
		if err != nil {
			return nil, subcmd.Usagef("--language: %v", err)
		}
		out.Language = l
	}
	if s.timezone != "" {
		if err := checkZone(s.timezone); err != nil {
			return nil, subcmd.Usagef("--timezone: %v", err)
		}
		out.TimeZone = s.timezone
	}
	if s.iface != "" {
		out.SipInterface = interfaceName(tenant, s.iface)
	}
	if s.transport != "" {
		t, err := vocab.ParseTransport(s.transport)
		if err != nil {
			return nil, subcmd.Usagef("--transport: %v", err)
		}
		out.Transport = t
	}
	if s.deviceCert != "" {
		p, err := parseDeviceCert(s.deviceCert)
		if err != nil {
			return nil, err
		}
		out.DeviceCert = p
	}
	if s.codecs != "" {
		cs, err := vocab.ParseCodecList(s.codecs)
		if err != nil {
			return nil, subcmd.Usagef("--codecs: %v", err)
		}
		out.Codecs = cs
	}
	return out, nil
}

func checkZone(z string) error {
	if z == "Local" || strings.HasPrefix(z, "/") {
		return fmt.Errorf("%q is not an IANA time zone name", z)
	}
	if _, err := time.LoadLocation(z); err != nil {
		return fmt.Errorf("%q is not an IANA time zone name", z)
	}
	return nil
}

// interfaceName accepts an id or a full resource name.
func interfaceName(tenant, id string) string {
	if strings.Contains(id, "/") {
		return id
	}
	return "tenants/" + tenant + "/sipInterfaces/" + id
}

// extensionName accepts a number or a full resource name.
func extensionName(tenant, number string) string {
	if strings.Contains(number, "/") {
		return number
	}
	return "tenants/" + tenant + "/extensions/" + number
}

// phoneName parses a MAC in any usual spelling (or "phones/<mac>").
func phoneName(arg string) (string, string, error) {
	mac, err := macaddr.Parse(strings.TrimPrefix(arg, "phones/"))
	if err != nil {
		return "", "", subcmd.Usagef("MAC %q: %v", arg, err)
	}
	return "phones/" + mac, mac, nil
}

// settingFields maps each settings flag to its ProvisioningSettings field,
// for update masks and --clear.
var settingFields = []struct{ flag, field string }{
	{"web-password", "web_password"}, {"language", "language"}, {"timezone", "time_zone"},
	{"interface", "sip_interface"}, {"transport", "transport"}, {"codecs", "codecs"},
	{"rps", "save_to_rps"}, {"https", "https"},
}

func settingFlagNames() []string {
	out := make([]string, 0, len(settingFields))
	for _, f := range settingFields {
		out = append(out, f.flag)
	}
	return out
}

// listValue is a repeatable, comma-separated flag.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }
func (l *listValue) Set(s string) error {
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// settingsEdit are the settings flags of an edit ("phones set", "tenants
// update"): only the flags given change, and --clear resets fields.
type settingsEdit struct {
	settingsFlags
	clear listValue
}

func (e *settingsEdit) register(fs *flag.FlagSet) {
	e.settingsFlags.register(fs)
	fs.Var(&e.clear, "clear", "reset a setting (repeatable or comma-separated): "+strings.Join(settingFlagNames(), ", "))
}

// changes returns the settings to send and the update_mask paths (prefix
// + field) for the flags named in set and the fields in --clear, and the
// words for a summary ("language", "no codecs").
func (e *settingsEdit) changes(set map[string]bool, tenant, prefix string) (*inventoryv1.ProvisioningSettings, []string, []string, error) {
	ps, err := e.build(tenant)
	if err != nil {
		return nil, nil, nil, err
	}
	var paths, words []string
	cleared := map[string]bool{}
	for _, name := range e.clear {
		found := false
		for _, f := range settingFields {
			if strings.EqualFold(name, f.flag) || strings.EqualFold(name, f.field) {
				found, cleared[f.flag] = true, true
			}
		}
		if !found {
			return nil, nil, nil, subcmd.Usagef("--clear %q: want one of %s", name, strings.Join(settingFlagNames(), ", "))
		}
	}
	for _, f := range settingFields {
		switch {
		case set[f.flag] && cleared[f.flag]:
			return nil, nil, nil, subcmd.Usagef("--%s and --clear %s: give one", f.flag, f.flag)
		case set[f.flag]:
			paths, words = append(paths, prefix+f.field), append(words, f.flag)
		case cleared[f.flag]:
			paths, words = append(paths, prefix+f.field), append(words, "no "+f.flag)
		}
	}
	return ps, paths, words, nil
}

// parseDeviceCert reads a device_cert policy: off, prefer or require.
func parseDeviceCert(v string) (inventoryv1.DeviceCertPolicy, error) {
	p, ok := inventoryv1.DeviceCertPolicy_value["DEVICE_CERT_POLICY_"+strings.ToUpper(strings.TrimSpace(v))]
	if !ok || p == 0 {
		return 0, subcmd.Usagef("device-cert %q: want off, prefer or require", v)
	}
	return inventoryv1.DeviceCertPolicy(p), nil
}

// deviceCertName is a policy as parseDeviceCert reads it ("" when unset).
func deviceCertName(p inventoryv1.DeviceCertPolicy) string {
	if p == inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(p.String(), "DEVICE_CERT_POLICY_"))
}
