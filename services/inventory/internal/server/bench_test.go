package server_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/boltstore"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/redisstore"
)

// seedTenant creates tenant acme, interface pbx and extension 100.
func seedTenant(b testing.TB, e *env) {
	e.seed("acme")
}

var getRPS = regexp.MustCompile(`GET: ([0-9.]+) requests per second`)

// redisBenchmarkGet runs `redis-benchmark -t get` against srv and returns
// requests per second and the CPU time (redis-benchmark's and
// redis-server's) per request in nanoseconds.
func redisBenchmarkGet(b *testing.B, srv *redistest.Server, clients int) (float64, float64) {
	bin := testenv.LookBinary(b, "redis-benchmark")
	args := []string{"-t", "get", "-n", "200000", "-c", strconv.Itoa(clients), "-q", "-d", "300"}
	if srv.Network() == "unix" {
		args = append(args, "-s", srv.Addr())
	} else {
		args = append(args, "-p", strconv.Itoa(srv.Port()))
	}
	r0 := redisCPU(b, srv)
	cmd := exec.Command(bin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := float64(redisCPU(b, srv) - r0)
	if ru != nil {
		cpu += float64(ru.Utime.Nano() + ru.Stime.Nano())
	}
	m := getRPS.FindAllStringSubmatch(string(out), -1)
	if len(m) == 0 {
		b.Fatalf("redis-benchmark output not understood:\n%s", out)
	}
	v, _ := strconv.ParseFloat(m[len(m)-1][1], 64)
	return v, cpu / 200000
}

// cpuSelf is this process's user+system CPU time in nanoseconds.
func cpuSelf() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

var cpuLine = regexp.MustCompile(`used_cpu_(?:user|sys):([0-9.]+)`)

// redisCPU is redis-server's user+system CPU time in nanoseconds.
func redisCPU(b *testing.B, srv *redistest.Server) int64 {
	info, err := srv.Client().Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, m := range cpuLine.FindAllStringSubmatch(info, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		total += v
	}
	return int64(total * 1e9)
}

// BenchmarkProfileVsRedisGet measures GetProvisioningProfile by token over
// gRPC on loopback TCP (platform grpcserver with token auth) against the
// Redis backend, and `redis-benchmark -t get` against the same
// redis-server in the same run (before and after, averaged); it reports
// both rates and their ratio. On a shared machine the rates move with
// other load, so it also reports CPU time per operation (client, server
// and redis-server together, for both) and the ratio of those
// ("cpu-ratio": GET's CPU cost over a profile lookup's).
func BenchmarkProfileVsRedisGet(b *testing.B) { benchProfileVsRedisGet(b, quiet) }

// BenchmarkProfileVsRedisGetUncached is the same without the profile
// cache: every lookup reads the store (HGET + MGET) and composes.
func BenchmarkProfileVsRedisGetUncached(b *testing.B) {
	benchProfileVsRedisGet(b, quiet, func(_ *serverConfig, o *serverOptions) { o.ProfileCacheSize = -1 })
}

func benchProfileVsRedisGet(b *testing.B, opts ...envOpt) {
	srv := redistest.Start(b)
	st := redisstore.New(srv.Client(), "")
	grpcServerOptions = []grpc.ServerOption{grpc.NumStreamWorkers(streamWorkers)}
	defer func() { grpcServerOptions = nil }()
	e := newEnvStore(b, st, opts...)
	seedTenant(b, e)
	tokens, err := e.srv.BulkLoad(context.Background(), 0, 1000, "acme", "100")
	if err != nil {
		b.Fatal(err)
	}
	edge := e.c("edge")
	// Warm up connections and the script cache.
	for _, tok := range tokens[:10] {
		if _, err := edge.GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: tok}); err != nil {
			b.Fatal(err)
		}
	}
	redisBefore, getCPUBefore := redisBenchmarkGet(b, srv, benchCallers)
	var i atomic.Int64
	b.SetParallelism(max(1, benchCallers/runtime.GOMAXPROCS(0)))
	c0, r0 := cpuSelf(), redisCPU(b, srv)
	b.ResetTimer()
	start := time.Now()
	var (
		mu      sync.Mutex
		samples []time.Duration // every 32nd call's latency
	)
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		defer func() { mu.Lock(); samples = append(samples, mine...); mu.Unlock() }()
		for pb.Next() {
			n := int(i.Add(1))
			var t0 time.Time
			if n%32 == 0 {
				t0 = time.Now()
			}
			r, err := edge.GetProvisioningProfile(context.Background(), &inventoryv1.GetProvisioningProfileRequest{Token: tokens[n%len(tokens)]})
			if err != nil || len(r.GetProfile().GetLines()) != 1 {
				b.Errorf("profile: %v", err)
				return
			}
			if n%32 == 0 {
				mine = append(mine, time.Since(t0))
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	profCPU := float64(cpuSelf()-c0+redisCPU(b, srv)-r0) / float64(b.N)
	rate := float64(b.N) / elapsed.Seconds()
	redisAfter, getCPUAfter := redisBenchmarkGet(b, srv, benchCallers)
	redisRate, getCPU := (redisBefore+redisAfter)/2, (getCPUBefore+getCPUAfter)/2
	b.ReportMetric(rate, "profiles/s")
	b.ReportMetric(redisRate, "redis-get/s")
	b.ReportMetric(rate/redisRate, "ratio")
	b.ReportMetric(profCPU/1e3, "cpu-µs/profile")
	b.ReportMetric(getCPU/1e3, "cpu-µs/get")
	b.ReportMetric(getCPU/profCPU, "cpu-ratio")
	if len(samples) > 0 {
		slices.Sort(samples)
		b.ReportMetric(float64(samples[len(samples)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(samples[len(samples)*99/100].Microseconds()), "p99-µs")
	}
}

// benchCallers is how many calls are in flight at once: redis-benchmark's
// default of 50 clients, for both sides of the ratio.
const benchCallers = 50

// streamWorkers is inventory.GRPCStreamWorkers (what cmd/inventory gives
// grpc.NumStreamWorkers): enough reused goroutines for every concurrent
// call, so a call does not start a goroutine whose stack then grows
// (runtime.copystack was ~8 % of the CPU with 2 workers and 32 callers).
const streamWorkers = 64

// BenchmarkGRPCCallFloor is the cost of the gRPC call alone, on the same
// server and client as BenchmarkProfileVsRedisGet: GetProvisioningProfile
// with a malformed token (token authentication, then NotFound before any
// store access). A profile lookup cannot be cheaper than this.
func BenchmarkGRPCCallFloor(b *testing.B) {
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "inv.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	grpcServerOptions = []grpc.ServerOption{grpc.NumStreamWorkers(streamWorkers)}
	defer func() { grpcServerOptions = nil }()
	edge := newEnvStore(b, st, quiet).c("edge")
	b.SetParallelism(max(1, benchCallers/runtime.GOMAXPROCS(0)))
	c0 := cpuSelf()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = edge.GetProvisioningProfile(context.Background(), &inventoryv1.GetProvisioningProfileRequest{Token: "malformed"})
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(cpuSelf()-c0)/float64(b.N)/1e3, "cpu-µs/call")
}

// benchList lists all phones in pages of 500 over gRPC.
func benchList(b *testing.B, st store.Store, n int) {
	e := newEnvStore(b, st, quiet)
	if _, err := e.srv.BulkLoad(context.Background(), 0, n, "", ""); err != nil {
		b.Fatal(err)
	}
	a := e.admin()
	b.ResetTimer()
	for range b.N {
		tok, count := "", 0
		for {
			r, err := a.ListPhones(context.Background(), &inventoryv1.ListPhonesRequest{PageSize: 500, PageToken: tok})
			if err != nil {
				b.Fatal(err)
			}
			count += len(r.GetPhones())
			if tok = r.GetNextPageToken(); tok == "" {
				break
			}
		}
		if count != n {
			b.Fatalf("listed %d of %d", count, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/float64(n/500), "ms/page")
}

// BenchmarkListPhones100k lists 100,000 phones in pages of 500 (one op is
// the whole listing).
func BenchmarkListPhones100k(b *testing.B) {
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		benchList(b, redisstore.New(srv.Client(), ""), 100000)
	})
	b.Run("bolt", func(b *testing.B) {
		st, err := boltstore.Open(filepath.Join(b.TempDir(), "inv.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchList(b, st, 100000)
	})
}

var usedMemory = regexp.MustCompile(`used_memory:(\d+)`)

func redisUsedMemory(b *testing.B, srv *redistest.Server) int64 {
	info, err := srv.Client().Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	m := usedMemory.FindStringSubmatch(info)
	if m == nil {
		b.Fatalf("INFO memory: %s", info)
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	return v
}

// BenchmarkRedisMemoryPerPhone reports Redis memory per phone record
// (INFO used_memory delta / N) for 100,000 discovered phones and for
// 100,000 assigned ones, every index and token included.
func BenchmarkRedisMemoryPerPhone(b *testing.B) {
	for _, assigned := range []bool{false, true} {
		name := "discovered"
		if assigned {
			name = "assigned"
		}
		b.Run(name, func(b *testing.B) {
			const n = 100000
			for range b.N {
				srv := redistest.Start(b)
				st := redisstore.New(srv.Client(), "")
				e := newEnvStore(b, st, quiet)
				seedTenant(b, e)
				before := redisUsedMemory(b, srv)
				tenant := ""
				if assigned {
					tenant = "acme"
				}
				if _, err := e.srv.BulkLoad(context.Background(), 0, n, tenant, "100"); err != nil {
					b.Fatal(err)
				}
				after := redisUsedMemory(b, srv)
				b.ReportMetric(float64(after-before)/n, "bytes/phone")
				rec, _ := st.Get(context.Background(), store.KindPhone, "001565000001")
				b.ReportMetric(float64(len(rec.Value)), "value-bytes")
				srv.Kill()
			}
		})
	}
}
