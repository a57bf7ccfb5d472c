package console

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

// callTimeout bounds each gRPC call a page makes.
const callTimeout = 10 * time.Second

type authed func(w http.ResponseWriter, r *http.Request, ss *session)

// access levels of a route.
const (
	read   = iota // any logged-in user, GET
	write         // admin users, POST with the CSRF token
	choose        // any logged-in user, POST with the CSRF token (changes only the session)
)

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", staticFiles())
	mux.HandleFunc("GET /login", c.loginPage)
	mux.HandleFunc("POST /login", c.login)
	mux.HandleFunc("POST /logout", c.logout)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/phones", http.StatusSeeOther) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })

	mux.Handle("GET /phones", c.auth(read, c.phonesPage))
	mux.Handle("GET /events", c.auth(read, c.handleEvents))
	mux.Handle("GET /phones/new", c.auth(read, c.addPhonePage))
	mux.Handle("POST /phones/new", c.auth(write, c.addPhone))
	mux.Handle("GET /phones/{mac}", c.auth(read, c.phonePage))
	mux.Handle("POST /phones/{mac}/assign", c.auth(write, c.assignPhone))
	mux.Handle("POST /phones/{mac}/reveal", c.auth(write, c.revealURL))
	mux.Handle("POST /phones/{mac}/{action}", c.auth(write, c.phoneAction))
	mux.Handle("GET /extensions", c.auth(read, c.extensionsPage))
	mux.Handle("POST /extensions", c.auth(write, c.createExtension))
	mux.Handle("POST /extensions/{number}/update", c.auth(write, c.updateExtension))
	mux.Handle("POST /extensions/{number}/delete", c.auth(write, c.deleteExtension))
	mux.Handle("GET /interfaces", c.auth(read, c.interfacesPage))
	mux.Handle("POST /interfaces", c.auth(write, c.createInterface))
	mux.Handle("POST /interfaces/{id}/delete", c.auth(write, c.deleteInterface))
	mux.Handle("GET /import", c.auth(read, c.importPage))
	mux.Handle("POST /import", c.auth(write, c.importCSV))
	mux.Handle("GET /templates", c.auth(read, c.templatesPage))
	mux.Handle("POST /tenant", c.auth(choose, c.chooseTenant))
	return c.securityHeaders(mux)
}

// auth runs h for a logged-in user; write routes also need the CSRF token
// and the admin role.
func (c *Console) auth(level int, h authed) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss := c.session(r)
		if ss == nil || !ss.loggedIn() {
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "text/event-stream" {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		if level != read {
			r.Body = http.MaxBytesReader(w, r.Body, 2<<20)
			if !csrfOK(r, ss) {
				c.log.Warn("console request refused: CSRF token missing or wrong", "user", ss.user, "path", r.URL.Path)
				c.m.refused.WithLabelValues("csrf").Inc()
				http.Error(w, "Forbidden: the form's CSRF token is missing or wrong. Reload the page and try again.", http.StatusForbidden)
				return
			}
			if level == write && !ss.admin() {
				c.m.refused.WithLabelValues("readonly").Inc()
				http.Error(w, "Forbidden: your account is read-only.", http.StatusForbidden)
				return
			}
		}
		h(w, r, ss)
	})
}

func (c *Console) newPage(r *http.Request, ss *session, title, nav string) *page {
	p := &page{Title: title, Nav: nav, Secure: c.browserSecure(), Now: c.now(), Fields: map[string]string{}, Form: map[string]string{}}
	if ss != nil {
		p.User, p.Role, p.Tenant, p.CSRF, p.Admin = ss.user, ss.role, c.tenantOf(ss), ss.csrf, ss.admin()
		p.Path = r.URL.RequestURI()
		if ss.tenant == "" && ss.loggedIn() {
			ctx, cancel := c.ctx(r)
			if resp, err := c.d.Inventory.ListTenants(ctx, &inventoryv1.ListTenantsRequest{PageSize: 1000}); err == nil {
				for _, t := range resp.GetTenants() {
					p.Tenants = append(p.Tenants, strings.TrimPrefix(t.GetName(), "tenants/"))
				}
			}
			cancel()
		}
	}
	p.Flash = r.URL.Query().Get("flash")
	return p
}

// tenantOf is the tenant whose extensions and interfaces the user works on:
// its own, or the one an unlimited user chose (the default at first).
func (c *Console) tenantOf(ss *session) string {
	switch {
	case ss.tenant != "":
		return ss.tenant
	case ss.work != "":
		return ss.work
	}
	return c.cfg.DefaultTenant
}

// chooseTenant switches an unlimited user's working tenant (any user may:
// it changes what the pages show, not the inventory).
func (c *Console) chooseTenant(w http.ResponseWriter, r *http.Request, ss *session) {
	t := strings.TrimPrefix(r.PostFormValue("tenant"), "tenants/")
	if ss.tenant != "" {
		http.Error(w, "Forbidden: your account is limited to its tenant.", http.StatusForbidden)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	if _, err := c.d.Inventory.GetTenant(ctx, &inventoryv1.GetTenantRequest{Name: "tenants/" + t}); err != nil {
		http.Error(w, status.Convert(err).Message(), httpStatus(err))
		return
	}
	c.sessions.setWork(ss.id, t)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), callTimeout)
}

// ---------------------------------------------------------------- login

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	// A pre-login session carries the login form's CSRF token.
	ss := c.session(r)
	if ss != nil && ss.loggedIn() {
		http.Redirect(w, r, "/phones", http.StatusSeeOther)
		return
	}
	if ss == nil {
		ss = c.sessions.create("", "", "")
		c.setSessionCookie(w, ss)
	}
	p := c.newPage(r, nil, "Log in", "")
	p.CSRF = ss.csrf
	p.Form["next"] = safeNext(r.URL.Query().Get("next"))
	c.views.render(w, http.StatusOK, "login", p)
}

// safeNext keeps a post-login redirect on this site.
func safeNext(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.Contains(s, `\`) {
		return "/phones"
	}
	return s
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	pre := c.session(r)
	p := c.newPage(r, nil, "Log in", "")
	user := strings.ToLower(strings.TrimSpace(r.PostFormValue("user")))
	p.Form["user"], p.Form["next"] = user, safeNext(r.PostFormValue("next"))
	if pre == nil || !csrfOK(r, pre) {
		http.Error(w, "Forbidden: the form's CSRF token is missing or wrong. Reload the page and try again.", http.StatusForbidden)
		return
	}
	p.CSRF = pre.csrf
	keyUser, keyIP := "u:"+user, "ip:"+clientIP(r)
	if d := c.throttle.wait(keyUser, keyIP); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())+1))
		p.Error = fmt.Sprintf("Too many failed logins. Try again in %d s.", int(d.Seconds())+1)
		c.m.logins.WithLabelValues("throttled").Inc()
		c.views.render(w, http.StatusTooManyRequests, "login", p)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	resp, err := c.d.Inventory.AuthenticateUser(ctx, &inventoryv1.AuthenticateUserRequest{User: user, Password: r.PostFormValue("password")})
	if err != nil {
		if st, _ := status.FromError(err); st.Code() == codes.Unauthenticated || st.Code() == codes.InvalidArgument {
			c.throttle.fail(keyUser, keyIP)
			c.m.logins.WithLabelValues("failed").Inc()
			c.log.Info("console login failed", "user", user, "client", clientIP(r))
			p.Error = "Unknown user or wrong password."
			c.views.render(w, http.StatusUnauthorized, "login", p)
			return
		}
		c.log.Error("console login: inventory", "err", err)
		p.Error = "The inventory service is unavailable; try again."
		c.views.render(w, http.StatusServiceUnavailable, "login", p)
		return
	}
	c.throttle.success(keyUser)
	c.m.logins.WithLabelValues("ok").Inc()
	u := resp.GetUser()
	role := roleReadOnly
	if u.GetRole() == inventoryv1.UserRole_USER_ROLE_ADMIN {
		role = roleAdmin
	}
	c.sessions.delete(pre.id)
	ss := c.sessions.create(user, role, strings.TrimPrefix(u.GetTenant(), "tenants/"))
	c.setSessionCookie(w, ss)
	c.log.Info("console login", "user", user, "role", role, "client", clientIP(r))
	http.Redirect(w, r, p.Form["next"], http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	ss := c.session(r)
	if ss == nil || !csrfOK(r, ss) {
		http.Error(w, "Forbidden: the form's CSRF token is missing or wrong.", http.StatusForbidden)
		return
	}
	c.sessions.delete(ss.id)
	c.clearSessionCookie(w)
	c.log.Info("console logout", "user", ss.user)
	http.Redirect(w, r, "/login?flash=Logged+out.", http.StatusSeeOther)
}

// ---------------------------------------------------------------- errors

// fieldErrors turns an InvalidArgument "field.path: message" into a form
// field error (the form names its fields after the last path segment);
// other errors become the page error.
func fieldErrors(p *page, err error) {
	st, _ := status.FromError(err)
	msg := st.Message()
	if st.Code() == codes.InvalidArgument || st.Code() == codes.FailedPrecondition {
		if path, text, ok := strings.Cut(msg, ": "); ok && !strings.Contains(path, " ") {
			field := path[strings.LastIndexByte(path, '.')+1:]
			p.Fields[field] = text
			p.Error = "Please correct the field marked below."
			return
		}
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded:
		p.Error = "A Dialtone service is unavailable; try again."
	default:
		p.Error = msg
	}
}

func httpStatus(err error) int {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.AlreadyExists, codes.Aborted:
		return http.StatusUnprocessableEntity
	case codes.NotFound:
		return http.StatusNotFound
	case codes.PermissionDenied:
		return http.StatusForbidden
	}
	return http.StatusBadGateway
}

func formValues(r *http.Request, p *page) {
	_ = r.ParseForm()
	for k, v := range r.PostForm {
		if k == "csrf" || strings.Contains(k, "password") {
			continue // secrets are never echoed back
		}
		p.Form[k] = strings.Join(v, ",")
	}
}

// ---------------------------------------------------------------- phones

func (c *Console) listPhones(ctx context.Context, ss *session) ([]*inventoryv1.Phone, error) {
	req := &inventoryv1.ListPhonesRequest{PageSize: 1000}
	if ss.tenant != "" {
		req.Tenant = "tenants/" + ss.tenant
	}
	var out []*inventoryv1.Phone
	for range 20 { // at most 20 000 phones on one page
		resp, err := c.d.Inventory.ListPhones(ctx, req)
		if err != nil {
			return nil, err
		}
		out = append(out, resp.GetPhones()...)
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	return out, nil
}

type phonesData struct {
	Filter  phoneFilter
	Rows    []row
	Vendors []string
	Query   string
}

func (c *Console) phonesPage(w http.ResponseWriter, r *http.Request, ss *session) {
	p := c.newPage(r, ss, "Phones", "phones")
	f := phoneFilterFrom(r)
	since := c.hub.lastSeq() // before the list is read: later changes are replayed
	q := r.URL.Query()
	q.Set("since", strconv.FormatUint(since, 10))
	d := phonesData{Filter: f, Vendors: vocab.Vendors, Query: q.Encode()}
	ctx, cancel := c.ctx(r)
	defer cancel()
	phones, err := c.listPhones(ctx, ss)
	if err != nil {
		fieldErrors(p, err)
	}
	for _, ph := range phones {
		if f.match(ph) {
			d.Rows = append(d.Rows, phoneRow(ph))
		}
	}
	p.Data = d
	if r.Header.Get("HX-Request") == "true" {
		out, err := c.views.fragment("phone_rows", d)
		if err != nil {
			http.Error(w, "rendering failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, out)
		return
	}
	c.views.render(w, http.StatusOK, "phones", p)
}

// settingsForm is what the Provisioning tab offers.
type settingsForm struct {
	Languages  []string
	TimeZones  []string
	Interfaces []*inventoryv1.SipInterface
	Codecs     []codecChoice
	Transport  string
	Settings   *inventoryv1.ProvisioningSettings
}

type codecChoice struct {
	Name  string
	On    bool
	Order int
}

func (c *Console) settingsForm(ctx context.Context, ss *session, ps *inventoryv1.ProvisioningSettings) settingsForm {
	sf := settingsForm{Languages: vocab.Languages, TimeZones: timeZones(), Settings: ps, Transport: vocab.TransportName(ps.GetTransport())}
	if resp, err := c.d.Inventory.ListSipInterfaces(ctx, &inventoryv1.ListSipInterfacesRequest{Parent: "tenants/" + c.tenantOf(ss), PageSize: 1000}); err == nil {
		sf.Interfaces = resp.GetSipInterfaces()
	}
	for i, n := range vocab.CodecNames() {
		cc := codecChoice{Name: n, Order: 10 + i}
		for j, have := range ps.GetCodecs() {
			if vocab.CodecName(have) == n {
				cc.On, cc.Order = true, j+1
			}
		}
		sf.Codecs = append(sf.Codecs, cc)
	}
	slices.SortStableFunc(sf.Codecs, func(a, b codecChoice) int { return a.Order - b.Order })
	return sf
}

// parseSettings reads the Provisioning tab's fields. Codecs are the
// checked ones, in the order of their order fields.
func parseSettings(r *http.Request) (*inventoryv1.ProvisioningSettings, string, string) {
	ps := &inventoryv1.ProvisioningSettings{
		WebPassword: r.PostFormValue("web_password"),
		Language:    r.PostFormValue("language"),
		TimeZone:    strings.TrimSpace(r.PostFormValue("time_zone")),
		SaveToRps:   r.PostFormValue("save_to_rps") == "on",
		Https:       r.PostFormValue("https") == "on",
	}
	if si := r.PostFormValue("sip_interface"); si != "" {
		ps.SipInterface = si
	}
	if t := r.PostFormValue("transport"); t != "" {
		tr, err := vocab.ParseTransport(t)
		if err != nil {
			return nil, "transport", err.Error()
		}
		ps.Transport = tr
	}
	type oc struct {
		c     provisioningv1.Codec
		order int
	}
	var cs []oc
	for _, n := range vocab.CodecNames() {
		if r.PostFormValue("codec_"+n) != "on" {
			continue
		}
		cd, _ := vocab.ParseCodec(n)
		o, err := strconv.Atoi(r.PostFormValue("order_" + n))
		if err != nil {
			o = 1000
		}
		cs = append(cs, oc{cd, o})
	}
	slices.SortStableFunc(cs, func(a, b oc) int { return a.order - b.order })
	for _, x := range cs {
		ps.Codecs = append(ps.Codecs, x.c)
	}
	return ps, "", ""
}

type phoneData struct {
	Since      uint64
	Phone      *inventoryv1.Phone
	Row        row
	Extensions []*inventoryv1.Extension
	Form       settingsForm
	Rps        *rpsv1.DeviceStatus
	RpsError   string
	URL        string
}

func (c *Console) loadPhone(ctx context.Context, ss *session, mac string) (*inventoryv1.Phone, error) {
	resp, err := c.d.Inventory.GetPhone(ctx, &inventoryv1.GetPhoneRequest{Name: "phones/" + mac})
	if err != nil {
		return nil, err
	}
	if !userSeesPhone(ss, resp.GetPhone()) {
		return nil, status.Error(codes.NotFound, "phone not found")
	}
	return resp.GetPhone(), nil
}

func (c *Console) phonePage(w http.ResponseWriter, r *http.Request, ss *session) {
	c.renderPhone(w, r, ss, nil, http.StatusOK)
}

func (c *Console) renderPhone(w http.ResponseWriter, r *http.Request, ss *session, p *page, code int) {
	mac, err := macaddr.Parse(r.PathValue("mac"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if p == nil {
		p = c.newPage(r, ss, "Phone "+macaddr.Colon(mac), "phones")
	}
	since := c.hub.lastSeq()
	ctx, cancel := c.ctx(r)
	defer cancel()
	ph, err := c.loadPhone(ctx, ss, mac)
	if err != nil {
		p.Error = status.Convert(err).Message()
		c.views.render(w, httpStatus(err), "error", p)
		return
	}
	p.Title = "Phone " + macaddr.Colon(mac)
	d := phoneData{Since: since, Phone: ph, Row: phoneRow(ph), Form: c.settingsForm(ctx, ss, ph.GetSettings())}
	if resp, err := c.d.Inventory.ListExtensions(ctx, &inventoryv1.ListExtensionsRequest{Parent: "tenants/" + c.tenantOf(ss), PageSize: 1000}); err == nil {
		d.Extensions = resp.GetExtensions()
	}
	if c.d.Rps != nil {
		if resp, err := c.d.Rps.GetDeviceStatus(ctx, &rpsv1.GetDeviceStatusRequest{Name: "devices/" + mac}); err == nil {
			d.Rps = resp.GetStatus()
			d.Rps.RegisteredUrl = "" // a secret: never on a page
		} else if status.Code(err) != codes.NotFound {
			d.RpsError = status.Convert(err).Message()
		}
	}
	p.Data = d
	c.views.render(w, code, "phone", p)
}

func (c *Console) assignPhone(w http.ResponseWriter, r *http.Request, ss *session) {
	mac, err := macaddr.Parse(r.PathValue("mac"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	p := c.newPage(r, ss, "Phone", "phones")
	formValues(r, p)
	ps, field, msg := parseSettings(r)
	if field != "" {
		p.Fields[field], p.Error = msg, "Please correct the field marked below."
		c.renderPhone(w, r, ss, p, http.StatusUnprocessableEntity)
		return
	}
	req := &inventoryv1.AssignPhoneRequest{Name: "phones/" + mac, Settings: ps, Tenant: "tenants/" + c.tenantOf(ss)}
	if ext := r.PostFormValue("extension"); ext != "" && ext != "new" {
		req.Extension = ext
	} else {
		req.CreateExtension = &inventoryv1.Extension{Number: strings.TrimSpace(r.PostFormValue("number")),
			DisplayName: r.PostFormValue("display_name"), SipPassword: r.PostFormValue("sip_password")}
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	if _, err := c.loadPhone(ctx, ss, mac); err != nil {
		http.NotFound(w, r)
		return
	}
	if _, err := c.d.Inventory.AssignPhone(ctx, req); err != nil {
		fieldErrors(p, err)
		c.renderPhone(w, r, ss, p, httpStatus(err))
		return
	}
	c.log.Info("console: phone assigned", "user", ss.user, "phone", mac)
	http.Redirect(w, r, "/phones/"+mac+"?flash=Assigned.+The+phone+is+sent+a+check-sync.", http.StatusSeeOther)
}

// revealURL returns the provisioning URL as a fragment, and records who saw
// it: the URL carries the phone's secret token.
func (c *Console) revealURL(w http.ResponseWriter, r *http.Request, ss *session) {
	mac, err := macaddr.Parse(r.PathValue("mac"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	if _, err := c.loadPhone(ctx, ss, mac); err != nil {
		http.NotFound(w, r)
		return
	}
	resp, err := c.d.Inventory.GetProvisioningUrl(ctx, &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + mac})
	if err != nil {
		http.Error(w, status.Convert(err).Message(), httpStatus(err))
		return
	}
	c.m.reveals.Inc()
	c.log.Info("console: provisioning URL revealed", "user", ss.user, "phone", mac, "client", clientIP(r), "bootstrap", resp.GetBootstrap())
	out, err := c.views.fragment("reveal", map[string]any{"URL": resp.GetUrl(), "Bootstrap": resp.GetBootstrap()})
	if err != nil {
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, out)
}

func (c *Console) phoneAction(w http.ResponseWriter, r *http.Request, ss *session) {
	mac, err := macaddr.Parse(r.PathValue("mac"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	if _, err := c.loadPhone(ctx, ss, mac); err != nil {
		http.NotFound(w, r)
		return
	}
	name, flash, to := "phones/"+mac, "", "/phones/"+mac
	action := r.PathValue("action")
	switch action {
	case "reprovision":
		_, err = c.d.Inventory.ReprovisionPhone(ctx, &inventoryv1.ReprovisionPhoneRequest{Name: name, Reboot: r.PostFormValue("reboot") == "on"})
		flash = "Reprovisioning requested."
	case "rotate":
		_, err = c.d.Inventory.RotateProvisioningToken(ctx, &inventoryv1.RotateProvisioningTokenRequest{Name: name})
		flash = "Token rotated; the previous link keeps working for its grace period."
	case "unassign":
		_, err = c.d.Inventory.UnassignPhone(ctx, &inventoryv1.UnassignPhoneRequest{Name: name})
		flash = "Unassigned."
	case "delete":
		_, err = c.d.Inventory.DeletePhone(ctx, &inventoryv1.DeletePhoneRequest{Name: name})
		flash, to = "Phone "+macaddr.Colon(mac)+" deleted.", "/phones"
	case "approve":
		// The etag the page was rendered with: an identity that replaced the
		// one the administrator saw is refused, not approved unseen.
		_, err = c.d.Inventory.ApprovePhone(ctx, &inventoryv1.ApprovePhoneRequest{Name: name, Etag: r.PostFormValue("etag")})
		flash = "Identity approved; files with secrets are released to it."
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		p := c.newPage(r, ss, "Phone", "phones")
		fieldErrors(p, err)
		c.renderPhone(w, r, ss, p, httpStatus(err))
		return
	}
	c.log.Info("console: phone action", "user", ss.user, "phone", mac, "action", action)
	http.Redirect(w, r, to+"?flash="+url.QueryEscape(flash), http.StatusSeeOther)
}

type addPhoneData struct {
	Models     []vendorModels
	Extensions []*inventoryv1.Extension
	Form       settingsForm
}

type vendorModels struct {
	Vendor string
	Models []*rendererv1.Model
}

func (c *Console) addPhonePage(w http.ResponseWriter, r *http.Request, ss *session) {
	c.renderAddPhone(w, r, ss, c.newPage(r, ss, "Add Phone", "add"), http.StatusOK)
}

func (c *Console) renderAddPhone(w http.ResponseWriter, r *http.Request, ss *session, p *page, code int) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	d := addPhoneData{Form: c.settingsForm(ctx, ss, nil)}
	if resp, err := c.d.Renderer.ListModels(ctx, &rendererv1.ListModelsRequest{PageSize: 1000}); err == nil {
		for _, m := range resp.GetModels() {
			if n := len(d.Models); n == 0 || d.Models[n-1].Vendor != m.GetVendor() {
				d.Models = append(d.Models, vendorModels{Vendor: m.GetVendor()})
			}
			d.Models[len(d.Models)-1].Models = append(d.Models[len(d.Models)-1].Models, m)
		}
	}
	if resp, err := c.d.Inventory.ListExtensions(ctx, &inventoryv1.ListExtensionsRequest{Parent: "tenants/" + c.tenantOf(ss), PageSize: 1000}); err == nil {
		d.Extensions = resp.GetExtensions()
	}
	p.Data = d
	c.views.render(w, code, "addphone", p)
}

func (c *Console) addPhone(w http.ResponseWriter, r *http.Request, ss *session) {
	p := c.newPage(r, ss, "Add Phone", "add")
	formValues(r, p)
	ps, field, msg := parseSettings(r)
	if field != "" {
		p.Fields[field], p.Error = msg, "Please correct the field marked below."
		c.renderAddPhone(w, r, ss, p, http.StatusUnprocessableEntity)
		return
	}
	mac, err := macaddr.Parse(r.PostFormValue("mac"))
	if err != nil {
		p.Fields["mac"], p.Error = "not a MAC address (12 hex digits, e.g. 00:15:65:aa:bb:cc)", "Please correct the field marked below."
		c.renderAddPhone(w, r, ss, p, http.StatusUnprocessableEntity)
		return
	}
	// The phone is created bare, then assigned: AssignPhone creates a new
	// extension in the same call and checks every setting, so a refused
	// setting leaves no stray extension; the bare phone is then removed.
	tenant := "tenants/" + c.tenantOf(ss)
	ctx, cancel := c.ctx(r)
	defer cancel()
	vendor, model, _ := strings.Cut(r.PostFormValue("model"), "/")
	if _, err := c.d.Inventory.CreatePhone(ctx, &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: mac, Vendor: vendor, Model: model}}); err != nil {
		if status.Code(err) == codes.AlreadyExists {
			p.Fields["mac"], p.Error = "a phone with this MAC exists already", "Please correct the field marked below."
		} else {
			fieldErrors(p, err)
		}
		c.renderAddPhone(w, r, ss, p, httpStatus(err))
		return
	}
	req := &inventoryv1.AssignPhoneRequest{Name: "phones/" + mac, Settings: ps, Tenant: tenant}
	if ext := r.PostFormValue("extension"); ext != "" && ext != "new" {
		req.Extension = ext
	} else {
		req.CreateExtension = &inventoryv1.Extension{Number: strings.TrimSpace(r.PostFormValue("number")),
			DisplayName: r.PostFormValue("display_name"), SipPassword: r.PostFormValue("sip_password")}
	}
	if _, err := c.d.Inventory.AssignPhone(ctx, req); err != nil {
		if _, derr := c.d.Inventory.DeletePhone(ctx, &inventoryv1.DeletePhoneRequest{Name: "phones/" + mac}); derr != nil {
			c.log.Warn("console: removing the bare phone after a refused assignment", "phone", mac, "err", derr)
		}
		fieldErrors(p, err)
		c.renderAddPhone(w, r, ss, p, httpStatus(err))
		return
	}
	c.log.Info("console: phone added", "user", ss.user, "phone", mac)
	http.Redirect(w, r, "/phones/"+mac+"?flash=Phone+added.+Reveal+its+provisioning+link+below.", http.StatusSeeOther)
}

// ---------------------------------------------------------------- extensions and interfaces

func (c *Console) extensionsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	c.renderExtensions(w, r, ss, c.newPage(r, ss, "Extensions", "extensions"), http.StatusOK)
}

func (c *Console) renderExtensions(w http.ResponseWriter, r *http.Request, ss *session, p *page, code int) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	resp, err := c.d.Inventory.ListExtensions(ctx, &inventoryv1.ListExtensionsRequest{Parent: "tenants/" + c.tenantOf(ss), PageSize: 1000})
	if err != nil && p.Error == "" {
		fieldErrors(p, err)
	}
	p.Data = resp.GetExtensions()
	c.views.render(w, code, "extensions", p)
}

func (c *Console) createExtension(w http.ResponseWriter, r *http.Request, ss *session) {
	p := c.newPage(r, ss, "Extensions", "extensions")
	formValues(r, p)
	ctx, cancel := c.ctx(r)
	defer cancel()
	_, err := c.d.Inventory.CreateExtension(ctx, &inventoryv1.CreateExtensionRequest{Parent: "tenants/" + c.tenantOf(ss), Extension: &inventoryv1.Extension{
		Number: strings.TrimSpace(r.PostFormValue("number")), DisplayName: r.PostFormValue("display_name"),
		AuthUser: r.PostFormValue("auth_user"), SipPassword: r.PostFormValue("sip_password")}})
	if err != nil {
		fieldErrors(p, err)
		c.renderExtensions(w, r, ss, p, httpStatus(err))
		return
	}
	http.Redirect(w, r, "/extensions?flash=Extension+added.", http.StatusSeeOther)
}

func (c *Console) updateExtension(w http.ResponseWriter, r *http.Request, ss *session) {
	p := c.newPage(r, ss, "Extensions", "extensions")
	num := r.PathValue("number")
	paths := []string{"display_name"}
	x := &inventoryv1.Extension{Name: "tenants/" + c.tenantOf(ss) + "/extensions/" + num, DisplayName: r.PostFormValue("display_name")}
	if pw := r.PostFormValue("sip_password"); pw != "" {
		x.SipPassword, paths = pw, append(paths, "sip_password")
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	if _, err := c.d.Inventory.UpdateExtension(ctx, &inventoryv1.UpdateExtensionRequest{Extension: x, UpdateMask: fieldMask(paths...)}); err != nil {
		fieldErrors(p, err)
		c.renderExtensions(w, r, ss, p, httpStatus(err))
		return
	}
	http.Redirect(w, r, "/extensions?flash=Extension+"+url.QueryEscape(num)+"+updated.", http.StatusSeeOther)
}

func (c *Console) deleteExtension(w http.ResponseWriter, r *http.Request, ss *session) {
	p := c.newPage(r, ss, "Extensions", "extensions")
	num := r.PathValue("number")
	ctx, cancel := c.ctx(r)
	defer cancel()
	if _, err := c.d.Inventory.DeleteExtension(ctx, &inventoryv1.DeleteExtensionRequest{Name: "tenants/" + c.tenantOf(ss) + "/extensions/" + num}); err != nil {
		p.Error = "Extension " + num + " was not deleted: " + status.Convert(err).Message()
		c.renderExtensions(w, r, ss, p, httpStatus(err))
		return
	}
	http.Redirect(w, r, "/extensions?flash=Extension+"+url.QueryEscape(num)+"+deleted.", http.StatusSeeOther)
}

func (c *Console) interfacesPage(w http.ResponseWriter, r *http.Request, ss *session) {
	c.renderInterfaces(w, r, ss, c.newPage(r, ss, "SIP interfaces", "interfaces"), http.StatusOK)
}

func (c *Console) renderInterfaces(w http.ResponseWriter, r *http.Request, ss *session, p *page, code int) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	resp, err := c.d.Inventory.ListSipInterfaces(ctx, &inventoryv1.ListSipInterfacesRequest{Parent: "tenants/" + c.tenantOf(ss), PageSize: 1000})
	if err != nil && p.Error == "" {
		fieldErrors(p, err)
	}
	p.Data = resp.GetSipInterfaces()
	c.views.render(w, code, "interfaces", p)
}

func (c *Console) createInterface(w http.ResponseWriter, r *http.Request, ss *session) {
	p := c.newPage(r, ss, "SIP interfaces", "interfaces")
	formValues(r, p)
	port := func(name string) int32 {
		n, _ := strconv.Atoi(strings.TrimSpace(r.PostFormValue(name)))
		return int32(n)
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	_, err := c.d.Inventory.CreateSipInterface(ctx, &inventoryv1.CreateSipInterfaceRequest{Parent: "tenants/" + c.tenantOf(ss),
		SipInterfaceId: strings.TrimSpace(r.PostFormValue("sip_interface_id")),
		SipInterface: &inventoryv1.SipInterface{DisplayName: r.PostFormValue("display_name"), Host: strings.TrimSpace(r.PostFormValue("host")),
			UdpPort: port("udp_port"), TcpPort: port("tcp_port"), TlsPort: port("tls_port"), OutboundProxy: strings.TrimSpace(r.PostFormValue("outbound_proxy"))}})
	if err != nil {
		fieldErrors(p, err)
		c.renderInterfaces(w, r, ss, p, httpStatus(err))
		return
	}
	http.Redirect(w, r, "/interfaces?flash=Interface+added.", http.StatusSeeOther)
}

func (c *Console) deleteInterface(w http.ResponseWriter, r *http.Request, ss *session) {
	p := c.newPage(r, ss, "SIP interfaces", "interfaces")
	id := r.PathValue("id")
	ctx, cancel := c.ctx(r)
	defer cancel()
	if _, err := c.d.Inventory.DeleteSipInterface(ctx, &inventoryv1.DeleteSipInterfaceRequest{Name: "tenants/" + c.tenantOf(ss) + "/sipInterfaces/" + id}); err != nil {
		p.Error = "Interface " + id + " was not deleted: " + status.Convert(err).Message()
		c.renderInterfaces(w, r, ss, p, httpStatus(err))
		return
	}
	http.Redirect(w, r, "/interfaces?flash=Interface+"+url.QueryEscape(id)+"+deleted.", http.StatusSeeOther)
}

// ---------------------------------------------------------------- templates

type templatesData struct {
	Set    *rendererv1.TemplateSet
	Models []vendorModels
	// Preview of one file for one phone (?phone=MAC&file=NAME).
	Phones  []row
	Phone   string
	File    string
	Files   []string
	Content string
	Type    string
}

func (c *Console) templatesPage(w http.ResponseWriter, r *http.Request, ss *session) {
	p := c.newPage(r, ss, "Templates", "templates")
	ctx, cancel := c.ctx(r)
	defer cancel()
	var d templatesData
	resp, err := c.d.Renderer.GetTemplateSet(ctx, &rendererv1.GetTemplateSetRequest{Name: "templateSet"})
	if err != nil {
		fieldErrors(p, err)
	} else {
		d.Set = resp.GetTemplateSet()
	}
	if mr, err := c.d.Renderer.ListModels(ctx, &rendererv1.ListModelsRequest{PageSize: 1000}); err == nil {
		for _, m := range mr.GetModels() {
			if n := len(d.Models); n == 0 || d.Models[n-1].Vendor != m.GetVendor() {
				d.Models = append(d.Models, vendorModels{Vendor: m.GetVendor()})
			}
			d.Models[len(d.Models)-1].Models = append(d.Models[len(d.Models)-1].Models, m)
		}
	}
	c.preview(ctx, r, ss, p, &d)
	p.Data = d
	c.views.render(w, http.StatusOK, "templates", p)
}

// preview renders one file of a phone with every secret masked: inventory
// composes the profile with passwords and token replaced
// (PreviewProvisioningProfile), config-renderer renders it. Admins only.
func (c *Console) preview(ctx context.Context, r *http.Request, ss *session, p *page, d *templatesData) {
	if !ss.admin() {
		return
	}
	if phones, err := c.listPhones(ctx, ss); err == nil {
		for _, ph := range phones {
			d.Phones = append(d.Phones, phoneRow(ph))
		}
	}
	q := r.URL.Query()
	if q.Get("phone") == "" {
		return
	}
	mac, err := macaddr.Parse(q.Get("phone"))
	if err != nil {
		p.Fields["phone"] = "not a MAC address"
		return
	}
	d.Phone, d.File = mac, strings.TrimSpace(q.Get("file"))
	ph, err := c.loadPhone(ctx, ss, mac)
	if err != nil {
		p.Fields["phone"] = status.Convert(err).Message()
		return
	}
	if m, err := c.d.Renderer.GetModel(ctx, &rendererv1.GetModelRequest{Name: "vendors/" + ph.GetVendor() + "/models/" + ph.GetModel()}); err == nil {
		for _, pat := range m.GetModel().GetFilePatterns() {
			d.Files = append(d.Files, strings.NewReplacer("{mac}", mac, "{MAC}", strings.ToUpper(mac)).Replace(pat))
		}
	}
	if d.File == "" && len(d.Files) > 0 {
		d.File = d.Files[len(d.Files)-1]
	}
	prof, err := c.d.Inventory.PreviewProvisioningProfile(ctx, &inventoryv1.PreviewProvisioningProfileRequest{Name: "phones/" + mac})
	if err != nil {
		p.Fields["phone"] = status.Convert(err).Message()
		return
	}
	out, err := c.d.Renderer.RenderFile(ctx, &rendererv1.RenderFileRequest{Profile: prof.GetProfile(), FileName: d.File})
	if err != nil {
		p.Fields["file"] = status.Convert(err).Message()
		return
	}
	d.Content, d.Type = string(out.GetContent()), out.GetContentType()
}

var errNoRows = errors.New("the file has no rows")
