// Package invstub is a minimal InventoryService gRPC server over real
// loopback TCP that answers GetProvisioningUrl from a table, for
// pnp-listener's tests and benchmark while they do not run the real
// inventory service. It checks the bearer token like inventory would.
package invstub

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
)

// Entry is what GetProvisioningUrl returns for one MAC.
type Entry struct {
	URL       string
	Bootstrap bool
	Vendor    string
}

// Server answers GetProvisioningUrl.
type Server struct {
	inventoryv1.UnimplementedInventoryServiceServer

	mu       sync.Mutex
	entries  map[string]Entry
	fallback *Entry
	calls    int
	token    string
	delay    time.Duration
	failNext int // calls still to answer Unavailable

	grpc *grpc.Server
	lis  net.Listener
}

// Start serves on 127.0.0.1:0. token is the bearer token callers must
// send ("" accepts any caller).
func Start(token string) (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("invstub: %w", err)
	}
	s := &Server{entries: map[string]Entry{}, token: token, lis: lis, grpc: grpc.NewServer()}
	inventoryv1.RegisterInventoryServiceServer(s.grpc, s)
	go s.grpc.Serve(lis)
	return s, nil
}

// Addr is the server's address.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Stop stops the server.
func (s *Server) Stop() { s.grpc.Stop() }

// Set sets the answer for mac.
func (s *Server) Set(mac string, e Entry) {
	m, err := macaddr.Parse(mac)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.entries[m] = e
	s.mu.Unlock()
}

// SetFallback sets the answer for every MAC without an entry (nil: NotFound).
func (s *Server) SetFallback(e *Entry) {
	s.mu.Lock()
	s.fallback = e
	s.mu.Unlock()
}

// SetDelay makes every lookup take d (to test the listener's deadline).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Calls returns how many lookups were made.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Client dials the server.
func (s *Server) Client() (inventoryv1.InventoryServiceClient, func(), error) {
	cc, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return inventoryv1.NewInventoryServiceClient(cc), func() { cc.Close() }, nil
}

// FailNext makes the next n look-ups answer Unavailable, as inventory does
// while its Redis fails over.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// GetProvisioningUrl implements the one RPC pnp-listener calls.
func (s *Server) GetProvisioningUrl(ctx context.Context, req *inventoryv1.GetProvisioningUrlRequest) (*inventoryv1.GetProvisioningUrlResponse, error) {
	if s.token != "" {
		md, _ := metadata.FromIncomingContext(ctx)
		if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+s.token {
			return nil, status.Error(codes.Unauthenticated, "missing or wrong bearer token")
		}
	}
	mac, err := macaddr.Parse(strings.TrimPrefix(req.GetName(), "phones/"))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "name: %v", err)
	}
	s.mu.Lock()
	s.calls++
	if s.failNext > 0 {
		s.failNext--
		s.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "storage unavailable")
	}
	e, ok := s.entries[mac]
	if !ok && s.fallback != nil {
		e, ok = *s.fallback, true
	}
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if !ok {
		return nil, status.Errorf(codes.NotFound, "phones/%s not found", mac)
	}
	return &inventoryv1.GetProvisioningUrlResponse{
		Url:       e.URL,
		Bootstrap: e.Bootstrap,
		Phone:     &inventoryv1.Phone{Name: "phones/" + mac, Mac: mac, Vendor: e.Vendor},
	}, nil
}
