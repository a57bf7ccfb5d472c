// Package vendors defines what every vendor redirect-service client offers
// (register a MAC → URL, deregister it, check it), the account a client acts
// for, and the typed error that tells permanent refusals from transient
// failures. The vendor packages under it implement the wire protocols.
package vendors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// API names one vendor protocol ("flavour"); an account names the one it is for.
const (
	APIYealinkXMLRPC = "yealink-xmlrpc" // legacy XML-RPC, HTTP Basic
	APIYealinkRPS    = "yealink-rps"    // api-dm JSON, X-Ca HMAC-SHA256 signing
	APIYealinkYMCS   = "yealink-ymcs"   // YMCS v2, OAuth2 client credentials
	APISnomXMLRPC    = "snom-xmlrpc"    // legacy XML-RPC redirection, HTTP Basic
	APISnomSRAPS     = "snom-sraps"     // SRAPS REST, Hawk
	APIGigasetXMLRPC = "gigaset-xmlrpc" // legacy autoprov XML-RPC, HTTP Basic
	APIGigasetGRAPE  = "gigaset-grape"  // GRAPE REST, Hawk
	APIFanvilFDPS    = "fanvil-fdps"    // FDPS XML-RPC, Basic with double MD5
	APIHtekXMLRPC    = "htek-xmlrpc"    // Yealink-template XML-RPC, HTTP Basic
	APIPolyZTP       = "poly-ztp"       // Poly ZTP REST, API-KEY header
)

// Client talks to one vendor account. mac is always the canonical form (12
// lowercase hex digits); each client spells it as its vendor wants. Only the
// MAC and the URL ever leave: never SIP credentials.
type Client interface {
	// Register binds mac to url, creating or replacing our registration.
	Register(ctx context.Context, mac, url string) error
	// Deregister removes our registration of mac. A MAC that is not
	// registered, or registered to another account, is not an error: either
	// way we no longer hold it.
	Deregister(ctx context.Context, mac string) error
	// Check asks the vendor whether and to whom mac is registered.
	Check(ctx context.Context, mac string) (CheckResult, error)
}

// ObjectLister is implemented by clients whose registrations create objects
// at the vendor besides the MAC's own entry (Yealink-template XML-RPC server
// objects), so the service can record and list what it made.
type ObjectLister interface {
	// Objects names the vendor-side objects a registration to url uses.
	Objects(url string) []string
}

// CheckResult is a vendor's answer about one MAC.
type CheckResult struct {
	Registered bool
	OwnedByUs  bool
	// URL the vendor redirects to, when it discloses it (it holds the token).
	URL string
	// Owner or server description, when the vendor discloses it.
	Owner string
}

// Secret is a credential string. It formats, logs and marshals as
// "[REDACTED]"; Reveal returns the value for the one place that needs it.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return redacted }

// Format keeps every fmt verb (%s, %q, %v, %x …) from printing the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON writes the redaction marker, never the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// ErrSecretNotString is returned when a secret field holds anything but a string.
var ErrSecretNotString = errors.New("a secret field (password, key_secret, api_key) must be a JSON string")

// UnmarshalJSON reads the value from a credentials file.
func (s *Secret) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return ErrSecretNotString
	}
	*s = Secret(v)
	return nil
}

// Account is one vendor account: who we are at the vendor and how to reach
// it. Which fields matter depends on API (see README.md).
type Account struct {
	Tenant  string // tenant id ("" for the vendor's default account)
	Vendor  string // vocab vendor key
	API     string // one of the API* constants
	BaseURL string // empty: the API's default (or a configured override)

	Username  string // HTTP Basic user (XML-RPC APIs)
	Password  Secret // HTTP Basic password
	KeyID     string // Yealink AccessKey ID, Hawk id, YMCS client id
	KeySecret Secret // Yealink AccessKey secret, Hawk key, YMCS client secret
	APIKey    Secret // Poly ZTP API key

	// ServerName is the server object Yealink RPS JSON binds devices to
	// (default "dialtone").
	ServerName string
	// ProviderName is the label Gigaset's legacy API shows (default "Dialtone").
	ProviderName string
	// ProvisioningProfile optionally attaches SRAPS/GRAPE endpoints to a profile (uuid).
	ProvisioningProfile string
	// AllowTakeover lets the Yealink-template XML-RPC APIs (Yealink legacy,
	// Htek) override a MAC registered by another RPS account. Off by default:
	// taking a phone from someone else is an operator decision.
	AllowTakeover bool
}

// Principal returns the non-secret identity of the account, for listings.
func (a Account) Principal() string {
	switch {
	case a.Username != "":
		return a.Username
	case a.KeyID != "":
		return a.KeyID
	case a.APIKey != "":
		return "api-key"
	}
	return ""
}

// Options are the process-wide settings every client gets.
type Options struct {
	// HTTPClient sends the requests; nil means a client with Timeout.
	HTTPClient *http.Client
	// Timeout bounds one HTTP exchange (default 15s).
	Timeout time.Duration
	// Now is the clock used for request signing (default time.Now).
	Now func() time.Time
	// Logger receives debug lines (never secrets or URLs).
	Logger *slog.Logger
	// Observe, when set, is told about every HTTP exchange (for metrics).
	Observe func(api, op string, status int, d time.Duration)
}

// WithDefaults fills the zero fields of o.
func (o Options) WithDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: o.Timeout}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
