package vendorsim

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// isDirURL reports whether u names a directory (ends in "/" before any
// query), so the phone appends its own file names.
func isDirURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return strings.HasSuffix(u, "/")
	}
	return p.Path == "" || strings.HasSuffix(p.Path, "/")
}

// expand replaces each placeholder in u.
func expand(u string, pairs ...string) string {
	return strings.NewReplacer(pairs...).Replace(u)
}

// colonMAC formats a canonical MAC as aa:bb:cc:dd:ee:ff.
func colonMAC(mac string) string {
	if len(mac) != 12 {
		return mac
	}
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(mac[i : i+2])
	}
	return b.String()
}

// indices returns the sorted set of N in keys that match re, whose first
// submatch is N.
func indices(values map[string]string, re *regexp.Regexp) []int {
	seen := map[int]bool{}
	for k := range values {
		if m := re.FindStringSubmatch(k); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n > 0 && n < 10000 {
				seen[n] = true
			}
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

// splitHostPort splits "host[:port]" (IPv6 in brackets allowed) without
// failing on a missing port.
func splitHostPort(s string) (string, int) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", 0
	}
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "]"); i > 0 {
			host := s[1:i]
			if rest := s[i+1:]; strings.HasPrefix(rest, ":") {
				return host, atoi(rest[1:])
			}
			return host, 0
		}
	}
	if strings.Count(s, ":") == 1 {
		h, p, _ := strings.Cut(s, ":")
		return h, atoi(p)
	}
	return s, 0
}

// onOff reads the usual boolean spellings.
func onOff(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "on", "yes", "true", "enable", "enabled":
		return true
	}
	return false
}

// byPriority returns names ordered by their numeric priority (1 first),
// skipping priorities <= 0.
func byPriority(prio map[string]int) []string {
	type cp struct {
		name string
		p    int
	}
	var list []cp
	for n, p := range prio {
		if p > 0 {
			list = append(list, cp{n, p})
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].p != list[j].p {
			return list[i].p < list[j].p
		}
		return list[i].name < list[j].name
	})
	out := make([]string, 0, len(list))
	for _, c := range list {
		out = append(out, c.name)
	}
	return out
}

// fetchParse fetches name and, when it is 200, feeds it to read. A parse
// error is recorded on the file and returned.
func fetchParse(ctx context.Context, f Fetcher, cfg *Config, name string, read func(body []byte) error) (*File, error) {
	file, err := fetchRecord(ctx, f, cfg, name)
	if err != nil {
		return nil, err
	}
	if !file.OK() {
		return file, nil
	}
	if err := read(file.Body); err != nil {
		file.Error = err.Error()
		return file, fmt.Errorf("%s: %w", file.Name, err)
	}
	return file, nil
}

// flattenXML stores every leaf element of root as "a.b.c" (root excluded);
// an element with an index/idx attribute contributes "name.N".
func flattenXML(root *node, cfg *Config, firstWins bool) {
	var walk func(prefix string, n *node)
	walk = func(prefix string, n *node) {
		name := n.Name
		if idx, ok := n.Attr("index"); ok {
			name += "." + idx
		} else if idx, ok := n.Attr("idx"); ok {
			name += "." + idx
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if len(n.Children) == 0 {
			cfg.set(key, n.Text, firstWins)
			return
		}
		for _, c := range n.Children {
			walk(key, c)
		}
	}
	for _, c := range root.Children {
		walk("", c)
	}
}

// suffix returns the value of the first key (in sorted order) ending in
// "."+name or equal to name.
func suffix(values map[string]string, name string) (string, bool) {
	if v, ok := values[name]; ok {
		return v, true
	}
	keys := make([]string, 0)
	for k := range values {
		if strings.HasSuffix(k, "."+name) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", false
	}
	sort.Strings(keys)
	return values[keys[0]], true
}
