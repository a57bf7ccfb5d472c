package redisstore_test

import (
	"context"
	"fmt"
	"regexp"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/redisstore"
)

// BenchmarkResolve measures the token lookup (one Lua script returning a
// phone and the records it references) against a plain GET of a record,
// and reports the server-side microseconds per call of each.
func BenchmarkResolve(b *testing.B) {
	srv := redistest.Start(b)
	s := redisstore.New(srv.Client(), "")
	ctx := context.Background()
	if _, err := s.Apply(ctx, func(int64) (store.Batch, error) {
		ops := []store.Op{
			{Kind: store.KindTenant, ID: "acme", Value: make([]byte, 60)},
			{Kind: store.KindExtension, ID: "acme/100", Refs: []string{"t:acme"}, Value: make([]byte, 60)},
			{Kind: store.KindInterface, ID: "acme/pbx", Refs: []string{"t:acme"}, Value: make([]byte, 60)},
		}
		for i := range 100 {
			ops = append(ops, store.Op{Kind: store.KindPhone, ID: fmt.Sprintf("%012d", i), Terms: []string{"s=2", "t=acme", "v=yealink"},
				Keys: []string{fmt.Sprintf("key%019d", i)}, Refs: []string{"t:acme", "e:acme/100", "i:acme/pbx"}, Value: make([]byte, 390)})
		}
		return store.Batch{Ops: ops}, nil
	}); err != nil {
		b.Fatal(err)
	}
	stat := regexp.MustCompile(`cmdstat_(evalsha|get):calls=\d+,usec=\d+,usec_per_call=([0-9.]+)`)
	for _, tc := range []struct {
		name string
		fn   func(i int) error
	}{
		{"resolve", func(i int) error {
			_, refs, err := s.Resolve(ctx, store.KindPhone, fmt.Sprintf("key%019d", i%100))
			if err == nil && len(refs) != 3 {
				err = fmt.Errorf("%d refs", len(refs))
			}
			return err
		}},
		{"get", func(i int) error { _, err := s.Get(ctx, store.KindPhone, fmt.Sprintf("%012d", i%100)); return err }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv.Client().ConfigResetStat(ctx)
			c0, r0 := cpuSelf(), redisCPU(b, srv)
			b.SetParallelism(16)
			var i atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := tc.fn(int(i.Add(1))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(cpuSelf()-c0)/float64(b.N)/1e3, "client-cpu-µs/op")
			b.ReportMetric(float64(redisCPU(b, srv)-r0)/float64(b.N)/1e3, "redis-cpu-µs/op")
			info, _ := srv.Client().Info(ctx, "commandstats").Result()
			for _, m := range stat.FindAllStringSubmatch(info, -1) {
				var v float64
				fmt.Sscan(m[2], &v)
				b.ReportMetric(v, "server-µs/"+m[1])
			}
		})
	}
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
		var v float64
		fmt.Sscan(m[1], &v)
		total += v
	}
	return int64(total * 1e9)
}
