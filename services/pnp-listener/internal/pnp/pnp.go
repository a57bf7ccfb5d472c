// Package pnp reads what IP phones put into their SIP multicast Plug-and-Play
// SUBSCRIBE (Event: ua-profile): the MAC address in each spelling vendors use,
// the vendor, model and firmware from the Event parameters, and the vendor
// from the MAC's OUI or the User-Agent when the Event does not say.
//
// It is pure: no sockets, no clocks. Everything it returns is bounded in
// length and free of control characters, so it can go into logs, events and
// SIP headers we build.
package pnp

import (
	"errors"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-voip/dialtone/proto/macaddr"
)

// Profile types a discovery SUBSCRIBE may carry.
const (
	ProfileDevice      = "device"
	ProfileApplication = "application"
)

// Errors of FromRequest.
var (
	// ErrNotSubscribe: the request is not a SUBSCRIBE.
	ErrNotSubscribe = errors.New("not a SUBSCRIBE")
	// ErrBadEvent: the SUBSCRIBE is for another event package (or a
	// ua-profile profile type we do not serve); answer 489.
	ErrBadEvent = errors.New("not a ua-profile device/application subscription")
	// ErrMalformed: headers every phone sends (Call-ID, From) are missing.
	ErrMalformed = errors.New("malformed SUBSCRIBE")
)

// Length bounds for what we keep from a SUBSCRIBE.
const (
	maxParam     = 64
	maxUserAgent = 128
	maxContact   = 256
	maxCallID    = 128
	maxEvent     = 256
)

// Where the MAC address was found.
const (
	MACFromRequestURI = "request-uri"
	MACFromFrom       = "from"
	MACFromTo         = "to"
	MACFromContact    = "contact"
)

// Subscribe is what a PnP SUBSCRIBE tells about a phone.
type Subscribe struct {
	// MAC is canonical (12 lowercase hex digits), or "" when the phone sent
	// none (AudioCodes); the caller may then ask the neighbour table.
	MAC string
	// MACSource is where MAC was found (MACFrom* constants).
	MACSource string
	// Vendor is a proto/vocab vendor key, or "" when unidentified.
	Vendor string
	// VendorParam is the vendor= (or vender=) parameter as sent, sanitised.
	VendorParam string
	// Model is the catalog's spelling of the model (CatalogModel).
	Model   string
	Version string
	// ProfileType is "device" or "application" ("" when the phone sent none).
	ProfileType string
	UserAgent   string
	CallID      string
	// Contact is the Contact URI ("" when absent).
	Contact string
	// Event is the Event header value as sent, when it is safe to echo
	// back in a NOTIFY; otherwise "ua-profile".
	Event string
}

// Parse parses one datagram with sipgo's parser and then FromRequest. It is
// what the fuzz target drives; the listener itself receives requests that
// sipgo has already parsed.
func Parse(data []byte) (*sip.Request, Subscribe, error) {
	msg, err := sip.NewParser().ParseSIP(data)
	if err != nil {
		return nil, Subscribe{}, err
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return nil, Subscribe{}, ErrNotSubscribe
	}
	s, err := FromRequest(req)
	return req, s, err
}

// EventHeader returns the Event header value, also in its compact form "o".
func EventHeader(req *sip.Request) (string, bool) {
	h := req.GetHeader("Event")
	if h == nil {
		h = req.GetHeader("o")
	}
	if h == nil {
		return "", false
	}
	return h.Value(), true
}

// FromRequest extracts the phone's identity from a parsed SUBSCRIBE.
func FromRequest(req *sip.Request) (Subscribe, error) {
	var s Subscribe
	if req == nil || req.Method != sip.SUBSCRIBE {
		return s, ErrNotSubscribe
	}
	evRaw, ok := EventHeader(req)
	if !ok {
		return s, ErrBadEvent
	}
	ev := ParseEvent(evRaw)
	if ev.Type != "ua-profile" {
		return s, ErrBadEvent
	}
	switch ev.ProfileType {
	case ProfileDevice, ProfileApplication, "":
	default:
		return s, ErrBadEvent
	}
	cid := req.CallID()
	from := req.From()
	if cid == nil || from == nil || *cid == "" {
		return s, ErrMalformed
	}
	s.CallID = Clean(string(*cid), maxCallID)
	s.ProfileType = ev.ProfileType
	s.VendorParam = ev.Vendor
	s.Model = ev.Model
	s.Version = ev.Version
	if len(evRaw) <= maxEvent && Clean(evRaw, maxEvent) == evRaw {
		s.Event = evRaw
	} else {
		s.Event = "ua-profile"
	}
	if h := req.GetHeader("User-Agent"); h != nil {
		s.UserAgent = Clean(h.Value(), maxUserAgent)
	}
	contact := req.Contact()
	if contact != nil {
		if c := contact.Address.String(); len(c) <= maxContact && Clean(c, maxContact) == c {
			s.Contact = c
		}
	}

	switch {
	case setMAC(&s, MACFromURI(&req.Recipient), MACFromRequestURI):
	case setMAC(&s, MACFromURI(&from.Address), MACFromFrom):
	case req.To() != nil && setMAC(&s, MACFromURI(&req.To().Address), MACFromTo):
	case contact != nil && setMAC(&s, MACFromURI(&contact.Address), MACFromContact):
	}
	s.Vendor = IdentifyVendor(s.VendorParam, s.Model, s.MAC, s.UserAgent)
	s.Model = CatalogModel(s.Vendor, s.Model)
	return s, nil
}

func setMAC(s *Subscribe, mac, source string) bool {
	if mac == "" {
		return false
	}
	s.MAC, s.MACSource = mac, source
	return true
}

// MACFromURI finds a MAC in a SIP URI's user part. Besides the usual
// sip:MAC…@host it handles the forms sipgo splits differently: "MAC:hex"
// (user "MAC", password hex) and a URI without host (<sip:MAC%3a…>, where
// the MAC lands in the host).
func MACFromURI(u *sip.Uri) string {
	if u == nil {
		return ""
	}
	if u.Password != "" && strings.EqualFold(u.User, "MAC") {
		if mac, err := macaddr.Parse(u.Password); err == nil && len(u.Password) == 12 {
			return mac
		}
	}
	if mac := MACFromUser(u.User); mac != "" {
		return mac
	}
	if u.User == "" {
		return MACFromUser(u.Host)
	}
	return ""
}

// MACFromUser accepts "MAC%3a<hex12>", "MAC%3A<hex12>", "MAC<hex12>",
// "MAC:<hex12>" and "MAC=<hex12>" ("MAC" in any case) and returns the
// canonical MAC, or "" for anything else.
func MACFromUser(user string) string {
	if len(user) < 15 || !strings.EqualFold(user[:3], "MAC") {
		return ""
	}
	rest := user[3:]
	switch {
	case len(rest) == 15 && rest[0] == '%' && rest[1] == '3' && (rest[2] == 'a' || rest[2] == 'A'):
		rest = rest[3:]
	case len(rest) == 13 && (rest[0] == ':' || rest[0] == '='):
		rest = rest[1:]
	}
	if len(rest) != 12 {
		return ""
	}
	mac, err := macaddr.Parse(rest)
	if err != nil {
		return ""
	}
	return mac
}

// Event is a parsed Event header.
type Event struct {
	// Type is the event package, lower case ("ua-profile").
	Type        string
	ProfileType string
	// Vendor is the vendor= parameter, or the misspelled vender=.
	Vendor  string
	Model   string
	Version string
}

// ParseEvent splits an Event header value into its package and the
// ua-profile parameters. Parameter names match case-insensitively, values
// may be quoted or not, and anything malformed is skipped rather than
// rejected: phones are sloppy and the caller only needs a best effort.
func ParseEvent(v string) Event {
	var ev Event
	typ, rest, _ := strings.Cut(v, ";")
	ev.Type = strings.ToLower(strings.TrimSpace(typ))
	for rest != "" {
		var param string
		param, rest = cutParam(rest)
		name, val, _ := strings.Cut(param, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		val = unquote(strings.TrimSpace(val))
		switch name {
		case "profile-type":
			ev.ProfileType = strings.ToLower(Clean(val, maxParam))
		case "vendor", "vender":
			ev.Vendor = Clean(val, maxParam)
		case "model":
			ev.Model = Clean(val, maxParam)
		case "version":
			ev.Version = Clean(val, maxParam)
		}
	}
	return ev
}

// cutParam returns the text up to the next ';' that is not inside quotes.
func cutParam(s string) (param, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
		if strings.IndexByte(s, '\\') >= 0 {
			var b strings.Builder
			for i := 0; i < len(s); i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			s = b.String()
		}
	}
	return s
}

// Clean keeps printable ASCII (space to '~') and drops everything else,
// then cuts to max bytes. What it returns is safe in a log line, an event
// and a SIP header value.
func Clean(s string, max int) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			clean = false
			break
		}
	}
	if !clean {
		b := make([]byte, 0, len(s))
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x20 && s[i] <= 0x7e {
				b = append(b, s[i])
			}
		}
		s = string(b)
	}
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = s[:max]
	}
	return s
}
