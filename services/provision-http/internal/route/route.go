// Package route matches the phone-facing request target against the one
// shape the edge serves, /p/{token}/{file}. It works on the raw request
// target as the client sent it and never turns it into a file-system path:
// anything that is not exactly that shape, in a small alphabet, is refused.
package route

import "net/http"

// Limits on the parts of a request target.
const (
	MaxTarget   = 512 // bytes of the whole request target
	MinTokenLen = 16
	MaxTokenLen = 128
	MaxFileLen  = 128
)

// Result is the outcome of Parse. Status is 0 when the target matched;
// otherwise it is the HTTP status to answer with and Token and File are empty.
type Result struct {
	Token  string
	File   string
	Status int
}

// Parse matches a raw request target (http.Request.RequestURI).
//
//   - longer than MaxTarget: 414
//   - a query, fragment, percent-escape, backslash or absolute-form URL: 400
//   - any other shape than /p/{token}/{file} or /p/{token}//{file}: 404
//   - token: MinTokenLen–MaxTokenLen characters of [A-Za-z0-9_-] (base64url),
//     else 404 (the same answer as an unknown token)
//   - file: 1–MaxFileLen characters of [A-Za-z0-9._-], not starting with '.'
//     (so never "." or ".."), else 404
func Parse(target string) Result {
	if len(target) > MaxTarget {
		return Result{Status: http.StatusRequestURITooLong}
	}
	for i := 0; i < len(target); i++ {
		switch target[i] {
		case '?', '#', '%', '\\':
			return Result{Status: http.StatusBadRequest}
		}
	}
	if len(target) == 0 || target[0] != '/' {
		// "*" (OPTIONS) and absolute-form "http://host/..." targets.
		return Result{Status: http.StatusBadRequest}
	}
	const prefix = "/p/"
	if len(target) < len(prefix) || target[:len(prefix)] != prefix {
		return Result{Status: http.StatusNotFound}
	}
	rest := target[len(prefix):]
	slash := -1
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			slash = i
			break
		}
	}
	if slash < 0 {
		return Result{Status: http.StatusNotFound}
	}
	token, file := rest[:slash], rest[slash+1:]
	// Some firmware appends "/" to a server URL that already ends in one and
	// asks for /p/{token}//{file}; one extra slash is the same file. More
	// than one is not a shape any firmware produces.
	if len(file) > 0 && file[0] == '/' {
		file = file[1:]
	}
	if !validToken(token) || !validFile(file) {
		return Result{Status: http.StatusNotFound}
	}
	return Result{Token: token, File: file}
}

func validToken(s string) bool {
	if len(s) < MinTokenLen || len(s) > MaxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validFile(s string) bool {
	if len(s) == 0 || len(s) > MaxFileLen || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// LogPath returns the request target as it may appear in a log: the token
// replaced, and a target that did not match not at all, because a mistyped
// URL can carry a token in another place.
func (r Result) LogPath() string {
	if r.Status == 0 {
		return "/p/<redacted>/" + r.File
	}
	return "<unmatched>"
}
