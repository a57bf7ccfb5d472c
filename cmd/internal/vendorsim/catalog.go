package vendorsim

import (
	"strings"
	"sync"

	renderer "github.com/dialtone-voip/dialtone/services/config-renderer"
)

// What a model asks for (its files in order, its vendor variables such as
// Yealink's firmware "code" or Cisco's "psn", the model as its User-Agent
// spells it, its accounts) comes from config-renderer's built-in catalog,
// the same data the renderer serves from, so a model added there is
// simulated without a second table here. A model the catalog does not know
// (a made-up or future model) falls back to the vendor's generic behaviour
// in each plan.

type catalogKey struct{ vendor, model string }

var catalogIndex = sync.OnceValue(func() map[catalogKey]*renderer.CatalogModel {
	ms := renderer.BuiltinModels()
	idx := make(map[catalogKey]*renderer.CatalogModel, len(ms))
	for i := range ms {
		idx[catalogKey{ms[i].Vendor, strings.ToUpper(ms[i].Model)}] = &ms[i]
	}
	return idx
})

// CatalogModel returns the catalog entry of the phone's model (the model
// compared case-insensitively), or nil when the catalog has none.
func (p Phone) CatalogModel() *renderer.CatalogModel {
	if p.Vendor == nil {
		return nil
	}
	return catalogIndex()[catalogKey{p.Vendor.Key, strings.ToUpper(p.Model)}]
}

// catalogVar returns a catalog variable of the phone's model ("" if unknown).
func (p Phone) catalogVar(k string) string {
	if m := p.CatalogModel(); m != nil {
		return m.Vars[k]
	}
	return ""
}

// uaModel is the model as the phone's User-Agent spells it: the catalog's
// "ua_model" ("VVX_450", "N870 IP PRO", "SPA-942"), else the model id.
func (p Phone) uaModel() string {
	if s := p.catalogVar("ua_model"); s != "" {
		return s
	}
	return p.Model
}

// catalogFiles returns the names the phone requests, in the catalog's
// order, with its MAC filled in; ok is false for a model the catalog does
// not know.
func (p Phone) catalogFiles() (names []string, ok bool) {
	m := p.CatalogModel()
	if m == nil {
		return nil, false
	}
	for _, pat := range m.Files {
		names = append(names, strings.NewReplacer("{mac}", p.MAC, "{MAC}", strings.ToUpper(p.MAC)).Replace(pat))
	}
	return names, true
}

// CatalogAccounts is how many SIP accounts the phone's model has (0 when the
// catalog does not know the model).
func (p Phone) CatalogAccounts() int {
	if m := p.CatalogModel(); m != nil {
		return m.SIPAccounts
	}
	return 0
}
