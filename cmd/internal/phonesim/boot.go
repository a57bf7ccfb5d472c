// Package phonesim simulates IP phones booting against Dialtone: the
// multicast PnP SUBSCRIBE, the NOTIFY with the provisioning URL, the
// downloads in each vendor's order, and a report of the configuration the
// phone would apply. It also boots many phones at once (Storm) for load.
//
// Vendor behaviour lives in package vendorsim; this package runs it.
package phonesim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/vendorsim"
)

// Options configures one simulated boot.
type Options struct {
	Phone vendorsim.Phone
	// URL boots from this URL (manual flow): no SIP at all.
	URL string
	// Local is the source address (zero: the kernel's choice towards Group).
	Local netip.Addr
	// Link, when set, gives the phone its own link layer: its SIP goes
	// through Link with the phone's MAC and the address Local (required),
	// instead of through the host's socket and MAC.
	Link *Link
	// SIPPort is the UDP port to bind (0: any).
	SIPPort int
	// Group is where the SUBSCRIBE goes (224.0.1.75:5060, or a unicast
	// address for multicast-free tests).
	Group netip.AddrPort
	// URIHost overrides the Request-URI host after the MAC.
	URIHost string
	// Timeout bounds the wait for a final response to the SUBSCRIBE.
	Timeout time.Duration
	// WaitNotify bounds the wait for the NOTIFY after the SUBSCRIBE was answered.
	WaitNotify time.Duration
	// WaitAccount, when set, keeps the phone answering NOTIFYs (a bootstrap
	// file first, then the late NOTIFY after assignment) until a
	// configuration with an account arrives, for at most this long from the
	// start of the boot.
	WaitAccount time.Duration
	// Linger keeps answering NOTIFYs (new URL, check-sync) this long after
	// the boot completed, re-fetching each time.
	Linger time.Duration
	HTTP   *http.Client
	Logger *slog.Logger
	Rand   vendorsim.Rand
}

func (o *Options) defaults() {
	if !o.Group.IsValid() {
		o.Group = DefaultGroup
	}
	if o.Timeout == 0 {
		o.Timeout = 32 * time.Second
	}
	if o.WaitNotify == 0 {
		o.WaitNotify = 60 * time.Second
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Rand == nil {
		o.Rand = NewRand()
	}
}

// Report is what phonesim prints for one phone. It holds plaintext SIP and
// web passwords on purpose: phonesim is a test tool and the report is how
// tests check what the phone was given.
type Report struct {
	Warning string      `json:"warning"`
	Phone   PhoneReport `json:"phone"`
	Flow    string      `json:"flow"` // "pnp" or "url"
	SIP     *SIPReport  `json:"sip,omitempty"`
	Rounds  []*Round    `json:"rounds"`
	// Config is the configuration of the last round that read one.
	Config  *vendorsim.Config `json:"config,omitempty"`
	Timings Timings           `json:"timings"`
	OK      bool              `json:"ok"`
	Error   string            `json:"error,omitempty"`
}

// PasswordWarning marks every report.
const PasswordWarning = "test tool output: contains plaintext SIP and web passwords"

// PhoneReport identifies the simulated phone.
type PhoneReport struct {
	Vendor     string `json:"vendor"`
	Model      string `json:"model"`
	MAC        string `json:"mac"`
	Firmware   string `json:"firmware"`
	UserAgent  string `json:"http_user_agent"`
	SIPAddress string `json:"sip_address,omitempty"`
	// ModelAccounts is how many SIP accounts the model has in
	// config-renderer's catalog; 0 when the catalog does not know the model
	// (the phone then asks for its vendor's generic files).
	ModelAccounts int `json:"model_accounts,omitempty"`
}

// SIPReport describes the PnP exchange.
type SIPReport struct {
	Group          string `json:"group"`
	SubscribesSent int    `json:"subscribes_sent"`
	Response       string `json:"response,omitempty"` // "200 OK"
	Responder      string `json:"responder,omitempty"`
	Notifies       int    `json:"notifies"`
	NotifyFrom     string `json:"notify_from,omitempty"`
}

// Round is one provisioning pass: a NOTIFY (or --url) and the downloads it caused.
type Round struct {
	Trigger   string        `json:"trigger"` // "url", "notify", "check-sync"
	NotifyURL string        `json:"notify_url,omitempty"`
	URL       string        `json:"url"`
	StartMS   float64       `json:"start_ms"`
	EndMS     float64       `json:"end_ms"`
	Files     []*FileReport `json:"files"`
	Accounts  int           `json:"accounts"`
	Error     string        `json:"error,omitempty"`
}

// FileReport is one download.
type FileReport struct {
	Name        string  `json:"name"`
	URL         string  `json:"url"`
	Status      int     `json:"status"`
	Bytes       int     `json:"bytes"`
	ContentType string  `json:"content_type,omitempty"`
	MS          float64 `json:"ms"`
	Error       string  `json:"error,omitempty"`
}

// Timings are measured from the first SUBSCRIBE (or the first download in
// the manual flow), in milliseconds.
type Timings struct {
	ToResponseMS    float64 `json:"subscribe_to_response_ms,omitempty"`
	ToNotifyMS      float64 `json:"subscribe_to_notify_ms,omitempty"`
	ToProvisionedMS float64 `json:"to_provisioned_ms,omitempty"` // last file of the round that completed the boot
	ToLastFileMS    float64 `json:"to_last_file_ms,omitempty"`
	TotalMS         float64 `json:"total_ms"`
}

// Errors a boot can end with (wrapped).
var (
	ErrNoAnswer  = errors.New("no answer to the SUBSCRIBE")
	ErrRejected  = errors.New("SUBSCRIBE rejected")
	ErrNoNotify  = errors.New("no NOTIFY with a provisioning URL")
	ErrNoAccount = errors.New("no configuration with a SIP account")
	ErrFetch     = errors.New("provisioning failed")
)

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Boot runs one phone. The report is always returned; err says why the
// boot did not complete.
func Boot(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	p := o.Phone
	rep := &Report{
		Warning: PasswordWarning,
		Phone: PhoneReport{
			Vendor: p.Vendor.Key, Model: p.Model, MAC: p.MAC, Firmware: p.Firmware,
			UserAgent: p.Vendor.UserAgent(p), ModelAccounts: p.CatalogAccounts(),
		},
		Rounds: []*Round{},
	}
	start := time.Now()
	var err error
	if o.URL != "" {
		rep.Flow = "url"
		err = bootURL(ctx, o, rep, start)
	} else {
		rep.Flow = "pnp"
		err = bootPnP(ctx, o, rep, start)
	}
	rep.Timings.TotalMS = ms(time.Since(start))
	if n := len(rep.Rounds); n > 0 {
		rep.Timings.ToLastFileMS = rep.Rounds[n-1].EndMS
	}
	if err != nil {
		rep.Error = err.Error()
		return rep, err
	}
	rep.OK = true
	return rep, nil
}

func bootURL(ctx context.Context, o Options, rep *Report, start time.Time) error {
	r := provision(ctx, o, rep, start, "url", o.URL)
	rep.Timings.ToProvisionedMS = r.EndMS
	if r.Error != "" {
		return fmt.Errorf("%w: %s", ErrFetch, r.Error)
	}
	if rep.Config == nil || len(rep.Config.Accounts) == 0 {
		if o.WaitAccount > 0 {
			return ErrNoAccount
		}
	}
	return nil
}

// provision runs one round and records it.
func provision(ctx context.Context, o Options, rep *Report, start time.Time, trigger, rawURL string) *Round {
	p := o.Phone
	base := p.Vendor.ResolveURL(p, rawURL)
	r := &Round{Trigger: trigger, URL: base, StartMS: ms(time.Since(start)), Files: []*FileReport{}}
	if trigger == "notify" {
		r.NotifyURL = rawURL
	}
	rep.Rounds = append(rep.Rounds, r)
	defer func() { r.EndMS = ms(time.Since(start)) }()
	f, err := newFetcher(o.HTTP, base, p.Vendor.UserAgent(p))
	if err != nil {
		r.Error = err.Error()
		return r
	}
	cfg := &vendorsim.Config{}
	perr := p.Vendor.Plan(ctx, p, base, f, cfg)
	ok := 0
	var fileErr error
	for _, file := range cfg.Files {
		r.Files = append(r.Files, &FileReport{
			Name: file.Name, URL: file.URL, Status: file.Status, Bytes: file.Bytes,
			ContentType: file.ContentType, MS: ms(file.Elapsed), Error: file.Error,
		})
		if file.OK() {
			ok++
		} else if file.Status == 0 && fileErr == nil {
			fileErr = fmt.Errorf("%s: %s", file.Name, file.Error)
		}
	}
	switch {
	case perr != nil:
		r.Error = perr.Error()
	case p.CatalogAccounts() > 0 && len(cfg.Accounts) > p.CatalogAccounts():
		// A file for another model: the phone has no such lines.
		r.Error = fmt.Sprintf("configuration has %d accounts, the %s has %d", len(cfg.Accounts), p.Model, p.CatalogAccounts())
	case fileErr != nil:
		r.Error = fileErr.Error()
	case ok == 0:
		r.Error = "no file could be downloaded"
	}
	if perr == nil && ok > 0 {
		rep.Config = cfg
		r.Accounts = len(cfg.Accounts)
	}
	o.Logger.Debug("provisioning round", "mac", p.MAC, "trigger", trigger, "files", len(r.Files), "accounts", r.Accounts, "error", r.Error)
	return r
}

func bootPnP(ctx context.Context, o Options, rep *Report, start time.Time) error {
	p := o.Phone
	v := p.Vendor
	if !v.PnP {
		return fmt.Errorf("%s phones do not send a PnP SUBSCRIBE; boot them with --url", v.DisplayName)
	}
	local := o.Local
	if !local.IsValid() {
		a, err := sourceAddr(o.Group)
		if err != nil {
			return err
		}
		local = a
	}
	var conn udpConn
	if o.Link != nil {
		if !o.Local.IsValid() {
			return errors.New("a phone with its own link layer needs its own address (--own-link)")
		}
		c, err := o.Link.listen(local, p.MAC, o.SIPPort)
		if err != nil {
			return err
		}
		conn = c
	} else {
		c, err := openSocket(ctx, local, o.SIPPort, o.Group)
		if err != nil {
			return err
		}
		conn = c
	}
	lp := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	l := vendorsim.Local{IP: local.String(), Port: int(lp.Port()), Host: o.URIHost}
	ids := v.NewIDs(o.Rand, l)
	raw := v.Subscribe(p, l, ids)
	rep.Phone.SIPAddress = fmt.Sprintf("%s:%d", l.IP, l.Port)
	sr := &SIPReport{Group: o.Group.String()}
	rep.SIP = sr
	ep := newEndpoint(conn, v, ids.CallID, o.Logger)
	defer func() {
		ep.close()
		ep.mu.Lock()
		sr.Notifies = ep.notifies
		ep.mu.Unlock()
	}()

	dst := o.Group
	send := func() error {
		if _, err := conn.WriteToUDPAddrPort(raw, dst); err != nil {
			return fmt.Errorf("send SUBSCRIBE to %s: %w", dst, err)
		}
		sr.SubscribesSent++
		return nil
	}
	if err := send(); err != nil {
		return err
	}
	schedule := v.Retransmit
	next := 1
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	arm := func(d time.Duration) {
		timer.Stop()
		if d < 0 {
			d = 0
		}
		timer.Reset(d)
	}

	answered := false // a final response arrived
	subDeadline := start.Add(o.Timeout)
	var notifyDeadline time.Time
	var waitAccountDeadline time.Time
	if o.WaitAccount > 0 {
		waitAccountDeadline = start.Add(o.WaitAccount)
	}
	var lingerDeadline time.Time
	completed := false
	lastURL := ""

	// nextWake is the earliest thing the loop must do without an event.
	nextWake := func() time.Time {
		var t time.Time
		pick := func(c time.Time) {
			if !c.IsZero() && (t.IsZero() || c.Before(t)) {
				t = c
			}
		}
		if !answered && next < len(schedule) {
			pick(start.Add(schedule[next]))
		}
		if !answered && rep.Timings.ToNotifyMS == 0 {
			pick(subDeadline)
		}
		if answered && !completed && lastURL == "" {
			pick(notifyDeadline)
		}
		if !completed && !waitAccountDeadline.IsZero() && lastURL != "" {
			pick(waitAccountDeadline)
		}
		if completed {
			pick(lingerDeadline)
		}
		return t
	}

	finish := func(r *Round) error {
		// Called after each round; decides whether the boot is complete.
		if r.Error != "" && waitAccountDeadline.IsZero() {
			return fmt.Errorf("%w: %s", ErrFetch, r.Error)
		}
		hasAccount := rep.Config != nil && len(rep.Config.Accounts) > 0
		if !completed && (waitAccountDeadline.IsZero() || hasAccount) {
			completed = true
			rep.Timings.ToProvisionedMS = r.EndMS
			lingerDeadline = time.Now().Add(o.Linger)
		}
		return nil
	}

	for {
		if completed && !time.Now().Before(lingerDeadline) {
			break
		}
		wake := nextWake()
		if !wake.IsZero() {
			arm(time.Until(wake))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-ep.events:
			switch {
			case ev.status != 0:
				if answered || ev.status < 200 {
					continue // retransmitted final response or provisional
				}
				answered = true
				sr.Response = fmt.Sprintf("%d %s", ev.status, ev.reason)
				sr.Responder = ev.from.String()
				rep.Timings.ToResponseMS = ms(ev.at.Sub(start))
				if ev.status >= 300 {
					return fmt.Errorf("%w: %s", ErrRejected, sr.Response)
				}
				notifyDeadline = ev.at.Add(o.WaitNotify)
				if waitAccountDeadline.After(notifyDeadline) {
					notifyDeadline = waitAccountDeadline // the late NOTIFY comes after assignment
				}
			case ev.kind == "url":
				if rep.Timings.ToNotifyMS == 0 {
					rep.Timings.ToNotifyMS = ms(ev.at.Sub(start))
				}
				answered = true // a NOTIFY ends the SUBSCRIBE's retransmissions too
				sr.NotifyFrom = ev.from.String()
				lastURL = ev.url
				r := provision(ctx, o, rep, start, "notify", ev.url)
				if err := finish(r); err != nil {
					return err
				}
			case ev.kind == "resync":
				if lastURL == "" {
					continue // nothing to re-read yet
				}
				u := lastURL
				if rep.Config != nil && rep.Config.ProvisioningURL != "" {
					u = rep.Config.ProvisioningURL
				}
				r := provision(ctx, o, rep, start, "check-sync", u)
				if err := finish(r); err != nil {
					return err
				}
			}
		case <-timer.C:
			now := time.Now()
			if !answered && next < len(schedule) && !now.Before(start.Add(schedule[next])) {
				next++
				if err := send(); err != nil {
					return err
				}
				continue
			}
			if !answered && !now.Before(subDeadline) {
				return fmt.Errorf("%w after %d sends in %s", ErrNoAnswer, sr.SubscribesSent, o.Timeout)
			}
			if answered && lastURL == "" && !notifyDeadline.IsZero() && !now.Before(notifyDeadline) {
				return fmt.Errorf("%w within %s of the %s", ErrNoNotify, o.WaitNotify, sr.Response)
			}
			if !completed && !waitAccountDeadline.IsZero() && lastURL != "" && !now.Before(waitAccountDeadline) {
				return fmt.Errorf("%w within %s (got %d round(s))", ErrNoAccount, o.WaitAccount, len(rep.Rounds))
			}
		}
	}
	return nil
}

// NewRand returns a randomly seeded source, safe for concurrent use by
// the boots of a storm.
func NewRand() vendorsim.Rand {
	return &lockedRand{r: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (l *lockedRand) Uint32() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Uint32()
}
