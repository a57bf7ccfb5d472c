package catalog

import (
	"slices"
	"strings"

	"github.com/dialtone-voip/dialtone/proto/vocab"
)

// ModelStatus says how the catalog knows a phone's model.
type ModelStatus string

// Model statuses (inventory records them; see inventory.proto Phone.model_status).
const (
	// StatusCatalog: the catalog lists the model.
	StatusCatalog ModelStatus = "catalog"
	// StatusFamilyFallback: the catalog does not list the model, but one of
	// the vendor's family_patterns names its family, whose files it gets.
	StatusFamilyFallback ModelStatus = "family_fallback"
	// StatusUnknown: neither; the phone cannot be provisioned.
	StatusUnknown ModelStatus = "unknown"
)

// maxFallbacks bounds the cache of fallback models; past it they are built per call.
const maxFallbacks = 4096

// Lookup returns the model to render for (vendor, model): the catalog's own
// (exact spelling, then case and punctuation folded: "t54w" is the T54W),
// else a model made from the family the vendor's family_patterns pick. ok is
// false when neither applies.
func (c *Catalog) Lookup(vendor, model string) (m *Model, status ModelStatus, ok bool) {
	if m, ok := c.models[vendor+"/"+model]; ok {
		return m, StatusCatalog, true
	}
	for _, m := range c.norm[normModel(model)] {
		if m.Vendor == vendor {
			return m, StatusCatalog, true
		}
	}
	key := vendor + "/" + model
	if x, ok := c.fallbacks.Load(key); ok {
		return x.(*Model), StatusFamilyFallback, true
	}
	fam := c.FamilyOf(vendor, model)
	if fam == "" {
		return nil, StatusUnknown, false
	}
	fm, err := c.fallbackModel(vendor, FallbackModelID(model), fam)
	if err != nil {
		return nil, StatusUnknown, false
	}
	if c.nFallback.Load() < maxFallbacks {
		if _, loaded := c.fallbacks.LoadOrStore(key, fm); !loaded {
			c.nFallback.Add(1)
		}
	}
	return fm, StatusFamilyFallback, true
}

// FamilyOf returns the family the vendor's family_patterns give model, or "".
func (c *Catalog) FamilyOf(vendor, model string) string {
	v, ok := c.vendors[vendor]
	if !ok {
		return ""
	}
	id := FallbackModelID(model)
	if v.notProvisionable(id) != "" {
		return ""
	}
	for _, fp := range v.FamilyPatterns {
		if fp.re != nil && fp.re.MatchString(id) {
			return fp.Family
		}
	}
	return ""
}

// notProvisionable is the reason the vendor gives for the upper-cased model
// id, or "".
func (v *Vendor) notProvisionable(id string) string {
	for _, np := range v.NotProvisionable {
		if np.re != nil && np.re.MatchString(id) {
			return np.Reason
		}
	}
	return ""
}

// NotProvisionableReason returns why vendor's model can be configured by no
// file, or "" when nothing says so. With vendor "", every vendor is asked and
// the first match wins.
func (c *Catalog) NotProvisionableReason(vendor, model string) (string, string) {
	id := FallbackModelID(model)
	for _, v := range c.Vendors {
		if vendor != "" && v.Vendor != vendor {
			continue
		}
		if r := v.notProvisionable(id); r != "" {
			return v.Vendor, r
		}
	}
	return "", ""
}

// FallbackModelID is the spelling a model the catalog does not list is kept
// under: trimmed and upper-cased (catalog model ids are upper-case, and
// vendors' file names carry them so: snomD999.htm).
func FallbackModelID(model string) string {
	return strings.ToUpper(strings.TrimSpace(model))
}

// fallbackModel makes a model of family fam for an unlisted model id: the
// family's files, codecs and languages, and the largest account and line-key
// counts of the family's listed models (so no account of the profile is
// refused; a phone ignores accounts it lacks).
func (c *Catalog) fallbackModel(vendor, id, fam string) (*Model, error) {
	m := &Model{Vendor: vendor, Model: id, Family: fam, SIPAccounts: 1}
	for _, x := range c.Models {
		if x.Vendor == vendor && x.Family == fam {
			m.SIPAccounts = max(m.SIPAccounts, x.SIPAccounts)
			m.LineKeys = max(m.LineKeys, x.LineKeys)
		}
	}
	if v, ok := c.vendors[vendor]; ok {
		m.DisplayName = v.DisplayName + " " + id + " (" + fam + " family)"
	}
	if !modelIDRE.MatchString(id) {
		return nil, ErrBadModelID
	}
	return resolveModelWild(m, c.fams, c.vendors, true)
}

// ErrBadModelID is a model id outside the catalog's alphabet.
var ErrBadModelID = errorString("model id must be 1-40 characters of letters, digits, '.', '_', '-', starting with a letter or digit")

type errorString string

func (e errorString) Error() string { return string(e) }

// Resolution is what Resolve decides about a phone's vendor and model.
type Resolution struct {
	Vendor string // vendor key; "" when nothing identifies it
	Model  string // the catalog's spelling, or FallbackModelID for a fallback
	Status ModelStatus
	Family string // the model's family (catalog or fallback), "" when unknown
	// OtherVendor is set when the model is a catalog model of another vendor
	// than hint: the model decided (OEM hardware exists), the caller warns.
	OtherVendor string
	// NotProvisionable is set (with Status unknown) for a model the vendor's
	// not_provisionable list names: why no file can configure it.
	NotProvisionable string
}

// Resolve decides vendor and model for a phone record, in the suite's order:
// a catalog model names its vendor; else hint (the vendor the phone or the
// operator said, else the MAC's IEEE block) with its family_patterns; else a
// family pattern of exactly one vendor.
func (c *Catalog) Resolve(hint, model string) Resolution {
	model = strings.TrimSpace(model)
	cands := c.norm[normModel(model)]
	if m, ok := c.models[hint+"/"+model]; ok {
		return Resolution{Vendor: hint, Model: m.Model, Status: StatusCatalog, Family: m.Family}
	}
	for _, m := range cands {
		if m.Vendor == hint {
			return Resolution{Vendor: hint, Model: m.Model, Status: StatusCatalog, Family: m.Family}
		}
	}
	if len(cands) > 0 {
		// The first vendor in display order whose catalog has the model.
		m := cands[0]
		for _, x := range cands[1:] {
			if vendorRank(x.Vendor) < vendorRank(m.Vendor) {
				m = x
			}
		}
		r := Resolution{Vendor: m.Vendor, Model: m.Model, Status: StatusCatalog, Family: m.Family}
		if hint != "" && hint != m.Vendor {
			r.OtherVendor = hint
		}
		return r
	}
	id := FallbackModelID(model)
	if v, r := c.NotProvisionableReason(hint, model); r != "" {
		return Resolution{Vendor: v, Model: model, Status: StatusUnknown, NotProvisionable: r}
	}
	if hint != "" {
		if _, ok := c.vendors[hint]; ok {
			if fam := c.FamilyOf(hint, id); fam != "" && modelIDRE.MatchString(id) {
				return Resolution{Vendor: hint, Model: id, Status: StatusFamilyFallback, Family: fam}
			}
		}
		return Resolution{Vendor: hint, Model: model, Status: StatusUnknown}
	}
	var found Resolution
	for _, v := range c.Vendors {
		if fam := c.FamilyOf(v.Vendor, id); fam != "" && modelIDRE.MatchString(id) {
			if found.Vendor != "" {
				return Resolution{Model: model, Status: StatusUnknown} // ambiguous
			}
			found = Resolution{Vendor: v.Vendor, Model: id, Status: StatusFamilyFallback, Family: fam}
		}
	}
	if found.Vendor != "" {
		return found
	}
	return Resolution{Model: model, Status: StatusUnknown}
}

// FamilyPatternsOf returns the vendor's family patterns as "pattern → family" text for messages.
func (c *Catalog) FamilyPatternsOf(vendor string) []string {
	v, ok := c.vendors[vendor]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(v.FamilyPatterns))
	for _, fp := range v.FamilyPatterns {
		out = append(out, fp.Family+" ("+fp.Pattern+")")
	}
	return out
}

func vendorRank(v string) int { return slices.Index(vocab.Vendors, v) }
