package server

import "github.com/dialtone-voip/dialtone/platform/vendorid"

// vendorByOUI returns the vendor key of a canonical MAC's IEEE block (the
// suite's one table, platform/vendorid), or "".
func vendorByOUI(mac string) string { return vendorid.Vendor(mac) }
