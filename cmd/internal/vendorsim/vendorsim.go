// Package vendorsim is phonesim's knowledge of how each vendor's phones
// behave, in one table: the PnP SUBSCRIBE each sends (Request-URI form, Via
// and Event quirks, retransmission), the HTTP User-Agent, the order in which
// it fetches its provisioning files (following boot files, master files and
// setting-file indexes where the vendor does), and how it reads each format
// into a vendor-neutral Config.
//
// What each model asks for — its files in order, its vendor variables
// (Yealink/Htek code, Cisco psn, the model as its User-Agent spells it), its
// accounts — comes from config-renderer's built-in catalog (catalog.go), not
// from tables here. Vendor behaviour facts come from
// ../shared/research/pnp-protocol.md §2 and vendor-configs.md, and from
// config-renderer's templates and golden files (the files Dialtone actually
// serves); comments mark what is inferred.
package vendorsim

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dialtone-voip/dialtone/proto/macaddr"
)

// Phone is one simulated device.
type Phone struct {
	Vendor   *Vendor
	Model    string // catalog model id, e.g. "T54W"
	MAC      string // canonical: 12 lowercase hex digits
	Firmware string
}

// File is one HTTP download as the phone saw it.
type File struct {
	Name        string // as requested (last path segment, or the URL for absolute fetches)
	URL         string
	Status      int // 0 when the request failed below HTTP
	Bytes       int
	ContentType string
	Error       string
	Elapsed     time.Duration
	Body        []byte
}

// OK reports whether the download succeeded with 200.
func (f *File) OK() bool { return f.Status == 200 }

// Fetcher downloads files for a plan. Name is resolved against the phone's
// provisioning base URL (the directory URL from the NOTIFY or --url) unless
// it is absolute. A transport error is returned as err; any HTTP status
// (including 404) is a File with that Status and a nil error.
type Fetcher interface {
	Fetch(ctx context.Context, name string) (*File, error)
}

// Vendor is one row of the vendor table.
type Vendor struct {
	Key         string // vocab vendor key, or a PnP-only key ("panasonic", "audiocodes")
	DisplayName string
	OUIs        []string // MAC OUIs; the first one is used for generated MACs
	// PnP: the phone sends the multicast SUBSCRIBE at boot.
	PnP bool
	// Provisionable: Dialtone renders files for this vendor (false for the
	// PnP-only vendors kept for exercising pnp-listener).
	Provisionable bool
	// DefaultModel and DefaultFirmware are used when the caller gives none.
	DefaultModel    string
	DefaultFirmware func(p Phone) string
	// subscribe builds the SUBSCRIBE (see subscribe.go).
	subscribe func(p Phone, l Local, ids IDs) []byte
	newIDs    func(r Rand, l Local) IDs
	// Retransmit is the schedule of SUBSCRIBE sends, as offsets from the
	// first; after the last one the phone waits until its timeout.
	Retransmit []time.Duration
	// UserAgent is the HTTP User-Agent.
	UserAgent func(p Phone) string
	// ResolveURL turns the URL from the NOTIFY (or --url) into the base the
	// phone fetches from, undoing the vendor's placeholders ({mac}, $MA…).
	ResolveURL func(p Phone, url string) string
	// Plan fetches the vendor's files in its order, starting from base (the
	// resolved URL: a directory ending in "/" or a file), and reads them
	// into cfg. The Fetcher resolves relative names against base.
	Plan func(ctx context.Context, p Phone, base string, f Fetcher, cfg *Config) error
	// CheckSync lists the Event values (before ';') that make the phone
	// re-read its configuration.
	CheckSync []string
}

// Rand supplies the random numbers SUBSCRIBE ids are made from.
type Rand interface {
	Uint32() uint32
}

// Local is the phone's own SIP address (Via, Contact).
type Local struct {
	IP   string
	Port int
	// Host is the Request-URI host the phone puts after the MAC: the
	// multicast group for most vendors.
	Host string
}

// IDs are the per-boot identifiers of a SUBSCRIBE.
type IDs struct {
	Branch string // "" for vendors that send no branch (snom)
	Tag    string
	CallID string
}

// Subscribe returns the SUBSCRIBE bytes phone p sends from l.
func (v *Vendor) Subscribe(p Phone, l Local, ids IDs) []byte { return v.subscribe(p, l, ids) }

// NewIDs draws fresh identifiers in the vendor's style.
func (v *Vendor) NewIDs(r Rand, l Local) IDs { return v.newIDs(r, l) }

// Lookup returns the table row for key (case-insensitive).
func Lookup(key string) (*Vendor, error) {
	k := strings.ToLower(strings.TrimSpace(key))
	for _, v := range table {
		if v.Key == k {
			return v, nil
		}
	}
	return nil, fmt.Errorf("unknown vendor %q (known: %s)", key, strings.Join(Keys(), ", "))
}

// Keys lists the vendor keys phonesim knows.
func Keys() []string {
	out := make([]string, 0, len(table))
	for _, v := range table {
		out = append(out, v.Key)
	}
	return out
}

// NewPhone validates and completes a phone description: the MAC may be in
// any usual spelling, model and firmware default from the table.
func NewPhone(vendor, model, mac, firmware string) (Phone, error) {
	v, err := Lookup(vendor)
	if err != nil {
		return Phone{}, err
	}
	if model == "" {
		model = v.DefaultModel
	}
	p := Phone{Vendor: v, Model: model, Firmware: firmware}
	if mac != "" {
		if p.MAC, err = macaddr.Parse(mac); err != nil {
			return Phone{}, fmt.Errorf("mac %q: %w", mac, err)
		}
	}
	if p.Firmware == "" && v.DefaultFirmware != nil {
		p.Firmware = v.DefaultFirmware(p)
	}
	return p, nil
}

// MACFromOUI returns the n-th MAC under oui (6 hex digits): the low 24 bits
// are n. It panics if n does not fit, which callers bound.
func MACFromOUI(oui string, n int) string {
	if n < 0 || n >= 1<<24 {
		panic("vendorsim: MAC index out of range")
	}
	return fmt.Sprintf("%s%06x", strings.ToLower(oui), n)
}

// Account is one SIP account as the phone would register it.
type Account struct {
	Line          int      `json:"line"`
	Enabled       bool     `json:"enabled"`
	Server        string   `json:"server"`
	Port          int      `json:"port,omitempty"`
	Transport     string   `json:"transport"`
	User          string   `json:"user"`
	AuthUser      string   `json:"auth_user"`
	Password      string   `json:"password"` // plaintext: phonesim is a test tool
	DisplayName   string   `json:"display_name"`
	Label         string   `json:"label,omitempty"`
	OutboundProxy string   `json:"outbound_proxy,omitempty"`
	ExpiresSecs   int      `json:"registration_expiry_seconds,omitempty"`
	Codecs        []string `json:"codecs,omitempty"`
}

// Config is what the phone applied, in neutral terms where phonesim can
// translate and in the vendor's own value otherwise (language, time zone).
type Config struct {
	Accounts []Account `json:"accounts"`
	Codecs   []string  `json:"codecs"`
	Language string    `json:"language,omitempty"`
	// LanguageTag is Language as a neutral tag, when phonesim knows the value.
	LanguageTag string `json:"language_tag,omitempty"`
	TimeZone    string `json:"time_zone,omitempty"`
	// UTCOffset is the standard offset the time-zone setting means, in
	// seconds east of UTC; DST whether daylight saving is on (nil: unknown,
	// e.g. implied by a zone id).
	UTCOffset       *int   `json:"utc_offset_seconds,omitempty"`
	DST             *bool  `json:"dst,omitempty"`
	WebPasswordSet  bool   `json:"web_password_set"`
	WebPassword     string `json:"web_password,omitempty"` // plaintext: phonesim is a test tool
	NTPServer       string `json:"ntp_server,omitempty"`
	ProvisioningURL string `json:"provisioning_url,omitempty"`
	PollSeconds     int    `json:"poll_interval_seconds,omitempty"`
	// Values is every setting read, merged in the vendor's precedence; the
	// key naming is vendor-specific (see each reader).
	Values map[string]string `json:"-"`
	// Files lists what the plan fetched, in order.
	Files []*File `json:"-"`
}

// set records a value unless the vendor's precedence says an earlier file wins.
func (c *Config) set(k, v string, firstWins bool) {
	if c.Values == nil {
		c.Values = map[string]string{}
	}
	if _, ok := c.Values[k]; ok && firstWins {
		return
	}
	c.Values[k] = v
}

func (c *Config) get(k string) string { return c.Values[k] }

// finish sorts accounts, drops empty ones and fills the neutral fields.
func (c *Config) finish(vendor string) {
	c.LanguageTag = languageTag(vendor, c.Language)
	// An account without a user cannot register: it is a disabled slot.
	c.Accounts = slices.DeleteFunc(c.Accounts, func(a Account) bool { return a.User == "" })
	sort.Slice(c.Accounts, func(i, j int) bool { return c.Accounts[i].Line < c.Accounts[j].Line })
	if len(c.Codecs) == 0 && len(c.Accounts) > 0 {
		c.Codecs = c.Accounts[0].Codecs
	}
	if c.WebPassword != "" {
		c.WebPasswordSet = true
	}
}

// fetchRecord fetches name and records the file; a transport error aborts.
func fetchRecord(ctx context.Context, f Fetcher, cfg *Config, name string) (*File, error) {
	file, err := f.Fetch(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	cfg.Files = append(cfg.Files, file)
	return file, nil
}

// table is the vendor table, in display order. Rows are defined next to
// their readers in vendor_*.go so each vendor's knowledge sits in one file.
var table = []*Vendor{yealink, fanvil, grandstream, snom, gigaset, htek, poly, cisco, panasonic, audiocodes}
