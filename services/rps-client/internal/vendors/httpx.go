package vendors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
)

// MaxResponse bounds how much of a vendor response is read.
const MaxResponse = 1 << 20

// Transport sends one HTTP exchange for a client and classifies failures
// that are the same for every vendor: network errors and timeouts, 5xx, 408
// and 429 are transient (with Retry-After honoured); 401 is bad
// credentials. Everything else is returned to the vendor code to interpret.
type Transport struct {
	API     string
	Options Options
	// Secrets are scrubbed from every error text this transport builds.
	Secrets []string
}

// Response is a fully read HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends req (whose body, if any, is body) and reads the response. op
// names the operation for errors and metrics.
func (t *Transport) Do(ctx context.Context, op string, req *http.Request, body []byte) (*Response, error) {
	o := t.Options
	req = req.WithContext(ctx)
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "dialtone-rps-client/1")
	}
	start := o.Now()
	resp, err := o.HTTPClient.Do(req)
	if err != nil {
		if o.Observe != nil {
			o.Observe(t.API, op, 0, time.Since(start))
		}
		return nil, t.Fail(op, ReasonTransient, "", transportCause(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if o.Observe != nil {
		o.Observe(t.API, op, resp.StatusCode, time.Since(start))
	}
	if err != nil {
		return nil, t.Fail(op, ReasonTransient, "reading response", transportCause(err))
	}
	if len(raw) > MaxResponse {
		return nil, t.Fail(op, ReasonTransient, "response too large", nil)
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout,
		resp.StatusCode >= 500:
		e := t.Fail(op, ReasonTransient, fmt.Sprintf("HTTP %d", resp.StatusCode), nil)
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), o.Now())
		return r, e
	}
	return r, nil
}

// Fail builds a typed error for this transport's API with msg scrubbed.
func (t *Transport) Fail(op string, reason rpsv1.FailureReason, msg string, cause error) *Error {
	return &Error{API: t.API, Op: op, Reason: reason, Msg: Scrub(msg, t.Secrets...), Err: cause}
}

// transportCause reduces a client error to its cause without the request
// URL (net/http's *url.Error quotes it, and some APIs carry ids in it).
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrTimeout
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout
	}
	return err
}

// ErrTimeout is the cause of a transient error when the vendor did not
// answer in time.
var ErrTimeout = errors.New("timeout")

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// Unparseable or past values give 0. The delay is capped at one hour.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > 3600 {
			n = 3600
		}
		d = time.Duration(n) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
		if d <= 0 {
			return 0
		}
	}
	if d > time.Hour {
		d = time.Hour
	}
	return d
}

// JoinURL resolves ref against base, keeping base's path as a prefix:
// JoinURL("https://h/api/v1/", "tokens/x") is https://h/api/v1/tokens/x.
func JoinURL(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("base URL: %w", err)
	}
	if !strings.HasSuffix(b.Path, "/") {
		b.Path += "/"
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("path: %w", err)
	}
	return b.ResolveReference(r).String(), nil
}

// With returns a copy of t that also scrubs secrets (the URL being
// registered, whose path holds the phone's token) from its errors.
func (t *Transport) With(secrets ...string) *Transport {
	c := *t
	c.Secrets = append(append([]string(nil), t.Secrets...), secrets...)
	for _, s := range secrets {
		if tok := lastSegment(s); tok != "" {
			c.Secrets = append(c.Secrets, tok)
		}
	}
	return &c
}

// lastSegment is the token of a provisioning URL ({edge}/p/{token}/).
func lastSegment(u string) string {
	s := strings.TrimRight(u, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 && i < len(s)-1 {
		return s[i+1:]
	}
	return ""
}
