package phonesim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/vendorsim"
)

// maxBody bounds a downloaded file.
const maxBody = 4 << 20

// httpFetcher downloads a phone's files with its User-Agent, resolving
// names against the provisioning base URL.
type httpFetcher struct {
	client *http.Client
	base   *url.URL
	ua     string
}

func newFetcher(client *http.Client, base, ua string) (*httpFetcher, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("provisioning URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("provisioning URL: scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("provisioning URL has no host")
	}
	return &httpFetcher{client: client, base: u, ua: ua}, nil
}

// Fetch implements vendorsim.Fetcher.
func (h *httpFetcher) Fetch(ctx context.Context, ref string) (*vendorsim.File, error) {
	u, err := h.base.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("file reference %q: %w", ref, err)
	}
	f := &vendorsim.File{Name: path.Base(u.Path), URL: u.String()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", f.Name, err)
	}
	if h.ua != "" {
		req.Header.Set("User-Agent", h.ua)
	} else {
		req.Header["User-Agent"] = nil // AudioCodes-style "no UA" is not a Go UA either
	}
	start := time.Now()
	resp, err := h.client.Do(req)
	if err != nil {
		f.Elapsed = time.Since(start)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		f.Error = err.Error()
		return f, nil // the phone logs it and moves on to its next file
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	f.Elapsed = time.Since(start)
	f.Status = resp.StatusCode
	f.ContentType = resp.Header.Get("Content-Type")
	f.Bytes = len(body)
	if err != nil {
		f.Error = fmt.Sprintf("reading body: %v", err)
		f.Status = 0
		return f, nil
	}
	if len(body) > maxBody {
		f.Error = "file larger than 4 MiB"
		f.Status = 0
		return f, nil
	}
	if f.Status == http.StatusOK {
		f.Body = body
	}
	return f, nil
}
