package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"
)

// edgeFront is the provisioning edge's front: an HTTP reverse proxy, as an
// Ingress is, because provision-http throttles failing sources by client
// address — behind a plain TCP forwarder every phone would share the
// front's address and one phone's failures would block them all. It sets
// X-Forwarded-For (provision-http trusts it from Layout.Host through
// --trusted-proxies) and, for GET and HEAD, tries the next live replica
// when one refuses the connection or dies mid-request.
type edgeFront struct {
	srv      *http.Server
	members  []*Member
	next     atomic.Uint64
	accepted atomic.Uint64
	tr       *http.Transport
}

func startEdgeFront(addr string, members []*Member, log *slog.Logger) (*edgeFront, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("front %s: %w", addr, err)
	}
	f := &edgeFront{members: members, tr: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "edge"
		},
		Transport: f,
		ErrorLog:  slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	f.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.accepted.Add(1)
		rp.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go f.srv.Serve(lis)
	return f, nil
}

// RoundTrip sends req to a live replica, trying the others when the
// request may be repeated.
func (f *edgeFront) RoundTrip(req *http.Request) (*http.Response, error) {
	start := int(f.next.Add(1))
	retry := req.Method == http.MethodGet || req.Method == http.MethodHead
	var last error = errors.New("no replica running")
	for i := range len(f.members) {
		m := f.members[(start+i)%len(f.members)]
		if m.Pid() == 0 {
			continue
		}
		out := req.Clone(req.Context())
		out.URL.Host = m.Addr
		resp, err := f.tr.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		last = err
		if !retry || req.Context().Err() != nil {
			break
		}
	}
	return nil, last
}

func (f *edgeFront) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	f.srv.Shutdown(ctx)
	f.srv.Close()
	f.tr.CloseIdleConnections()
}
