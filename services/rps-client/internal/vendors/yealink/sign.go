package yealink

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// Signed headers of the RPS JSON API.
const (
	HeaderKey       = "X-Ca-Key"
	HeaderTimestamp = "X-Ca-Timestamp"
	HeaderNonce     = "X-Ca-Nonce"
	HeaderSignature = "X-Ca-Signature"
	HeaderMD5       = "Content-MD5"
)

// ContentMD5 is base64(MD5(body)).
func ContentMD5(body []byte) string {
	sum := md5.Sum(body)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// StringToSign builds the signed string (rps-apis.md §1.2):
//
//	METHOD \n
//	Content-MD5:… \n (only with a body)
//	X-Ca-Key:… \n X-Ca-Nonce:… \n X-Ca-Timestamp:… \n
//	path without its leading slash
//	[\n sorted query "k=v&…" (a key with no value written bare) — only without a body]
func StringToSign(method, path string, query url.Values, body []byte, key, timestamp, nonce string) string {
	headers := map[string]string{HeaderKey: key, HeaderNonce: nonce, HeaderTimestamp: timestamp}
	if len(body) > 0 {
		headers[HeaderMD5] = ContentMD5(body)
	}
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(strings.ToUpper(method) + "\n")
	for _, n := range names {
		b.WriteString(n + ":" + headers[n] + "\n")
	}
	b.WriteString(strings.TrimPrefix(path, "/"))
	if len(body) == 0 && len(query) > 0 {
		keys := make([]string, 0, len(query))
		for k := range query {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			for _, v := range query[k] {
				if v == "" {
					parts = append(parts, k)
				} else {
					parts = append(parts, k+"="+v)
				}
			}
		}
		b.WriteString("\n" + strings.Join(parts, "&"))
	}
	return b.String()
}

// Signature is base64(HMAC-SHA256(secret, stringToSign)).
func Signature(secret, stringToSign string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
