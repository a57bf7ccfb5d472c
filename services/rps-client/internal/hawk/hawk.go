// Package hawk signs HTTP requests with Hawk 1 (HMAC-SHA256), the scheme
// Snom SRAPS and Gigaset GRAPE use, following mozilla/hawk lib/crypto.js:
// a normalized string over timestamp, nonce, method, request URI, host,
// port, payload hash and ext, MACed with the key.
package hawk

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Artifacts are the inputs of one request MAC.
type Artifacts struct {
	TS       int64
	Nonce    string
	Method   string
	Resource string // path and query, as sent
	Host     string // lowercased
	Port     string
	Hash     string // payload hash, or ""
	Ext      string
}

// ArtifactsFor fills Method, Resource, Host and Port from a request URL.
func ArtifactsFor(method string, u *url.URL, ts int64, nonce string) Artifacts {
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	return Artifacts{
		TS: ts, Nonce: nonce, Method: strings.ToUpper(method),
		Resource: u.RequestURI(), Host: strings.ToLower(u.Hostname()), Port: port,
	}
}

// Normalized is the "hawk.1.header" string the MAC covers.
func (a Artifacts) Normalized() string {
	var b strings.Builder
	b.WriteString("hawk.1.header\n")
	b.WriteString(strconv.FormatInt(a.TS, 10) + "\n")
	b.WriteString(a.Nonce + "\n")
	b.WriteString(a.Method + "\n")
	b.WriteString(a.Resource + "\n")
	b.WriteString(a.Host + "\n")
	b.WriteString(a.Port + "\n")
	b.WriteString(a.Hash + "\n")
	if a.Ext != "" {
		b.WriteString(strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(a.Ext))
	}
	b.WriteString("\n")
	return b.String()
}

// MAC returns base64(HMAC-SHA256(key, normalized string)).
func (a Artifacts) MAC(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(a.Normalized()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// PayloadHash returns base64(SHA-256("hawk.1.payload\n" + content type
// without parameters, lowercased + "\n" + body + "\n")).
func PayloadHash(contentType string, body []byte) string {
	ct, _, _ := strings.Cut(contentType, ";")
	h := sha256.New()
	h.Write([]byte("hawk.1.payload\n" + strings.ToLower(strings.TrimSpace(ct)) + "\n"))
	h.Write(body)
	h.Write([]byte("\n"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Header returns the Authorization header value for id and the artifacts'
// MAC under key.
func Header(id string, key []byte, a Artifacts) string {
	var b strings.Builder
	fmt.Fprintf(&b, `Hawk id="%s", ts="%d", nonce="%s"`, id, a.TS, a.Nonce)
	if a.Hash != "" {
		fmt.Fprintf(&b, `, hash="%s"`, a.Hash)
	}
	if a.Ext != "" {
		fmt.Fprintf(&b, `, ext="%s"`, strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a.Ext))
	}
	fmt.Fprintf(&b, `, mac="%s"`, a.MAC(key))
	return b.String()
}

// Nonce returns a fresh random nonce.
func Nonce() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TimestampMAC is the tsm a server sends with a stale-timestamp error:
// base64(HMAC-SHA256(key, "hawk.1.ts\n" + ts + "\n")).
func TimestampMAC(key []byte, ts int64) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("hawk.1.ts\n" + strconv.FormatInt(ts, 10) + "\n"))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ErrNoStale means a WWW-Authenticate header carried no usable server time.
var ErrNoStale = errors.New("hawk: no verifiable server timestamp")

// ServerTime reads a "Stale timestamp" challenge (WWW-Authenticate: Hawk
// ts="…", tsm="…", error="…") and returns the server's time once its tsm
// verifies under key, so a client with a skewed clock can adjust.
func ServerTime(challenge string, key []byte) (int64, error) {
	attrs, ok := ParseHeader(challenge)
	if !ok {
		return 0, ErrNoStale
	}
	ts, err := strconv.ParseInt(attrs["ts"], 10, 64)
	if err != nil || attrs["tsm"] == "" {
		return 0, ErrNoStale
	}
	if !hmac.Equal([]byte(TimestampMAC(key, ts)), []byte(attrs["tsm"])) {
		return 0, ErrNoStale
	}
	return ts, nil
}

// ParseHeader splits `Hawk k="v", k2="v2"` into its attributes.
func ParseHeader(h string) (map[string]string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "hawk") {
		return nil, false
	}
	out := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimLeft(strings.TrimSpace(rest), ", ") {
		k, v, ok := strings.Cut(rest, "=")
		if !ok || len(v) < 2 || v[0] != '"' {
			return nil, false
		}
		var val strings.Builder
		i := 1
		for ; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
				val.WriteByte(v[i])
				continue
			}
			if v[i] == '"' {
				break
			}
			val.WriteByte(v[i])
		}
		if i >= len(v) {
			return nil, false
		}
		out[strings.TrimSpace(k)] = val.String()
		rest = v[i+1:]
	}
	return out, true
}
