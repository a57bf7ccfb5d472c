package grpcserver

import (
	"flag"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dialtone-voip/dialtone/platform/auth"
)

// refusedCount reads dialtone_grpc_server_refused_total{reason}.
func refusedCount(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "dialtone_grpc_server_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// rawCodec sends pre-encoded bytes without copying them, so that 300
// concurrent 3.9 MiB requests share one buffer in the test process and the
// heap growth measured is the server's.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// bigRequest is a HealthCheckRequest whose service field is n bytes long.
func bigRequest(n int) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	return append(b, make([]byte, n)...)
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestUnauthenticatedLargeRequestsHeapBound is the attack of issue 15: 300
// concurrent 3.9 MiB requests without a token. The tap refuses them from
// their headers, so the server never buffers the messages: the heap (after
// GC, sampled while the calls are in flight) grows by less than
// heapBound, where reading them would take 300 × 3.9 MiB ≈ 1.1 GiB.
func TestUnauthenticatedLargeRequestsHeapBound(t *testing.T) {
	const (
		calls     = 300
		conns     = 30
		size      = 3900 << 10
		heapBound = 64 << 20
	)
	reg := prometheus.NewRegistry()
	r := start(t, Options{Auth: tokens(t), Registerer: reg})
	ctx := t.Context()
	if err := callProbe(ctx, r.conn, "", grpc.WaitForReady(true), grpc.PerRPCCredentials(auth.BearerToken(adminToken, false))); err != nil {
		t.Fatalf("authenticated call: %v", err)
	}
	payload := bigRequest(size)
	clients := make([]*grpc.ClientConn, conns)
	for i := range clients {
		c, err := grpc.NewClient(r.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{}), grpc.MaxCallSendMsgSize(size+16)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}

	base := heapInuse()
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	var wg sync.WaitGroup
	codesSeen := make(chan codes.Code, calls)
	for i := range calls {
		wg.Go(func() {
			var out []byte
			err := clients[i%conns].Invoke(ctx, "/"+probeService+"/Check", &payload, &out, grpc.WaitForReady(true))
			codesSeen <- status.Code(err)
		})
	}
	wg.Wait()
	close(stopSampling)
	<-sampled
	close(codesSeen)
	after := heapInuse()
	for c := range codesSeen {
		if c != codes.Unauthenticated {
			t.Fatalf("unauthenticated large call: code %v, want Unauthenticated", c)
		}
	}
	growth := int64(peak.Load()) - int64(base)
	t.Logf("heap in use: base %d MiB, peak %d MiB, after %d MiB (bound: growth < %d MiB)",
		base>>20, peak.Load()>>20, after>>20, heapBound>>20)
	if growth > heapBound {
		t.Errorf("heap grew by %d MiB during the attack, bound %d MiB", growth>>20, heapBound>>20)
	}
	if got := refusedCount(t, reg, reasonUnauthenticated); got != calls {
		t.Errorf("refused{unauthenticated} = %v, want %d", got, calls)
	}
	// Authenticated small calls still work.
	if err := callProbe(ctx, r.conn, "", grpc.PerRPCCredentials(auth.BearerToken(adminToken, false))); err != nil {
		t.Errorf("authenticated call after the attack: %v", err)
	}
}

func TestMethodRecvCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := start(t, Options{Auth: tokens(t), Registerer: reg, Limits: Limits{
		MaxRecvMsgSize:       64 << 10,
		MethodMaxRecvMsgSize: map[string]int{"/" + probeService + "/": 100, "/" + probeService + "/Watch": 1000},
	}})
	ctx := t.Context()
	creds := grpc.PerRPCCredentials(auth.BearerToken(adminToken, false))
	if err := callProbe(ctx, r.conn, "small", grpc.WaitForReady(true), creds); err != nil {
		t.Fatalf("small call: %v", err)
	}
	err := callProbe(ctx, r.conn, string(make([]byte, 200)), creds)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("200-byte call with a 100-byte cap: %v, want ResourceExhausted", err)
	}
	// The full method name wins over the service prefix.
	st, err := r.conn.NewStream(ctx, &probeDesc.Streams[0], "/"+probeService+"/Watch", creds)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(&healthpb.HealthCheckRequest{Service: string(make([]byte, 200))}); err != nil {
		t.Fatal(err)
	}
	if err := st.RecvMsg(&healthpb.HealthCheckResponse{}); err != nil {
		t.Fatalf("200-byte stream message with a 1000-byte cap: %v", err)
	}
	// Above MaxRecvMsgSize, gRPC itself refuses.
	err = callProbe(ctx, r.conn, string(make([]byte, 100<<10)), creds)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("100 KiB call with a 64 KiB limit: %v, want ResourceExhausted", err)
	}
	if got := refusedCount(t, reg, reasonTooLarge); got != 1 {
		t.Errorf("refused{message_too_large} = %v, want 1", got)
	}
}

func TestLimitsFlags(t *testing.T) {
	var l Limits
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l.RegisterFlags(fs)
	if err := fs.Parse([]string{"--grpc-max-streams=7", "--grpc-max-recv-bytes=1024"}); err != nil {
		t.Fatal(err)
	}
	if l.MaxConcurrentStreams != 7 || l.MaxRecvMsgSize != 1024 || l.KeepaliveMinTime != DefaultKeepaliveMinTime {
		t.Errorf("parsed %+v", l)
	}
	if err := fs.Parse([]string{"--grpc-max-streams=0"}); err == nil {
		t.Error("--grpc-max-streams=0 accepted")
	}
	if d := (Limits{}).withDefaults(); d.MaxConcurrentStreams != DefaultMaxConcurrentStreams || d.MaxRecvMsgSize != DefaultMaxRecvMsgSize {
		t.Errorf("defaults %+v", d)
	}
}

// TestStreamsAndKeepaliveOnTheWire speaks raw HTTP/2 to the server: its
// SETTINGS announce MaxConcurrentStreams, and a client pinging faster than
// KeepaliveMinTime is sent GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
func TestStreamsAndKeepaliveOnTheWire(t *testing.T) {
	r := start(t, Options{Auth: tokens(t), Limits: Limits{MaxConcurrentStreams: 7}})
	c, err := net.Dial("tcp", r.conn.Target())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	streams := uint32(0)
	var ping [8]byte
	for i := 0; ; i++ {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no GOAWAY after %d pings: %v", i, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				break
			}
			if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
				streams = v
			}
			if err := fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeEnhanceYourCalm || string(f.DebugData()) != "too_many_pings" {
				t.Errorf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", f.ErrCode, f.DebugData())
			}
			if streams != 7 {
				t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 7", streams)
			}
			return
		}
		// Ping as fast as frames come back: far under KeepaliveMinTime.
		ping[0] = byte(i)
		if err := fr.WritePing(false, ping); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
	}
}
