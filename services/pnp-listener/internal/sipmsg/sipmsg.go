// Package sipmsg builds the SIP messages pnp-listener sends: the 200 OK to a
// PnP SUBSCRIBE, the NOTIFY carrying the provisioning URL, and the
// check-sync NOTIFY in each vendor's dialect. It also turns inventory's URL
// into the form each vendor's phone expects.
//
// Every value that goes into a header we build is checked: no CR, LF or
// other control character ever reaches the wire from here.
package sipmsg

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-voip/dialtone/proto/vocab"
)

// ErrUnsafe is returned when a value would put a control character (CR, LF,
// NUL…) or a non-ASCII byte into a header or the URL body.
var ErrUnsafe = errors.New("value contains control characters or non-ASCII bytes")

// UserAgent is what we put in Server and User-Agent headers.
const UserAgent = "Dialtone-pnp-listener"

// Safe reports whether s is printable ASCII (space to '~').
func Safe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Local is the address we speak from: the IPv4 address of the interface the
// phone reached us on, and our UDP port there. It fills Via and Contact.
type Local struct {
	Addr netip.Addr
	Port int
}

func (l Local) contact() *sip.ContactHeader {
	return &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: l.Addr.String(), Port: l.Port}}
}

func (l Local) via() *sip.ViaHeader {
	v := &sip.ViaHeader{
		ProtocolName:    "SIP",
		ProtocolVersion: "2.0",
		Transport:       "UDP",
		Host:            l.Addr.String(),
		Port:            l.Port,
		Params:          sip.NewParams(),
	}
	v.Params.Add("branch", sip.GenerateBranch())
	v.Params.Add("rport", "")
	return v
}

// OK answers a PnP SUBSCRIBE: 200 OK with our To-tag, Expires: 0 and our
// Contact. The tag is the caller's, so that every retransmission of one
// SUBSCRIBE gets the same dialog and the NOTIFY can use it.
func OK(req *sip.Request, local Local, tag string) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if to := res.To(); to != nil {
		to.Params.Add("tag", tag)
	}
	res.AppendHeader(local.contact())
	exp := sip.ExpiresHeader(0)
	res.AppendHeader(&exp)
	res.AppendHeader(sip.NewHeader("Server", UserAgent))
	return res
}

// BadEvent answers a SUBSCRIBE for an event package we do not serve (489).
func BadEvent(req *sip.Request) *sip.Response {
	res := sip.NewResponseFromRequest(req, 489, "Bad Event", nil)
	res.AppendHeader(sip.NewHeader("Allow-Events", "ua-profile"))
	return res
}

// Dialog is what we remember of a phone's SUBSCRIBE to send it NOTIFYs in
// the same dialog, now or later.
type Dialog struct {
	// From and To as the phone sent them (From carries the phone's tag).
	From, To sip.Uri
	FromTag  string
	// FromDisplay and ToDisplay are the display names, if any.
	FromDisplay, ToDisplay string
	CallID                 string
	// OurTag is the To-tag of our 200 OK.
	OurTag string
	// Contact is the phone's Contact URI ("" when it sent none; then the
	// NOTIFY goes to sip:{source}).
	Contact string
	// Event is echoed in the NOTIFY ("ua-profile" when empty).
	Event string
}

// DialogFromRequest captures the dialog of a SUBSCRIBE.
func DialogFromRequest(req *sip.Request, ourTag, contact, event string) Dialog {
	d := Dialog{OurTag: ourTag, Contact: contact, Event: event}
	if f := req.From(); f != nil {
		d.From = *f.Address.Clone()
		d.FromDisplay = f.DisplayName
		d.FromTag, _ = f.Params.Get("tag")
	}
	if t := req.To(); t != nil {
		d.To = *t.Address.Clone()
		d.ToDisplay = t.DisplayName
	}
	if c := req.CallID(); c != nil {
		d.CallID = string(*c)
	}
	return d
}

// ProfileNotify builds the NOTIFY that hands a phone its provisioning URL
// within the dialog of its SUBSCRIBE: From = their To + our tag, To = their
// From with their tag, same Call-ID, Subscription-State terminated.
// dest is where the datagram physically goes ("ip:port").
func ProfileNotify(d Dialog, local Local, dest netip.AddrPort, cseq uint32, url string) (*sip.Request, error) {
	if url == "" || !Safe(url) {
		return nil, fmt.Errorf("provisioning URL: %w", ErrUnsafe)
	}
	for _, v := range []string{d.CallID, d.FromTag, d.OurTag, d.Event, d.FromDisplay, d.ToDisplay} {
		if !Safe(v) {
			return nil, fmt.Errorf("dialog: %w", ErrUnsafe)
		}
	}
	recipient, err := recipientURI(d.Contact, dest)
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.NOTIFY, recipient)
	req.AppendHeader(local.via())
	from := &sip.FromHeader{DisplayName: d.ToDisplay, Address: *d.To.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", d.OurTag)
	req.AppendHeader(from)
	to := &sip.ToHeader{DisplayName: d.FromDisplay, Address: *d.From.Clone(), Params: sip.NewParams()}
	if d.FromTag != "" {
		to.Params.Add("tag", d.FromTag)
	}
	req.AppendHeader(to)
	cid := sip.CallIDHeader(d.CallID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.NOTIFY})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(local.contact())
	event := d.Event
	if event == "" {
		event = "ua-profile"
	}
	req.AppendHeader(sip.NewHeader("Event", event))
	req.AppendHeader(sip.NewHeader("Subscription-State", "terminated;reason=timeout"))
	req.AppendHeader(sip.NewHeader("User-Agent", UserAgent))
	ct := sip.ContentTypeHeader("application/url")
	req.AppendHeader(&ct)
	req.SetBody([]byte(url))
	finish(req, dest)
	return req, nil
}

// CheckSync is an out-of-dialog NOTIFY that asks a phone to re-read its
// configuration, in the vendor's dialect (see CheckSyncEvent).
type CheckSync struct {
	Vendor string
	Reboot bool
	// Contact is the phone's last Contact URI ("" to use sip:{dest}).
	Contact string
	// User replaces the Request-URI and To user part when set: Gigaset
	// only honours a check-sync addressed to one of its SIP accounts.
	User string
}

// CheckSyncNotify builds the check-sync NOTIFY.
func CheckSyncNotify(c CheckSync, local Local, dest netip.AddrPort) (*sip.Request, error) {
	if !Safe(c.User) || strings.ContainsAny(c.User, "@:;?<> \"") {
		return nil, fmt.Errorf("line user: %w", ErrUnsafe)
	}
	recipient, err := recipientURI(c.Contact, dest)
	if err != nil {
		return nil, err
	}
	if c.User != "" {
		recipient.User = c.User
	}
	req := sip.NewRequest(sip.NOTIFY, recipient)
	req.AppendHeader(local.via())
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "pnp", Host: local.Addr.String()}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	to := &sip.ToHeader{Address: *recipient.Clone()}
	to.Address.UriParams = nil
	to.Address.Headers = nil
	req.AppendHeader(to)
	cid := sip.CallIDHeader(sip.GenerateTagN(24) + "@" + local.Addr.String())
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.NOTIFY})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(local.contact())
	req.AppendHeader(sip.NewHeader("Event", CheckSyncEvent(c.Vendor, c.Reboot)))
	req.AppendHeader(sip.NewHeader("Subscription-State", "terminated"))
	req.AppendHeader(sip.NewHeader("User-Agent", UserAgent))
	req.SetBody(nil)
	finish(req, dest)
	return req, nil
}

// CheckSyncEvent is the Event header value that makes a vendor's phone
// re-read its configuration (research/pnp-protocol.md §4):
//   - snom, Gigaset: check-sync;reboot=false|true
//   - Cisco SPA/MPP: resync, or reboot_now to reboot (which re-syncs)
//   - Fanvil and Poly: check-sync (no reboot variant; Poly reboots only if
//     its configuration says so)
//   - Yealink, Grandstream, Htek and unknown vendors: check-sync, with
//     ;reboot=true when a reboot is asked for
func CheckSyncEvent(vendor string, reboot bool) string {
	switch vendor {
	case vocab.Snom, vocab.Gigaset:
		if reboot {
			return "check-sync;reboot=true"
		}
		return "check-sync;reboot=false"
	case vocab.Cisco:
		if reboot {
			return "reboot_now"
		}
		return "resync"
	case vocab.Fanvil, vocab.Poly:
		return "check-sync"
	default:
		if reboot {
			return "check-sync;reboot=true"
		}
		return "check-sync"
	}
}

// recipientURI parses the phone's Contact for the Request-URI; without a
// usable one it addresses the datagram's destination.
func recipientURI(contact string, dest netip.AddrPort) (sip.Uri, error) {
	var u sip.Uri
	if contact != "" && Safe(contact) {
		if err := sip.ParseUri(contact, &u); err == nil && (u.Scheme == "sip" || u.Scheme == "sips") && u.Host != "" {
			if u.Scheme == "sips" {
				u.Scheme = "sip"
			}
			return u, nil
		}
	}
	if !dest.IsValid() {
		return u, errors.New("no contact and no destination for the NOTIFY")
	}
	return sip.Uri{Scheme: "sip", Host: dest.Addr().String(), Port: int(dest.Port())}, nil
}

func finish(req *sip.Request, dest netip.AddrPort) {
	req.SetTransport("UDP")
	req.SetDestination(dest.String())
}

// URLTemplates maps a vendor key to a template for the URL a phone of that
// vendor gets. "{url}" stands for the URL inventory returned; every other
// text, "{mac}" included, is kept as is (snom phones replace "{mac}" with
// their own MAC address themselves).
type URLTemplates map[string]string

// DefaultURLTemplates:
//   - snom: a file named after the phone's MAC in our directory, written
//     with snom's {mac} placeholder, which the phone fills in (upper-case
//     hex) — as snom's own responders and FreeSWITCH's snom-pnpd do.
//   - everyone else: the directory URL itself; VendorURL also guarantees
//     the trailing "/" Grandstream insists on.
func DefaultURLTemplates() URLTemplates {
	return URLTemplates{vocab.Snom: "{url}{mac}.xml"}
}

// ParseURLTemplate parses "vendor=template" (the --url-template flag).
func ParseURLTemplate(s string) (vendor, tmpl string, err error) {
	vendor, tmpl, ok := strings.Cut(s, "=")
	vendor = strings.ToLower(strings.TrimSpace(vendor))
	if !ok || vendor == "" || !strings.Contains(tmpl, "{url}") {
		return "", "", fmt.Errorf("url template %q: want vendor={url}…", s)
	}
	if !vocab.IsVendor(vendor) && vendor != "*" {
		return "", "", fmt.Errorf("url template %q: unknown vendor %q", s, vendor)
	}
	if !Safe(tmpl) || strings.ContainsAny(tmpl, " \"<>") {
		return "", "", fmt.Errorf("url template for %s: %w", vendor, ErrUnsafe)
	}
	return vendor, tmpl, nil
}

// VendorURL turns inventory's URL into what the vendor's phone expects.
func (t URLTemplates) VendorURL(vendor, url string) (string, error) {
	if url == "" || !Safe(url) || strings.ContainsAny(url, " \"<>") {
		return "", fmt.Errorf("provisioning URL: %w", ErrUnsafe)
	}
	tmpl, ok := t[vendor]
	if !ok {
		tmpl, ok = t["*"]
	}
	if vendor == vocab.Grandstream && !strings.HasSuffix(url, "/") && !strings.ContainsAny(url, "?#") {
		// Grandstream silently ignores anything but a directory URL.
		url += "/"
	}
	if !ok {
		return url, nil
	}
	return strings.ReplaceAll(tmpl, "{url}", url), nil
}
