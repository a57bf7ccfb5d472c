package phonesim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/vendorsim"
)

// StormOptions boots many phones of one model.
type StormOptions struct {
	// Template is copied for every phone; its Phone's MAC is replaced.
	Template Options
	Count    int
	// Concurrency bounds the phones booting at once.
	Concurrency int
	// OUI is the MAC prefix (6 hex digits); MACs are OUI + Start+i.
	OUI   string
	Start int
	// KeepReports keeps every phone's report in the result.
	KeepReports bool
	// Progress, when set, is called after each phone finishes, one call at a time.
	Progress func(done, failed int)
}

// Percentiles summarise a latency distribution in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// StormReport is the result of a storm.
type StormReport struct {
	Vendor      string `json:"vendor"`
	Model       string `json:"model"`
	Count       int    `json:"count"`
	Concurrency int    `json:"concurrency"`
	FirstMAC    string `json:"first_mac"`
	LastMAC     string `json:"last_mac"`
	OK          int    `json:"ok"`
	Failed      int    `json:"failed"`
	// Failures counts failed phones by reason.
	Failures map[string]int `json:"failures,omitempty"`
	// Examples holds one full error text per reason.
	Examples map[string]string `json:"failure_examples,omitempty"`
	// WallMS is the time from the first SUBSCRIBE to the last phone done.
	WallMS float64 `json:"wall_ms"`
	// Provisioned is per phone, from its first SUBSCRIBE to the last file
	// of the round that completed its boot (successful phones only).
	Provisioned Percentiles `json:"subscribe_to_provisioned_ms"`
	Response    Percentiles `json:"subscribe_to_response_ms"`
	Notify      Percentiles `json:"subscribe_to_notify_ms"`
	PhonesPerS  float64     `json:"phones_per_second"`
	// CPUSeconds is the CPU time phonesim itself used during the storm
	// (user+system; 0 where not measured): with WallMS it tells whether
	// the simulator, sharing the machine, was a bound.
	CPUSeconds float64   `json:"cpu_s,omitempty"`
	Reports    []*Report `json:"reports,omitempty"`
}

// Storm boots opts.Count phones with distinct MACs, each from its own UDP
// socket and port, at most opts.Concurrency at a time. With
// Template.Link, phone i also has its own link layer: its MAC, and the
// address Template.Local+i.
func Storm(ctx context.Context, opts StormOptions) (*StormReport, error) {
	if opts.Count <= 0 {
		return nil, errors.New("count must be positive")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 50
	}
	if opts.Start < 0 || opts.Start+opts.Count > 1<<24 {
		return nil, fmt.Errorf("MAC range %d..%d does not fit under one OUI", opts.Start, opts.Start+opts.Count-1)
	}
	tmpl := opts.Template
	tmpl.defaults()
	oui := strings.ToLower(opts.OUI)
	if oui == "" {
		oui = tmpl.Phone.Vendor.OUIs[0]
	}
	rep := &StormReport{
		Vendor: tmpl.Phone.Vendor.Key, Model: tmpl.Phone.Model, Count: opts.Count,
		Concurrency: opts.Concurrency, Failures: map[string]int{}, Examples: map[string]string{},
		FirstMAC: vendorsim.MACFromOUI(oui, opts.Start), LastMAC: vendorsim.MACFromOUI(oui, opts.Start+opts.Count-1),
	}
	reports := make([]*Report, opts.Count)
	var (
		mu           sync.Mutex
		done, failed int
		wg           sync.WaitGroup
	)
	sem := make(chan struct{}, opts.Concurrency)
	start, cpu0 := time.Now(), processCPU()
loop:
	for i := range opts.Count {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o := tmpl
			o.Phone.MAC = vendorsim.MACFromOUI(oui, opts.Start+i)
			if o.Link != nil {
				// Its own link layer: its own MAC (above) and address.
				o.Local = addrPlus(tmpl.Local, i)
			}
			r, err := Boot(ctx, o)
			reports[i] = r
			mu.Lock()
			done++
			if err != nil {
				failed++
				reason := failureReason(err)
				rep.Failures[reason]++
				if _, ok := rep.Examples[reason]; !ok {
					rep.Examples[reason] = o.Phone.MAC + ": " + err.Error()
				}
			}
			if opts.Progress != nil {
				opts.Progress(done, failed) // serialised: the callback needs no lock
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	rep.WallMS = ms(time.Since(start))
	rep.CPUSeconds = math.Round((processCPU()-cpu0).Seconds()*100) / 100
	var prov, resp, notify []float64
	for _, r := range reports {
		if r == nil {
			continue
		}
		if r.OK {
			rep.OK++
			prov = append(prov, r.Timings.ToProvisionedMS)
		}
		if r.Timings.ToResponseMS > 0 {
			resp = append(resp, r.Timings.ToResponseMS)
		}
		if r.Timings.ToNotifyMS > 0 {
			notify = append(notify, r.Timings.ToNotifyMS)
		}
	}
	rep.Failed = opts.Count - rep.OK
	if missing := opts.Count - done; missing > 0 {
		rep.Failures["not started (interrupted)"] += missing
	}
	rep.Provisioned, rep.Response, rep.Notify = percentiles(prov), percentiles(resp), percentiles(notify)
	if rep.WallMS > 0 {
		rep.PhonesPerS = math.Round(float64(rep.OK)/(rep.WallMS/1000)*10) / 10
	}
	if opts.KeepReports {
		rep.Reports = reports
	}
	if len(rep.Failures) == 0 {
		rep.Failures, rep.Examples = nil, nil
	}
	return rep, ctx.Err()
}

// addrPlus is a+n (IPv4).
func addrPlus(a netip.Addr, n int) netip.Addr {
	v := binary.BigEndian.Uint32(a.AsSlice()) + uint32(n)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// failureReason groups errors into a few classes for the summary.
func failureReason(err error) string {
	for _, e := range []error{ErrNoAnswer, ErrRejected, ErrNoNotify, ErrNoAccount, ErrFetch} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "interrupted"
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, ':'); i > 0 {
		msg = msg[:i]
	}
	return msg
}

// percentiles uses the nearest-rank method.
func percentiles(v []float64) Percentiles {
	if len(v) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: s[len(s)-1]}
}
