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
	fs.StringVar(&s.language, "language", "", "display language tag: "+strings.Join(vocab.Languages, ", "))
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
		if !vocab.IsLanguage(s.language) {
			return nil, subcmd.Usagef("--language %q is not a known tag (known: %s)", s.language, strings.Join(vocab.Languages, ", "))
		}
		out.Language = s.language
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
