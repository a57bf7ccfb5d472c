package vendorsim

import (
	"context"
	"fmt"
	"strings"
)

// PnP-only vendors: Dialtone renders no files for them, but their
// SUBSCRIBEs are the odd ones (a misspelt parameter, no MAC at all), so
// phonesim can send them to exercise pnp-listener. Their plan fetches the
// NOTIFY URL once, as given, and reads nothing.

var panasonic = &Vendor{
	Key:             "panasonic",
	DisplayName:     "Panasonic",
	OUIs:            []string{"0080f0", "080023", "bcc342"},
	PnP:             true,
	DefaultModel:    "KX-HDV130",
	DefaultFirmware: func(Phone) string { return "05.110" },
	subscribe:       panasonicSubscribe,
	newIDs:          rfcIDs,
	// "waits a maximum of 5 seconds for a response" (KX-UTG300 manual).
	Retransmit: fiveSeconds,
	UserAgent: func(p Phone) string {
		return fmt.Sprintf("Panasonic_%s/%s (%s)", p.Model, p.Firmware, p.MAC)
	},
	// Panasonic replaces {mac} and {MODEL} (and SARK appends ?mac={mac}).
	ResolveURL: func(p Phone, u string) string {
		return expand(u, "{mac}", p.MAC, "{MAC}", strings.ToUpper(p.MAC), "{MODEL}", p.Model, "{fwver}", p.Firmware)
	},
	Plan:      fetchOnly,
	CheckSync: []string{"check-sync"},
}

var audiocodes = &Vendor{
	Key:             "audiocodes",
	DisplayName:     "AudioCodes",
	OUIs:            []string{"00908f"},
	PnP:             true,
	DefaultModel:    "440HD",
	DefaultFirmware: func(Phone) string { return "2.2.2" },
	subscribe:       audiocodesSubscribe,
	newIDs:          audiocodesIDs,
	Retransmit:      fiveSeconds,
	UserAgent: func(p Phone) string {
		return "AUDC-IPPhone/" + p.Firmware
	},
	ResolveURL: func(p Phone, u string) string { return u },
	Plan:       fetchOnly,
	CheckSync:  []string{"check-sync"},
}

func fetchOnly(ctx context.Context, _ Phone, base string, f Fetcher, cfg *Config) error {
	_, err := fetchRecord(ctx, f, cfg, base)
	return err
}
