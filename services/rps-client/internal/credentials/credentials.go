// Package credentials loads the vendor accounts of every tenant from a
// directory and reloads them while the service runs.
//
// Layout (any mix; see README.md):
//
//	<dir>/accounts.json               {"accounts": [{"tenant": "acme", "vendor": "yealink", …}, …]}
//	<dir>/<tenant>/<vendor>.json      one account
//	<dir>/<tenant>.<vendor>.json      one account (flat: a Kubernetes Secret's keys cannot hold "/")
//
// The tenant "_default" (which no tenant id can be: ids start with a letter)
// holds a vendor's account for tenants without their own. Names starting
// with "." are skipped, so a Kubernetes Secret volume's "..data" machinery is
// ignored while its symlinks are followed; the volume's atomic symlink swap
// is picked up by the next poll. A directory that fails to load keeps the
// previous accounts in force. Errors name files and fields, never values.
package credentials

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dialtone-voip/dialtone/proto/vocab"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
)

// DefaultTenant names the fallback account of a vendor.
const DefaultTenant = "_default"

// Key identifies an account: tenant id (or DefaultTenant) and vendor key.
type Key struct {
	Tenant, Vendor string
}

func (k Key) String() string { return k.Tenant + "/" + k.Vendor }

// File is the JSON form of one account.
type File struct {
	Tenant              string         `json:"tenant,omitempty"` // accounts.json only
	Vendor              string         `json:"vendor,omitempty"` // accounts.json only
	API                 string         `json:"api,omitempty"`
	BaseURL             string         `json:"base_url,omitempty"`
	Username            string         `json:"username,omitempty"`
	Password            vendors.Secret `json:"password,omitempty"`
	KeyID               string         `json:"key_id,omitempty"`
	KeySecret           vendors.Secret `json:"key_secret,omitempty"`
	APIKey              vendors.Secret `json:"api_key,omitempty"`
	ServerName          string         `json:"server_name,omitempty"`
	ProviderName        string         `json:"provider_name,omitempty"`
	ProvisioningProfile string         `json:"provisioning_profile,omitempty"`
	AllowTakeover       bool           `json:"allow_takeover,omitempty"`
}

// Set is one loaded generation of accounts.
type Set struct {
	Accounts map[Key]vendors.Account
	// Fingerprints change whenever anything of an account changes. They are
	// SHA-256 based and hold no recoverable secret.
	Fingerprints map[Key]string
}

var tenantRe = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// NormalizeTenant turns "tenants/acme" or "acme" into "acme"; "" stays "".
func NormalizeTenant(t string) string { return strings.TrimPrefix(t, "tenants/") }

// Validator checks an account beyond its syntax (the service builds a
// client from it). Its error must not quote secrets.
type Validator func(vendors.Account) error

// Load reads dir once.
func Load(dir string, validate Validator) (Set, error) {
	set := Set{Accounts: map[Key]vendors.Account{}, Fingerprints: map[Key]string{}}
	if dir == "" {
		return set, nil
	}
	var errs []error
	add := func(src string, f File) {
		k := Key{Tenant: NormalizeTenant(f.Tenant), Vendor: f.Vendor}
		if k.Tenant == "" {
			k.Tenant = DefaultTenant
		}
		if k.Tenant != DefaultTenant && !tenantRe.MatchString(k.Tenant) {
			errs = append(errs, fmt.Errorf("%s: invalid tenant id %q", src, k.Tenant))
			return
		}
		if !vocab.IsVendor(k.Vendor) {
			errs = append(errs, fmt.Errorf("%s: unknown vendor %q", src, k.Vendor))
			return
		}
		if _, dup := set.Accounts[k]; dup {
			errs = append(errs, fmt.Errorf("%s: account %s defined twice", src, k))
			return
		}
		acct := vendors.Account{
			Tenant: k.Tenant, Vendor: k.Vendor, API: f.API, BaseURL: f.BaseURL,
			Username: f.Username, Password: f.Password, KeyID: f.KeyID, KeySecret: f.KeySecret, APIKey: f.APIKey,
			ServerName: f.ServerName, ProviderName: f.ProviderName, ProvisioningProfile: f.ProvisioningProfile,
			AllowTakeover: f.AllowTakeover,
		}
		if validate != nil {
			if err := validate(acct); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", src, err))
				return
			}
		}
		set.Accounts[k] = acct
		set.Fingerprints[k] = fingerprint(f)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return set, fmt.Errorf("credentials directory: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		st, err := os.Stat(p) // follows Secret-volume symlinks
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, unwrapPath(err)))
			continue
		}
		switch {
		case st.IsDir():
			tenant := name
			sub, err := os.ReadDir(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, unwrapPath(err)))
				continue
			}
			for _, se := range sub {
				sname := se.Name()
				if strings.HasPrefix(sname, ".") || !strings.HasSuffix(sname, ".json") {
					continue
				}
				src := name + "/" + sname
				f, err := readFile(filepath.Join(p, sname))
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", src, err))
					continue
				}
				if err := fixed(&f, tenant, strings.TrimSuffix(sname, ".json")); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", src, err))
					continue
				}
				add(src, f)
			}
		case name == "accounts.json":
			raw, err := os.ReadFile(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, unwrapPath(err)))
				continue
			}
			var doc struct {
				Accounts []json.RawMessage `json:"accounts"`
			}
			if err := strictDecode(raw, &doc); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				continue
			}
			for i, r := range doc.Accounts {
				src := fmt.Sprintf("%s: accounts[%d]", name, i)
				var f File
				if err := strictDecode(r, &f); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", src, err))
					continue
				}
				if f.Vendor == "" {
					errs = append(errs, fmt.Errorf("%s: vendor is required", src))
					continue
				}
				add(src, f)
			}
		case strings.HasSuffix(name, ".json"):
			tenant, vendor, ok := strings.Cut(strings.TrimSuffix(name, ".json"), ".")
			if !ok {
				errs = append(errs, fmt.Errorf("%s: want <tenant>.<vendor>.json", name))
				continue
			}
			f, err := readFile(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				continue
			}
			if err := fixed(&f, tenant, vendor); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				continue
			}
			add(name, f)
		}
	}
	return set, errors.Join(errs...)
}

// fixed sets tenant and vendor from the file's path; the file itself may
// repeat them but not contradict them.
func fixed(f *File, tenant, vendor string) error {
	if f.Tenant != "" && NormalizeTenant(f.Tenant) != tenant {
		return fmt.Errorf("tenant field contradicts the file name")
	}
	if f.Vendor != "" && f.Vendor != vendor {
		return fmt.Errorf("vendor field contradicts the file name")
	}
	f.Tenant, f.Vendor = tenant, vendor
	if tenant == DefaultTenant {
		f.Tenant = ""
	}
	return nil
}

func readFile(p string) (File, error) {
	raw, err := os.ReadFile(p)
	if err != nil {
		return File{}, unwrapPath(err)
	}
	var f File
	return f, strictDecode(raw, &f)
}

// strictDecode refuses unknown fields (typos) and reports syntax errors by
// offset only, so no fragment of a secret reaches an error text.
func strictDecode(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("invalid JSON at offset %d", se.Offset)
		case errors.As(err, &te):
			return fmt.Errorf("field %q: wrong type", te.Field)
		case errors.Is(err, vendors.ErrSecretNotString):
			return err
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return errors.New(strings.TrimPrefix(err.Error(), "json: "))
		}
		return errors.New("invalid JSON")
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func fingerprint(f File) string {
	type plain struct { // secrets as their values, only to be hashed
		File
		P, K, A string
	}
	raw, _ := json.Marshal(plain{File: f, P: f.Password.Reveal(), K: f.KeySecret.Reveal(), A: f.APIKey.Reveal()})
	sum := sha256.Sum256(append([]byte("dialtone-rps-account\x00"), raw...))
	return hex.EncodeToString(sum[:8])
}

// Store serves the current accounts and reloads them.
type Store struct {
	dir      string
	validate Validator
	log      *slog.Logger

	mu  sync.RWMutex
	set Set
	err error
}

// Open loads dir; a failing first load is returned as an error.
func Open(dir string, validate Validator, log *slog.Logger) (*Store, error) {
	set, err := Load(dir, validate)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{dir: dir, validate: validate, log: log, set: set}, nil
}

// Lookup returns the account for tenant (id or resource name) and vendor,
// falling back to the vendor's default account.
func (s *Store) Lookup(tenant, vendor string) (vendors.Account, string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range []Key{{NormalizeTenant(tenant), vendor}, {DefaultTenant, vendor}} {
		if k.Tenant == "" {
			continue
		}
		if a, ok := s.set.Accounts[k]; ok {
			return a, s.set.Fingerprints[k], true
		}
	}
	return vendors.Account{}, "", false
}

// Accounts returns every account, sorted by tenant then vendor.
func (s *Store) Accounts() []vendors.Account {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]vendors.Account, 0, len(s.set.Accounts))
	for _, a := range s.set.Accounts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tenant != out[j].Tenant {
			return out[i].Tenant < out[j].Tenant
		}
		return out[i].Vendor < out[j].Vendor
	})
	return out
}

// LastError is the error of the last reload (nil when it succeeded).
func (s *Store) LastError() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.err
}

// Reload reads the directory again. It returns the keys whose account
// appeared, changed or disappeared; on error the previous accounts stay.
func (s *Store) Reload() ([]Key, error) {
	set, err := Load(s.dir, s.validate)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
	if err != nil {
		return nil, err
	}
	var changed []Key
	for k, fp := range set.Fingerprints {
		if s.set.Fingerprints[k] != fp {
			changed = append(changed, k)
		}
	}
	for k := range s.set.Fingerprints {
		if _, ok := set.Fingerprints[k]; !ok {
			changed = append(changed, k)
		}
	}
	s.set = set
	sort.Slice(changed, func(i, j int) bool { return changed[i].String() < changed[j].String() })
	return changed, nil
}

// Watch reloads every interval until ctx ends, calling onChange with the
// changed keys after a successful reload that changed something.
func (s *Store) Watch(ctx context.Context, interval time.Duration, onChange func([]Key), onResult func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := s.Reload()
		if onResult != nil {
			onResult(err)
		}
		if err != nil {
			s.log.Warn("credentials reload failed; keeping the previous accounts", "error", err)
			continue
		}
		if len(changed) > 0 {
			keys := make([]string, len(changed))
			for i, k := range changed {
				keys[i] = k.String()
			}
			s.log.Info("credentials reloaded", "changed", keys)
			if onChange != nil {
				onChange(changed)
			}
		}
	}
}
