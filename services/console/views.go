package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
)

//go:embed web/templates/*.html
var templateFS embed.FS

//go:embed web/static
var staticFS embed.FS

// staticFiles serves /static/ from the embedded assets.
func staticFiles() http.Handler {
	sub, _ := fs.Sub(staticFS, "web/static")
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}

// views holds one template set per page (layout + page), and the
// fragments htmx and the event stream ask for.
type views struct {
	pages map[string]*template.Template
	frags *template.Template
}

var funcs = template.FuncMap{
	"ts": func(t *timestamppb.Timestamp) string {
		if t == nil {
			return "—"
		}
		return t.AsTime().UTC().Format("2006-01-02 15:04:05Z")
	},
	"colon": func(mac string) string { return macaddr.Colon(mac) },
	"last": func(name string) string {
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			return name[i+1:]
		}
		return name
	},
	"dash": func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	},
	"state": stateWord,
	"proof": proofWord,
	"fetches": func(p *inventoryv1.Phone) []*inventoryv1.ConfigFetch {
		// A record from before recent_fetches has only last_fetch.
		if l := p.GetRecentFetches(); len(l) > 0 {
			return l
		}
		if lf := p.GetLastFetch(); lf != nil {
			return []*inventoryv1.ConfigFetch{lf}
		}
		return nil
	},
	"rps": func(s *inventoryv1.PhoneRpsStatus) string {
		if s == nil || s.GetState() == rpsv1.RegistrationState_REGISTRATION_STATE_UNSPECIFIED {
			return "—"
		}
		return strings.ToLower(strings.TrimPrefix(s.GetState().String(), "REGISTRATION_STATE_"))
	},
	// rpsState is a DeviceStatus state in the words the CLI uses ("failed").
	"rpsState": func(st rpsv1.RegistrationState) string {
		if st == rpsv1.RegistrationState_REGISTRATION_STATE_UNSPECIFIED {
			return "—"
		}
		return strings.ToLower(strings.TrimPrefix(st.String(), "REGISTRATION_STATE_"))
	},
	"dict": func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
	"list":  func(s ...string) []string { return s },
	"upper": strings.ToUpper,
	"contains": func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
}

func loadViews() (*views, error) {
	v := &views{pages: map[string]*template.Template{}}
	base, err := template.New("").Funcs(funcs).ParseFS(templateFS, "web/templates/layout.html", "web/templates/fragments.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	v.frags = base
	names, _ := fs.Glob(templateFS, "web/templates/page_*.html")
	for _, n := range names {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("console templates: %w", err)
		}
		key := strings.TrimSuffix(strings.TrimPrefix(n, "web/templates/page_"), ".html")
		v.pages[key] = t
	}
	return v, nil
}

// page is what every page template gets.
type page struct {
	Title  string
	Nav    string
	User   string
	Role   string
	Tenant string
	CSRF   string
	Admin  bool
	Flash  string
	Error  string
	Fields map[string]string // field errors, by form field name
	Form   map[string]string // submitted values, to show again
	Data   any
	Secure bool
	// Tenants an unlimited user may switch to; Path is where to come back.
	Tenants []string
	Path    string
	Now     time.Time
	Version string
}

func (v *views) render(w http.ResponseWriter, status int, name string, p *page) {
	t := v.pages[name]
	if t == nil {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		http.Error(w, "page rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func (v *views) fragment(name string, data any) (string, error) {
	var buf bytes.Buffer
	if err := v.frags.ExecuteTemplate(&buf, name, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func stateWord(s inventoryv1.PhoneState) string {
	switch s {
	case inventoryv1.PhoneState_PHONE_STATE_DISCOVERED:
		return "discovered"
	case inventoryv1.PhoneState_PHONE_STATE_ASSIGNED:
		return "assigned"
	case inventoryv1.PhoneState_PHONE_STATE_PROVISIONED:
		return "provisioned"
	}
	return "unknown"
}

// row is a phone as the list shows it.
type row struct {
	MAC, Vendor, Model, Firmware, IP, Extensions, State, LastFetch, RPS string
}

func phoneRow(p *inventoryv1.Phone) row {
	r := row{MAC: p.GetMac(), Vendor: p.GetVendor(), Model: p.GetModel(), Firmware: p.GetFirmware(),
		State: stateWord(p.GetState()), LastFetch: funcs["ts"].(func(*timestamppb.Timestamp) string)(p.GetLastFetch().GetTime()),
		RPS: funcs["rps"].(func(*inventoryv1.PhoneRpsStatus) string)(p.GetRpsStatus())}
	if a := p.GetLastSeenAddress(); a != "" {
		r.IP = a
		if i := strings.LastIndexByte(a, ':'); i > 0 {
			r.IP = strings.Trim(a[:i], "[]")
		}
	}
	var exts []string
	for _, l := range p.GetLines() {
		exts = append(exts, l.GetExtension()[strings.LastIndexByte(l.GetExtension(), '/')+1:])
	}
	r.Extensions = strings.Join(exts, ", ")
	return r
}

// phoneFilter is the Phones page's filter.
type phoneFilter struct {
	State, Vendor, Q string
}

func phoneFilterFrom(r *http.Request) phoneFilter {
	q := r.URL.Query()
	return phoneFilter{State: q.Get("state"), Vendor: q.Get("vendor"), Q: strings.ToLower(strings.TrimSpace(q.Get("q")))}
}

func (f phoneFilter) match(p *inventoryv1.Phone) bool {
	if f.State != "" && stateWord(p.GetState()) != f.State {
		return false
	}
	if f.Vendor != "" && p.GetVendor() != f.Vendor {
		return false
	}
	if f.Q == "" {
		return true
	}
	r := phoneRow(p)
	hay := strings.ToLower(strings.Join([]string{r.MAC, macaddr.Colon(r.MAC), r.Vendor, r.Model, r.Firmware, r.IP, r.Extensions}, " "))
	return strings.Contains(hay, f.Q)
}

// proofWord says how a fetch or a release identity proved it came from the
// phone, in the words the Phone screen uses.
func proofWord(p inventoryv1.FetchProof) string {
	switch p {
	case inventoryv1.FetchProof_FETCH_PROOF_TOKEN:
		return "token"
	case inventoryv1.FetchProof_FETCH_PROOF_TOKEN_UA:
		return "token + MAC in User-Agent"
	case inventoryv1.FetchProof_FETCH_PROOF_TOKEN_CERTIFICATE:
		return "token + device certificate"
	case inventoryv1.FetchProof_FETCH_PROOF_LINK:
		return "token + link proved by the listener (TFTP)"
	default:
		return "—"
	}
}
