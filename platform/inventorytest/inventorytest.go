// Package inventorytest is the one InventoryService test double: a gRPC
// server over real loopback TCP. It answers GetProvisioningUrl from a table
// the test fills, for the services that only look phones up (pnp-listener,
// rps-client), and resolves tokens to profiles, authorises secret release
// and publishes PhoneChanged for the edge (provision-http; profiles.go).
// It checks the bearer token as inventory would, counts the calls, and can
// be made slow or failing. Tests that need more of inventory's behaviour
// (phone state, device-certificate policies, approvals) run the real
// service, in its module's own tests or in cmd/e2e.
package inventorytest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
)

// Entry is what GetProvisioningUrl returns for one MAC.
type Entry struct {
	URL       string
	Bootstrap bool
	// Vendor fills the answer's phone when Phone is nil.
	Vendor string
	// Phone, when set, is the answer's phone (a copy; Name and Mac are set
	// from the MAC looked up).
	Phone *inventoryv1.Phone
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
	fail     codes.Code

	js           jetstream.JetStream
	phones       map[string]*phone // by MAC
	rev          int64             // inventory's revision counter
	profileCalls int

	grpc *grpc.Server
	lis  net.Listener
}

// Start serves on 127.0.0.1:0 until Stop. token is the bearer token
// callers must send ("" accepts any caller).
func Start(token string) (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("inventorytest: %w", err)
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

// Set sets the answer for mac (any spelling macaddr.Parse accepts).
func (s *Server) Set(mac string, e Entry) {
	m := mustMAC(mac)
	s.mu.Lock()
	s.entries[m] = e
	s.mu.Unlock()
}

// Delete removes mac's answer: it is NotFound again.
func (s *Server) Delete(mac string) {
	m := mustMAC(mac)
	s.mu.Lock()
	delete(s.entries, m)
	s.mu.Unlock()
}

// SetFallback sets the answer for every MAC without an entry (nil: NotFound).
func (s *Server) SetFallback(e *Entry) {
	s.mu.Lock()
	s.fallback = e
	s.mu.Unlock()
}

// SetDelay makes every lookup take d (to test a caller's deadline).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// SetFail makes every lookup fail with c (codes.OK: answer again).
func (s *Server) SetFail(c codes.Code) {
	s.mu.Lock()
	s.fail = c
	s.mu.Unlock()
}

// Calls returns how many lookups were made.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Client dials the server without credentials; the caller closes it with
// the returned func.
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

// GetProvisioningUrl answers from the table.
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
	delay, fail := s.delay, s.fail
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if fail != codes.OK {
		return nil, status.Error(fail, "inventorytest: injected failure")
	}
	if !ok {
		return nil, status.Errorf(codes.NotFound, "phones/%s not found", mac)
	}
	phone := &inventoryv1.Phone{Vendor: e.Vendor}
	if e.Phone != nil {
		phone = proto.Clone(e.Phone).(*inventoryv1.Phone)
	}
	phone.Name, phone.Mac = "phones/"+mac, mac
	return &inventoryv1.GetProvisioningUrlResponse{Url: e.URL, Bootstrap: e.Bootstrap, Phone: phone}, nil
}

func mustMAC(mac string) string {
	m, err := macaddr.Parse(mac)
	if err != nil {
		panic(fmt.Sprintf("inventorytest: %v", err))
	}
	return m
}
