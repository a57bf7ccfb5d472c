package renderer

import (
	"maps"
	"sync"

	"github.com/dialtone-voip/dialtone/services/config-renderer/internal/catalog"
)

// CatalogModel is one model of the built-in catalog with its family's
// defaults resolved. It exists for tools that act as the phones the catalog
// describes (cmd/internal/phonesim): they must ask for the files the
// renderer serves, in the catalog's order, rather than keep a second table.
type CatalogModel struct {
	Vendor      string
	Model       string
	Family      string
	SIPAccounts int
	DECT        bool
	// Files are the file name patterns in request order, with "{mac}" or
	// "{MAC}" for the MAC in lower or upper case; other variables expanded.
	Files []string
	// Vars are the model's variables: "ua_model" (the model as its
	// User-Agent spells it), Yealink/Htek "code", Cisco "psn", Fanvil "format"…
	Vars map[string]string
	// UserAgentPattern is the RE2 the model's HTTP User-Agent matches.
	UserAgentPattern string
	UserAgentHasMAC  bool
	OUIs             []string
}

// BuiltinModels returns the embedded catalog's models, sorted by vendor and
// model. The slice and its contents are fresh copies.
func BuiltinModels() []CatalogModel {
	src := builtinModels()
	out := make([]CatalogModel, len(src))
	for i, m := range src {
		m.Files = append([]string(nil), m.Files...)
		m.Vars = maps.Clone(m.Vars)
		m.OUIs = append([]string(nil), m.OUIs...)
		out[i] = m
	}
	return out
}

var builtinModels = sync.OnceValue(func() []CatalogModel {
	c := catalog.Default()
	out := make([]CatalogModel, 0, len(c.Models))
	for _, m := range c.Models {
		cm := CatalogModel{Vendor: m.Vendor, Model: m.Model, Family: m.Family, SIPAccounts: m.SIPAccounts,
			DECT: m.IsDECT(), Vars: m.Vars, UserAgentPattern: m.UserAgentPattern,
			UserAgentHasMAC: m.HasMACInUA(), OUIs: m.OUIs}
		for _, f := range m.Files {
			cm.Files = append(cm.Files, f.Pattern)
		}
		out = append(out, cm)
	}
	return out
})
