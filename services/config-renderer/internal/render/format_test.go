package render

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// parseFile checks a rendered file against its vendor's documented layout and
// returns its settings as a flat key -> value map. A duplicate key is an error.
func parseFile(vendor, file string, content []byte) (map[string]string, error) {
	if vendor == "yealink" {
		return parseCfg(content)
	}
	if vendor == "snom" && strings.HasSuffix(file, ".cfg") {
		return parseM3(content)
	}
	if vendor == "cisco" && strings.HasSuffix(file, ".cnf") {
		return parseSIP79(content)
	}
	root, err := parseXML(content)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	put := func(k, v string) error {
		if _, dup := out[k]; dup {
			return fmt.Errorf("duplicate key %q", k)
		}
		out[k] = v
		return nil
	}
	leaves := func(parent *node, key func(*node) string) error {
		for _, c := range parent.kids {
			if len(c.kids) > 0 {
				return fmt.Errorf("<%s> inside <%s> must be a leaf", c.name, parent.name)
			}
			if err := put(key(c), c.text); err != nil {
				return err
			}
		}
		return nil
	}
	pRE := regexp.MustCompile(`^P\d+$`)
	switch vendor {
	case "fanvil":
		// <sysConf> on current models, <VOIP_CONFIG_FILE> on legacy ones; the
		// latter's list entries are told apart by their <ID> child.
		if root.name != "sysConf" && root.name != "VOIP_CONFIG_FILE" {
			return nil, fmt.Errorf("root <%s>, want <sysConf> or <VOIP_CONFIG_FILE>", root.name)
		}
		var walk func(n *node, prefix string) error
		walk = func(n *node, prefix string) error {
			for _, c := range n.kids {
				k := prefix + c.name
				if i := c.attr["index"]; i != "" {
					k += "[" + i + "]"
				}
				for _, g := range c.kids {
					if g.name == "ID" && len(g.kids) == 0 {
						k += "[" + g.text + "]"
					}
				}
				if len(c.kids) == 0 {
					if err := put(k, c.text); err != nil {
						return err
					}
				} else if err := walk(c, k+"/"); err != nil {
					return err
				}
			}
			return nil
		}
		return out, walk(root, "")
	case "grandstream":
		if root.name != "gs_provision" || root.attr["version"] != "1" {
			return nil, fmt.Errorf("root <%s version=%q>, want <gs_provision version=\"1\">", root.name, root.attr["version"])
		}
		var cfg *node
		for _, c := range root.kids {
			switch c.name {
			case "mac":
				if err := put("mac", c.text); err != nil {
					return nil, err
				}
			case "config":
				cfg = c
			default:
				return nil, fmt.Errorf("unexpected <%s> in <gs_provision>", c.name)
			}
		}
		if cfg == nil {
			return nil, fmt.Errorf("no <config>")
		}
		for _, c := range cfg.kids {
			if !pRE.MatchString(c.name) {
				return nil, fmt.Errorf("<%s> is not a P-value", c.name)
			}
		}
		return out, leaves(cfg, func(n *node) string { return n.name })
	case "htek":
		if root.name != "hl_provision" || len(root.kids) != 1 || root.kids[0].name != "config" {
			return nil, fmt.Errorf("want <hl_provision><config>")
		}
		for _, c := range root.kids[0].kids {
			if !pRE.MatchString(c.name) || c.attr["para"] == "" {
				return nil, fmt.Errorf("<%s> is not a P-value with para", c.name)
			}
		}
		return out, leaves(root.kids[0], func(n *node) string { return n.name })
	case "snom":
		switch root.name {
		case "setting-files":
			for _, c := range root.kids {
				if c.name != "file" || c.attr["url"] == "" {
					return nil, fmt.Errorf("<setting-files> holds <file url=…> only")
				}
				if err := put("file:"+c.attr["url"], ""); err != nil {
					return nil, err
				}
			}
			return out, nil
		case "settings":
			if len(root.kids) > 0 && root.kids[0].name != "phone-settings" {
				// M100/M500 KLE: module elements holding leaves and <idx id="N">
				// lists; key = path, an idx as "idx[N]" (sip_account/idx[1]/user_id).
				var walk func(n *node, prefix string) error
				walk = func(n *node, prefix string) error {
					for _, c := range n.kids {
						k := prefix + c.name
						if c.name == "idx" {
							if c.attr["id"] == "" {
								return fmt.Errorf("<idx> without id under %s", prefix)
							}
							k += "[" + c.attr["id"] + "]"
						} else if c.name == "phone-settings" {
							return fmt.Errorf("<phone-settings> in a module file")
						}
						if len(c.kids) == 0 {
							if err := put(k, c.text); err != nil {
								return err
							}
						} else if err := walk(c, k+"/"); err != nil {
							return err
						}
					}
					return nil
				}
				return out, walk(root, "")
			}
			if len(root.kids) != 1 || root.kids[0].name != "phone-settings" {
				return nil, fmt.Errorf("want <settings><phone-settings>")
			}
			return out, leaves(root.kids[0], func(n *node) string {
				if i := n.attr["idx"]; i != "" {
					return n.name + "[" + i + "]"
				}
				return n.name
			})
		}
		return nil, fmt.Errorf("root <%s>", root.name)
	case "gigaset":
		if root.name == "ProviderFrame" {
			// N510/N720: <ProviderFrame><Provider> holding <MAC_ADDRESS value=…/>,
			// <PROFILE_NAME class="string" value=…/>, <S_…> strings and
			// <SYMB_ITEM ID=… class="symb_item" value=…/>; a string value is
			// written inside '"…"'.
			if len(root.kids) != 1 || root.kids[0].name != "Provider" {
				return nil, fmt.Errorf("want <ProviderFrame><Provider>")
			}
			for _, c := range root.kids[0].kids {
				if len(c.kids) > 0 {
					return nil, fmt.Errorf("<%s> must be empty", c.name)
				}
				k, v := c.name, c.attr["value"]
				switch {
				case c.name == "SYMB_ITEM":
					if c.attr["ID"] == "" || c.attr["class"] != "symb_item" {
						return nil, fmt.Errorf("<SYMB_ITEM> without ID or class=\"symb_item\"")
					}
					k = c.attr["ID"]
				case c.name == "MAC_ADDRESS" || c.name == "PROFILE_NAME" || strings.HasPrefix(c.name, "S_"):
				default:
					return nil, fmt.Errorf("unexpected <%s> in <Provider>", c.name)
				}
				if strings.HasPrefix(v, `"`) {
					if len(v) < 2 || !strings.HasSuffix(v, `"`) || strings.Contains(v[1:len(v)-1], `"`) {
						return nil, fmt.Errorf("%s: string value %q is not one '\"…\"'", k, v)
					}
					v = v[1 : len(v)-1]
				} else if c.name != "MAC_ADDRESS" && c.name != "PROFILE_NAME" && !hexListRE.MatchString(v) {
					return nil, fmt.Errorf("%s: value %q is neither a quoted string nor numbers", k, v)
				}
				if err := put(k, v); err != nil {
					return nil, err
				}
			}
			return out, nil
		}
		if root.name != "provisioning" || root.attr["productID"] == "" || len(root.kids) != 1 || root.kids[0].name != "nvm" {
			return nil, fmt.Errorf("want <provisioning productID=…><nvm>")
		}
		for _, c := range root.kids[0].kids {
			switch c.name {
			case "param":
				if err := put(c.attr["name"], c.attr["value"]); err != nil {
					return nil, err
				}
			case "oper":
				k := "oper:" + c.attr["name"] + ":" + c.attr["value"]
				if err := put(k, ""); err != nil {
					return nil, err
				}
				for _, g := range c.kids {
					if g.name != "param" {
						return nil, fmt.Errorf("unexpected <%s> in <oper>", g.name)
					}
					if err := put(k+"/"+g.attr["name"], g.attr["value"]); err != nil {
						return nil, err
					}
				}
			default:
				return nil, fmt.Errorf("unexpected <%s> in <nvm>", c.name)
			}
		}
		return out, nil
	case "poly":
		if (root.name != "polycomConfig" && root.name != "APPLICATION") || len(root.kids) != 0 {
			return nil, fmt.Errorf("root <%s>, want one <polycomConfig/> or <APPLICATION/>", root.name)
		}
		for _, a := range root.attrs {
			if err := put(a[0], a[1]); err != nil {
				return nil, err
			}
		}
		return out, nil
	case "cisco":
		if root.name == "device" { // SEP<MAC>.cnf.xml
			return out, parseSEP(root, put)
		}
		if root.name != "flat-profile" {
			return nil, fmt.Errorf("root <%s>, want <flat-profile>", root.name)
		}
		return out, leaves(root, func(n *node) string { return n.name })
	}
	return nil, fmt.Errorf("no checker for %s", vendor)
}

// hexListRE: a <ProviderFrame> number or list of numbers ("0x13c4", "1", "0x05,0x01,0xff").
var hexListRE = regexp.MustCompile(`^(0x[0-9a-f]+|[0-9]+)(,(0x[0-9a-f]+|[0-9]+))*$`)

var cfgKeyRE = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)

func parseCfg(b []byte) (map[string]string, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	if !sc.Scan() || sc.Text() != "#!version:1.0.0.1" {
		return nil, fmt.Errorf("first line must be #!version:1.0.0.1")
	}
	out := map[string]string{}
	for n := 2; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, " = ")
		if !ok || !cfgKeyRE.MatchString(k) {
			return nil, fmt.Errorf("line %d: %q is not \"key = value\"", n, line)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", n, k)
		}
		out[k] = v
	}
	return out, nil
}

// m3LineRE: one Snom m3 setting, %KEY%:value, the value a '"…"' string or
// numbers (0,1,3,4,0xFF), optionally followed by a // comment.
var m3LineRE = regexp.MustCompile(`^%([A-Z0-9_]+)%:("[^"]*"|(?:0x[0-9A-Fa-f]+|[0-9]+)(?:,(?:0x[0-9A-Fa-f]+|[0-9]+))*)\s*(?://.*)?$`)

// parseM3 checks the Snom m3 layout (FP:resources/templates/provision/snom/m3/{$mac}.cfg):
// %KEY%:value lines, // comments, END_OF_FILE as the last line.
func parseM3(b []byte) (map[string]string, error) {
	out := map[string]string{}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if lines[len(lines)-1] != "END_OF_FILE" {
		return nil, fmt.Errorf("last line must be END_OF_FILE")
	}
	for n, line := range lines[:len(lines)-1] {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "//") {
			continue
		}
		m := m3LineRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: %q is not %%KEY%%:value", n+1, line)
		}
		if _, dup := out[m[1]]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", n+1, m[1])
		}
		out[m[1]] = strings.Trim(m[2], `"`)
	}
	return out, nil
}

// sepElements: where each element of the Cisco SEP<MAC>.cnf.xml <device> may
// sit (FP:resources/templates/provision/cisco/79x1/SEP{$mac}.cnf.xml,
// WZ:plugins/wazo_cisco_sip/common/templates/base.tpl); "" marks a container.
var sepElements = map[string]string{
	"device": "", "device/fullConfig": "leaf", "device/deviceProtocol": "leaf",
	"device/devicePool": "", "device/devicePool/dateTimeSetting": "", "device/devicePool/dateTimeSetting/timeZone": "leaf",
	"device/devicePool/dateTimeSetting/ntps": "", "device/devicePool/dateTimeSetting/ntps/ntp": "",
	"device/devicePool/dateTimeSetting/ntps/ntp/name": "leaf", "device/devicePool/dateTimeSetting/ntps/ntp/ntpMode": "leaf",
	"device/devicePool/callManagerGroup": "", "device/devicePool/callManagerGroup/members": "",
	"device/devicePool/callManagerGroup/members/member": "", "device/devicePool/callManagerGroup/members/member/callManager": "",
	"device/devicePool/callManagerGroup/members/member/callManager/ports":           "",
	"device/devicePool/callManagerGroup/members/member/callManager/ports/sipPort":   "leaf",
	"device/devicePool/callManagerGroup/members/member/callManager/processNodeName": "leaf",
	"device/sipProfile": "", "device/sipProfile/sipProxies": "", "device/sipProfile/sipProxies/outboundProxy": "leaf",
	"device/sipProfile/sipProxies/outboundProxyPort": "leaf", "device/sipProfile/sipProxies/registerWithProxy": "leaf",
	"device/sipProfile/sipStack": "", "device/sipProfile/sipStack/timerRegisterExpires": "leaf",
	"device/sipProfile/preferredCodec": "leaf", "device/sipProfile/phoneLabel": "leaf",
	"device/sipProfile/sipLines": "", "device/sipProfile/sipLines/line": "",
	"device/commonProfile": "", "device/commonProfile/phonePassword": "leaf",
	"device/userLocale": "", "device/userLocale/name": "leaf", "device/userLocale/langCode": "leaf",
	"device/networkLocale": "leaf", "device/transportLayerProtocol": "leaf",
}

// sepLineElements are the children of a <line button=…>.
var sepLineElements = map[string]bool{"featureID": true, "featureLabel": true, "proxy": true, "port": true, "name": true,
	"displayName": true, "contact": true, "authName": true, "authPassword": true, "sharedLine": true}

// parseSEP checks the <device> layout and flattens it: a leaf's key is its
// path below <device> ("sipProfile/phoneLabel"), a line's children are
// "line[<button>]/<name>" and its attributes "line[<button>]@<attr>".
func parseSEP(root *node, put func(k, v string) error) error {
	var walk func(n *node, path string) error
	walk = func(n *node, path string) error {
		if n.name == "line" && path == "device/sipProfile/sipLines/line" {
			b := n.attr["button"]
			if b == "" || n.attr["lineIndex"] != b || len(n.attrs) != 2 {
				return fmt.Errorf("<line> needs button and an equal lineIndex, got %v", n.attrs)
			}
			if err := put("line["+b+"]@button", b); err != nil {
				return err
			}
			for _, c := range n.kids {
				if !sepLineElements[c.name] || len(c.kids) > 0 || len(c.attrs) > 0 {
					return fmt.Errorf("<%s> is not a leaf of <line>", c.name)
				}
				if err := put("line["+b+"]/"+c.name, c.text); err != nil {
					return err
				}
			}
			return nil
		}
		kind, ok := sepElements[path]
		if !ok {
			return fmt.Errorf("<%s> is not a <device> element there (%s)", n.name, path)
		}
		if n.name == "member" {
			if n.attr["priority"] != "0" {
				return fmt.Errorf("<member priority=%q>", n.attr["priority"])
			}
		} else if len(n.attrs) > 0 {
			return fmt.Errorf("<%s> has attributes", n.name)
		}
		if kind == "leaf" {
			if len(n.kids) > 0 {
				return fmt.Errorf("<%s> must be a leaf", n.name)
			}
			return put(strings.TrimPrefix(path, "device/"), n.text)
		}
		if strings.TrimSpace(n.text) != "" {
			return fmt.Errorf("text in <%s>", n.name)
		}
		for _, c := range n.kids {
			if err := walk(c, path+"/"+c.name); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root, "device")
}

// sip79LineRE: one Cisco 7940/7960 setting, key: "value" (FP 7960/SIPDefault.cnf).
var sip79LineRE = regexp.MustCompile(`^([a-z0-9_]+):\s*"([^"]*)"$`)

// parseSIP79 checks the Cisco 7940/7960 layout (FP:resources/templates/provision/
// cisco/7960/SIPDefault.cnf, SIP{$mac}.cnf): key: "value" lines and # comments.
func parseSIP79(b []byte) (map[string]string, error) {
	out := map[string]string{}
	for n, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sip79LineRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: %q is not key: \"value\"", n+1, line)
		}
		if _, dup := out[m[1]]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", n+1, m[1])
		}
		out[m[1]] = m[2]
	}
	return out, nil
}

type node struct {
	name  string
	attr  map[string]string
	attrs [][2]string
	kids  []*node
	text  string
}

// parseXML parses a well-formed XML document (strict, UTF-8, one root) into a tree.
func parseXML(b []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		if !strings.EqualFold(label, "ISO-8859-1") {
			return nil, fmt.Errorf("encoding %q", label)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		rs := make([]rune, len(b))
		for i, c := range b {
			rs[i] = rune(c) // ISO-8859-1 byte = code point
		}
		return strings.NewReader(string(rs)), nil
	}
	var stack []*node
	var root *node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name.Local, attr: map[string]string{}}
			for _, a := range t.Attr {
				if _, dup := n.attr[a.Name.Local]; dup {
					return nil, fmt.Errorf("<%s>: duplicate attribute %s", n.name, a.Name.Local)
				}
				n.attr[a.Name.Local] = a.Value
				n.attrs = append(n.attrs, [2]string{a.Name.Local, a.Value})
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, fmt.Errorf("more than one root element")
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			} else if strings.TrimSpace(string(t)) != "" {
				return nil, fmt.Errorf("text outside the root element")
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no root element")
	}
	var trim func(n *node)
	trim = func(n *node) {
		if len(n.kids) > 0 {
			n.text = strings.TrimSpace(n.text)
		}
		for _, k := range n.kids {
			trim(k)
		}
	}
	trim(root)
	return root, nil
}
