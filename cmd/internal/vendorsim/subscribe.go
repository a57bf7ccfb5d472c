package vendorsim

import (
	"fmt"
	"strings"
	"time"
)

// MulticastHost is the SIP multicast group phones address (sip.mcast.net).
const MulticastHost = "224.0.1.75"

// hdr is one header line; raw headers are written exactly as given (for
// vendors that omit the space after the colon).
type hdr struct {
	name, value string
	raw         bool
}

func buildRequest(method, uri string, hs []hdr) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, uri)
	for _, h := range hs {
		if h.raw {
			b.WriteString(h.value)
		} else {
			b.WriteString(h.name)
			b.WriteString(": ")
			b.WriteString(h.value)
		}
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

func hostport(l Local) string { return fmt.Sprintf("%s:%d", l.IP, l.Port) }

func uriHost(l Local) string {
	if l.Host != "" {
		return l.Host
	}
	return MulticastHost
}

func eventValue(vendorParam, vendor, model, version string) string {
	return fmt.Sprintf(`ua-profile;profile-type="device";%s="%s";model="%s";version="%s"`, vendorParam, vendor, model, version)
}

// digits returns a decimal number of 9–10 digits like the tags phones use.
func digits(r Rand) string { return fmt.Sprintf("%d", 100000000+r.Uint32()%4000000000) }

// rfcRetransmit is RFC 3261 §17.1.2 for a non-INVITE request over UDP:
// T1 = 500 ms doubling up to T2 = 4 s, until Timer F (32 s).
var rfcRetransmit = func() []time.Duration {
	var out []time.Duration
	at, step := time.Duration(0), 500*time.Millisecond
	for at < 32*time.Second {
		out = append(out, at)
		at += step
		step = min(2*step, 4*time.Second)
	}
	return out
}()

// --- Yealink -----------------------------------------------------------
//
// Capture yealink-W52P-1 (janakj/autoprov sip_pnp.py) and the T21P trace in
// mikopbx/ModuleAutoprovision (WorkerProvisioningServerPnP.php, test client):
// MAC without %3a in lowercase, From tag = Call-ID number, branch
// z9hG4bK<number>, no rport, Contact with the MAC user, source port 5059.
// DECT bases send vendor="yealink" and "Yealink W52P <fw>"; desk phones send
// vendor="Yealink", a User-Agent "Yealink SIP-<model> <fw>" and the model
// without "SIP-" in the Event.

func yealinkSubscribe(p Phone, l Local, ids IDs) []byte {
	user := "MAC" + p.MAC
	aor := fmt.Sprintf("<sip:%s@%s>", user, uriHost(l))
	vendor, ua := "Yealink", "Yealink SIP-"+p.uaModel()+" "+p.Firmware
	if yealinkIsDECT(p) {
		vendor, ua = "yealink", "Yealink "+p.uaModel()+" "+p.Firmware
	}
	return buildRequest("SUBSCRIBE", fmt.Sprintf("sip:%s@%s", user, uriHost(l)), []hdr{
		{name: "Via", value: fmt.Sprintf("SIP/2.0/UDP %s;branch=%s", hostport(l), ids.Branch)},
		{name: "From", value: aor + ";tag=" + ids.Tag},
		{name: "To", value: aor},
		{name: "Call-ID", value: ids.CallID},
		{name: "CSeq", value: "1 SUBSCRIBE"},
		{name: "Contact", value: fmt.Sprintf("<sip:%s@%s>", user, hostport(l))},
		{name: "Max-Forwards", value: "70"},
		{name: "User-Agent", value: ua},
		{name: "Expires", value: "0"},
		{name: "Event", value: eventValue("vendor", vendor, p.Model, p.Firmware)},
		{name: "Accept", value: "application/url"},
		{name: "Content-Length", value: "0"},
	})
}

func yealinkIDs(r Rand, l Local) IDs {
	n := digits(r)
	return IDs{Branch: "z9hG4bK" + n, Tag: n, CallID: n + "@" + l.IP}
}

// --- Grandstream -------------------------------------------------------
//
// Capture grandstream-GRP2612W-1 ("request copied from an actual GRP2612W",
// brucemwalker/gs_tools fake_grp2612.py): MAC%3A with the MAC in upper case,
// CSeq 20000, rport after the branch, Supported and Allow headers.

func grandstreamSubscribe(p Phone, l Local, ids IDs) []byte {
	user := "MAC%3A" + strings.ToUpper(p.MAC)
	aor := fmt.Sprintf("<sip:%s@%s>", user, uriHost(l))
	return buildRequest("SUBSCRIBE", fmt.Sprintf("sip:%s@%s", user, uriHost(l)), []hdr{
		{name: "Via", value: fmt.Sprintf("SIP/2.0/UDP %s;branch=%s;rport", hostport(l), ids.Branch)},
		{name: "From", value: aor + ";tag=" + ids.Tag},
		{name: "To", value: aor},
		{name: "Call-ID", value: ids.CallID},
		{name: "CSeq", value: "20000 SUBSCRIBE"},
		{name: "Contact", value: fmt.Sprintf("<sip:%s>", hostport(l))},
		{name: "Max-Forwards", value: "70"},
		{name: "User-Agent", value: "Grandstream " + p.Model + " " + p.Firmware},
		{name: "Expires", value: "0"},
		{name: "Supported", value: "replaces, path"},
		{name: "Event", value: eventValue("vendor", "Grandstream", p.Model, p.Firmware)},
		{name: "Accept", value: "application/url"},
		{name: "Allow", value: "INVITE, ACK, OPTIONS, CANCEL, BYE, SUBSCRIBE, NOTIFY, INFO, REFER, UPDATE, MESSAGE"},
		{name: "Content-Length", value: "0"},
	})
}

// grandstreamIDs imitates the capture's Call-ID "<n>-<port>-1@<letters>";
// the letters encode the address digit by digit (0=A … 9=J) (inferred).
func grandstreamIDs(r Rand, l Local) IDs {
	var host strings.Builder
	for _, c := range l.IP {
		if c >= '0' && c <= '9' {
			host.WriteByte(byte('A' + (c - '0')))
		} else {
			host.WriteRune(c)
		}
	}
	return IDs{
		Branch: "z9hG4bK" + digits(r),
		Tag:    digits(r),
		CallID: fmt.Sprintf("%s-%d-1@%s", digits(r), l.Port, host.String()),
	}
}

// --- snom (and Gigaset, which answers the same way) --------------------
//
// snom D120 trace in mikopbx/ModuleAutoprovision (the commented-out test
// message) and the snom wiki / pbertera/snompnpd examples: MAC%3a with the
// MAC in upper case, Via with rport and NO branch (RFC 2543 style), no
// Max-Forwards, Event before Expires, Contact without user, then
// User-Agent "snom<model>/<fw>". Firmware 7.x sent no User-Agent.

func snomSubscribe(p Phone, l Local, ids IDs) []byte {
	return snomStyleSubscribe(l, ids, strings.ToUpper(p.MAC),
		eventValue("vendor", "snom", "snom"+p.Model, p.Firmware),
		snomSIPUserAgent(p))
}

func snomSIPUserAgent(p Phone) string {
	if strings.HasPrefix(p.Firmware, "7.") {
		return ""
	}
	return "snom" + p.Model + "/" + p.Firmware
}

func snomStyleSubscribe(l Local, ids IDs, macUpper, event, ua string) []byte {
	user := "MAC%3a" + macUpper
	aor := fmt.Sprintf("<sip:%s@%s>", user, uriHost(l))
	via := fmt.Sprintf("SIP/2.0/UDP %s;rport", hostport(l))
	if ids.Branch != "" {
		via = fmt.Sprintf("SIP/2.0/UDP %s;branch=%s;rport", hostport(l), ids.Branch)
	}
	hs := []hdr{
		{name: "Via", value: via},
		{name: "From", value: aor + ";tag=" + ids.Tag},
		{name: "To", value: aor},
		{name: "Call-ID", value: ids.CallID},
		{name: "CSeq", value: "1 SUBSCRIBE"},
		{name: "Event", value: event},
		{name: "Expires", value: "0"},
		{name: "Accept", value: "application/url"},
		{name: "Contact", value: fmt.Sprintf("<sip:%s>", hostport(l))},
	}
	if ua != "" {
		hs = append(hs, hdr{name: "User-Agent", value: ua})
	}
	hs = append(hs, hdr{name: "Content-Length", value: "0"})
	return buildRequest("SUBSCRIBE", fmt.Sprintf("sip:%s@%s", user, uriHost(l)), hs)
}

func snomIDs(r Rand, l Local) IDs {
	return IDs{Tag: digits(r), CallID: digits(r) + "@" + l.IP}
}

// gigasetSubscribe: no genuine Gigaset capture exists (the Gigaset wiki's
// example is snom's trace); SARK says Gigaset sends the %3a form. phonesim
// sends the snom shape with a branch (RFC 3261 clients send one) and
// vendor="Gigaset" (inferred).
func gigasetSubscribe(p Phone, l Local, ids IDs) []byte {
	return snomStyleSubscribe(l, ids, strings.ToUpper(p.MAC),
		eventValue("vendor", "Gigaset", p.Model, p.Firmware),
		"Gigaset "+p.Model+" IP PRO/"+p.Firmware)
}

func gigasetIDs(r Rand, l Local) IDs {
	return IDs{Branch: "z9hG4bK" + digits(r), Tag: digits(r), CallID: digits(r) + "@" + l.IP}
}

// --- Fanvil -------------------------------------------------------------
//
// Only the PLANET OEM (Fanvil-based) is documented: From/To
// <sip:MAC=<hex12>@224.0.1.75> and "Event:ua-profile…" without a space
// (PLANET VIP-2140PT manual). The rest follows RFC 3261 (inferred).

func fanvilSubscribe(p Phone, l Local, ids IDs) []byte {
	user := "MAC=" + p.MAC
	aor := fmt.Sprintf("<sip:%s@%s>", user, uriHost(l))
	return buildRequest("SUBSCRIBE", fmt.Sprintf("sip:%s@%s", user, uriHost(l)), []hdr{
		{name: "Via", value: fmt.Sprintf("SIP/2.0/UDP %s;branch=%s;rport", hostport(l), ids.Branch)},
		{name: "From", value: aor + ";tag=" + ids.Tag},
		{name: "To", value: aor},
		{name: "Call-ID", value: ids.CallID},
		{name: "CSeq", value: "1 SUBSCRIBE"},
		{name: "Contact", value: fmt.Sprintf("<sip:%s>", hostport(l))},
		{name: "Max-Forwards", value: "70"},
		{name: "User-Agent", value: "Fanvil " + p.Model + " " + p.Firmware},
		{name: "Expires", value: "0"},
		{raw: true, value: "Event:" + eventValue("vendor", "Fanvil", p.Model, p.Firmware)},
		{name: "Accept", value: "application/url"},
		{name: "Content-Length", value: "0"},
	})
}

func rfcIDs(r Rand, l Local) IDs {
	return IDs{Branch: "z9hG4bK" + digits(r), Tag: digits(r), CallID: digits(r) + "@" + l.IP}
}

// --- Htek ---------------------------------------------------------------
//
// No Htek capture or text was found (pnp-protocol.md §2.8). Htek phones
// follow Yealink's conventions elsewhere, so phonesim sends the Yealink
// shape with vendor="Htek" (inferred).

func htekSubscribe(p Phone, l Local, ids IDs) []byte {
	user := "MAC" + p.MAC
	aor := fmt.Sprintf("<sip:%s@%s>", user, uriHost(l))
	return buildRequest("SUBSCRIBE", fmt.Sprintf("sip:%s@%s", user, uriHost(l)), []hdr{
		{name: "Via", value: fmt.Sprintf("SIP/2.0/UDP %s;branch=%s;rport", hostport(l), ids.Branch)},
		{name: "From", value: aor + ";tag=" + ids.Tag},
		{name: "To", value: aor},
		{name: "Call-ID", value: ids.CallID},
		{name: "CSeq", value: "1 SUBSCRIBE"},
		{name: "Contact", value: fmt.Sprintf("<sip:%s@%s>", user, hostport(l))},
		{name: "Max-Forwards", value: "70"},
		{name: "User-Agent", value: "Htek " + p.Model + " " + p.Firmware},
		{name: "Expires", value: "0"},
		{name: "Event", value: eventValue("vendor", "Htek", p.Model, p.Firmware)},
		{name: "Accept", value: "application/url"},
		{name: "Content-Length", value: "0"},
	})
}

// --- Panasonic (PnP only) -----------------------------------------------
//
// Panasonic misspells the parameter: vender="Panasonic" (SARK matches
// vend[eo]r, ignik/pmps matches vend.r=); waits at most 5 s for an answer.
// Request-URI form not found; the %3a form is used (inferred).

func panasonicSubscribe(p Phone, l Local, ids IDs) []byte {
	user := "MAC%3a" + p.MAC
	aor := fmt.Sprintf("<sip:%s@%s>", user, uriHost(l))
	return buildRequest("SUBSCRIBE", fmt.Sprintf("sip:%s@%s", user, uriHost(l)), []hdr{
		{name: "Via", value: fmt.Sprintf("SIP/2.0/UDP %s;branch=%s;rport", hostport(l), ids.Branch)},
		{name: "Max-Forwards", value: "70"},
		{name: "From", value: aor + ";tag=" + ids.Tag},
		{name: "To", value: aor},
		{name: "Call-ID", value: ids.CallID},
		{name: "CSeq", value: "1 SUBSCRIBE"},
		{name: "Contact", value: fmt.Sprintf("<sip:%s>", hostport(l))},
		{name: "Event", value: eventValue("vender", "Panasonic", p.Model, p.Firmware)},
		{name: "Expires", value: "0"},
		{name: "Accept", value: "application/url"},
		{name: "User-Agent", value: "Panasonic_" + p.Model + "/" + p.Firmware + " (" + p.MAC + ")"},
		{name: "Content-Length", value: "0"},
	})
}

// --- AudioCodes 4xxHD (PnP only) ----------------------------------------
//
// AudioCodes manuals (audiocodes-440HD captures): no MAC anywhere,
// Request-URI sip:224.0.1.75:5060, From user 00000001, To the group,
// profile-type="application" and no vendor parameter, Supported
// replaces,100rel, User-Agent AUDC-IPPhone/<fw>; resends for 5 s.

func audiocodesSubscribe(p Phone, l Local, ids IDs) []byte {
	group := uriHost(l) + ":5060"
	return buildRequest("SUBSCRIBE", "sip:"+group, []hdr{
		{name: "Via", value: fmt.Sprintf("SIP/2.0/UDP %s;rport;branch=%s", hostport(l), ids.Branch)},
		{name: "Max-Forwards", value: "70"},
		{name: "From", value: fmt.Sprintf("<sip:00000001@%s>;tag=%s", hostport(l), ids.Tag)},
		{name: "To", value: "<sip:" + group + ">"},
		{name: "Call-ID", value: ids.CallID},
		{name: "CSeq", value: "1 SUBSCRIBE"},
		{name: "Contact", value: fmt.Sprintf("<sip:00000001@%s>", hostport(l))},
		{name: "Supported", value: "replaces,100rel"},
		{name: "User-Agent", value: "AUDC-IPPhone/" + p.Firmware},
		{name: "Event", value: fmt.Sprintf(`ua-profile;profile-type="application";model="%s";version="%s"`, p.Model, p.Firmware)},
		{name: "Expires", value: "0"},
		{name: "Accept", value: "application/url"},
		{name: "Content-Length", value: "0"},
	})
}

func audiocodesIDs(r Rand, l Local) IDs {
	return IDs{
		Branch: fmt.Sprintf("z9hG4bK-%08x-%08x", r.Uint32(), r.Uint32()),
		Tag:    fmt.Sprintf("%08x-%08x-%08x", r.Uint32(), r.Uint32(), r.Uint32()),
		CallID: fmt.Sprintf("%08x-%08x@%s", r.Uint32(), r.Uint32(), l.IP),
	}
}

// fiveSeconds resends for 5 s (AudioCodes) at the RFC timer pace.
var fiveSeconds = []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond}

// fiveSends is Grandstream's "SUBSCRIBE for 5 times" at the RFC pace.
var fiveSends = rfcRetransmit[:5]
