// Package tftpfront is pnp-listener's read-only TFTP front for phones that
// fetch their files by bare name from the TFTP server DHCP hands them
// (option 150/66: Cisco 79xx). Such phones cannot use the edge's per-phone
// token URLs, and a file name naming a MAC proves nothing, so the front
// identifies the phone by the link-layer address of the request's source
// (the kernel's neighbour table, as for PnP SUBSCRIBEs), refuses a name that
// names another MAC, and relays the file from the edge exactly as the phone
// would fetch it: GET <its provisioning URL>/<name>.
package tftpfront

import (
	"errors"
	"strings"
)

// MaxNameLen bounds a requested file name; Cisco's longest
// (CTLSEP<MAC>.tlv, SEP<MAC>.cnf.xml) are far shorter.
const MaxNameLen = 64

// ErrBadName is a file name the front never relays.
var ErrBadName = errors.New("tftpfront: bad file name")

// Name is a parsed request file name.
type Name struct {
	// File is the name to ask the edge for: the request's name without a
	// leading '/'.
	File string
	// MACs are the MACs the name names (12 lowercase hex digits each), in
	// order; empty for a common file such as SIPDefault.cnf.
	MACs []string
}

// ParseName checks a TFTP read request's file name. Accepted: an optional
// leading '/', then 1..MaxNameLen of [A-Za-z0-9._-], not starting with '.'
// and without "..": the flat names phones ask for at the server's root, so
// nothing can reach another path at the edge.
//
// A MAC is any run of 12 or more hex digits ('-' inside a run ignored, so
// 00-11-22-33-44-55 counts too); the run's last 12 digits are the MAC, as in
// SIP<MAC>.cnf, SEP<MAC>.cnf.xml and ld<MAC> (a run of 13: the prefix's "d").
// A run of more than 13 digits could hide a second MAC: refused.
func ParseName(raw string) (Name, error) {
	s := strings.TrimPrefix(raw, "/")
	if s == "" || len(s) > MaxNameLen || s[0] == '.' || strings.Contains(s, "..") {
		return Name{}, ErrBadName
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isHex(c) || c >= 'g' && c <= 'z' || c >= 'G' && c <= 'Z' || c == '.' || c == '_' || c == '-') {
			return Name{}, ErrBadName
		}
	}
	n := Name{File: s}
	var run []byte
	bad := false
	flush := func() {
		if len(run) > 13 {
			bad = true
		}
		if len(run) >= 12 {
			n.MACs = append(n.MACs, strings.ToLower(string(run[len(run)-12:])))
		}
		run = run[:0]
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isHex(c):
			run = append(run, c)
		case c == '-' && len(run) > 0:
			// 00-11-22-…: separators inside a run do not end it.
		default:
			flush()
		}
	}
	flush()
	if bad {
		return Name{}, ErrBadName
	}
	return n, nil
}

// NamesOnly reports whether every MAC the name names is mac.
func (n Name) NamesOnly(mac string) bool {
	for _, m := range n.MACs {
		if m != mac {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
