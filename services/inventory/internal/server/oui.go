package server

import "github.com/dialtone-voip/dialtone/proto/vocab"

// ouiVendor maps MAC OUIs to vendor keys, from the IEEE registry and the
// provisioning systems surveyed in research/vendor-configs.md (§1.5-8.3).
// Cisco holds over a thousand OUIs and is never identified this way.
var ouiVendor = map[string]string{
	"001565": vocab.Yealink, "249ad8": vocab.Yealink, "805ec0": vocab.Yealink, "805e0c": vocab.Yealink,
	"e434d7": vocab.Yealink, "3497d7": vocab.Yealink, "44dbd2": vocab.Yealink, "644f56": vocab.Yealink,
	"b061a9": vocab.Yealink, "c4fc22": vocab.Yealink, "ec1da9": vocab.Yealink, "f01653": vocab.Yealink,
	"0004f2": vocab.Poly, "64167f": vocab.Poly, "482567": vocab.Poly, "00907a": vocab.Poly,
	"000b82": vocab.Grandstream, "c074ad": vocab.Grandstream, "ec74d7": vocab.Grandstream,
	"000413": vocab.Snom,
	"0c383e": vocab.Fanvil,
	"001fc1": vocab.Htek,
	"7c2f80": vocab.Gigaset, "589ec6": vocab.Gigaset, "002104": vocab.Gigaset, "14b370": vocab.Gigaset,
}

// vendorByOUI returns the vendor key of a canonical MAC, or "".
func vendorByOUI(mac string) string {
	if len(mac) < 6 {
		return ""
	}
	return ouiVendor[mac[:6]]
}
