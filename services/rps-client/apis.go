package rpsclient

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/dialtone-voip/dialtone/proto/vocab"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/fanvil"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/gigaset"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/htek"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/poly"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/snom"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors/yealink"
)

// api is one supported vendor protocol.
type api struct {
	vendor     string
	defaultURL string
	build      func(vendors.Account, vendors.Options) (vendors.Client, error)
}

// apis lists every implemented protocol (README.md has the matrix).
var apis = map[string]api{
	vendors.APIYealinkXMLRPC: {vocab.Yealink, yealink.DefaultXMLRPCURL, yealink.NewXMLRPC},
	vendors.APIYealinkRPS:    {vocab.Yealink, yealink.DefaultRPSURL, yealink.NewRPS},
	vendors.APIYealinkYMCS:   {vocab.Yealink, yealink.DefaultYMCSURL, yealink.NewYMCS},
	vendors.APISnomXMLRPC:    {vocab.Snom, snom.DefaultXMLRPCURL, snom.NewXMLRPC},
	vendors.APISnomSRAPS:     {vocab.Snom, snom.DefaultSRAPSURL, snom.NewSRAPS},
	vendors.APIGigasetXMLRPC: {vocab.Gigaset, gigaset.DefaultXMLRPCURL, gigaset.NewXMLRPC},
	vendors.APIGigasetGRAPE:  {vocab.Gigaset, gigaset.DefaultGRAPEURL, gigaset.NewGRAPE},
	vendors.APIFanvilFDPS:    {vocab.Fanvil, fanvil.DefaultURL, fanvil.New},
	vendors.APIHtekXMLRPC:    {vocab.Htek, htek.DefaultURL, htek.New},
	vendors.APIPolyZTP:       {vocab.Poly, poly.DefaultURL, poly.New},
}

// defaultAPI is the protocol an account uses when it names none.
var defaultAPI = map[string]string{
	vocab.Yealink: vendors.APIYealinkRPS,
	vocab.Snom:    vendors.APISnomSRAPS,
	vocab.Gigaset: vendors.APIGigasetXMLRPC,
	vocab.Fanvil:  vendors.APIFanvilFDPS,
	vocab.Htek:    vendors.APIHtekXMLRPC,
	vocab.Poly:    vendors.APIPolyZTP,
}

// unsupported explains the vendors without an implemented redirect API.
var unsupported = map[string]string{
	vocab.Grandstream: "GDMS has no per-device redirect URL and GAPS redirects to a portal-configured default; not implemented",
	vocab.Cisco:       "Cisco EDOS has no public API for third-party redirect records",
}

// APINames lists the implemented protocols.
func APINames() []string {
	out := make([]string, 0, len(apis))
	for k := range apis {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resolve fills an account's API and base URL: the account's own base_url,
// else the --base-url override for its API, else the API's default.
func resolve(acct vendors.Account, overrides map[string]string) (vendors.Account, api, error) {
	if acct.API == "" {
		acct.API = defaultAPI[acct.Vendor]
	}
	a, ok := apis[acct.API]
	if !ok {
		if why, known := unsupported[acct.Vendor]; known {
			return acct, api{}, fmt.Errorf("vendor %s: %s", acct.Vendor, why)
		}
		return acct, api{}, fmt.Errorf("unknown api %q (want one of %s)", acct.API, strings.Join(APINames(), ", "))
	}
	if a.vendor != acct.Vendor {
		return acct, api{}, fmt.Errorf("api %q belongs to vendor %s, not %s", acct.API, a.vendor, acct.Vendor)
	}
	if acct.BaseURL == "" {
		acct.BaseURL = overrides[acct.API]
	}
	if acct.BaseURL == "" {
		acct.BaseURL = a.defaultURL
	}
	if u, err := url.Parse(acct.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return acct, api{}, fmt.Errorf("base_url must be an absolute http(s) URL")
	}
	return acct, a, nil
}
