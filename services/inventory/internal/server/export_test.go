package server

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// SetDiscoveryLink makes discoveries report the link proof f returns (what
// PhoneDiscovered.link_mac/link_verified will carry) until restore is called.
// Call it before the server handles events.
func SetDiscoveryLink(f func(*eventsv1.PhoneDiscovered) (linkMAC string, verified bool)) (restore func()) {
	old := discoveryLink
	discoveryLink = f
	return func() { discoveryLink = old }
}

// BulkLoad writes n phones straight into the store, 500 per batch, for
// benchmarks: discovered ones (with a bootstrap token), or assigned to
// tenant's extension ext (tenant and extension must exist). It returns the
// phones' tokens.
func (s *Server) BulkLoad(ctx context.Context, first, n int, tenant, ext string) ([]string, error) {
	now := timestamppb.New(time.Now())
	tokens := make([]string, 0, n)
	for i := 0; i < n; i += 500 {
		var ops []store.Op
		for j := i; j < min(i+500, n); j++ {
			mac := fmt.Sprintf("001565%06x", first+j)
			p := &inventoryv1.Phone{
				Mac: mac, Vendor: "yealink", Model: "T54W", Firmware: "96.86.0.100", State: stDiscovered,
				Origin: inventoryv1.PhoneOrigin_PHONE_ORIGIN_PNP, LastSeenAddress: "198.18.3.21:5060",
				LastContact: "<sip:" + mac + "@198.18.3.21:5060;transport=udp>", Listener: "site-a",
				UserAgent: "Yealink SIP-T54W 96.86.0.100 00:15:65:aa:bb:cc", FirstSeenTime: now, LastSeenTime: now,
				CreateTime: now, UpdateTime: now,
			}
			pr := &phoneRec{p: p, token: newToken(), bootstrapToken: true, configRev: 1}
			if tenant != "" {
				p.State, p.Tenant = stAssigned, tenantName(tenant)
				p.Lines = []*inventoryv1.PhoneLine{{Index: 1, Extension: extensionName(tenant, ext)}}
				p.Settings = &inventoryv1.ProvisioningSettings{
					SipInterface: interfaceName(tenant, "pbx"), Language: "en", TimeZone: "Europe/Berlin", WebPassword: "web-password-1",
				}
				pr.bootstrapToken = false
			}
			op, err := pr.op(store.ExpectAbsent, time.Now())
			if err != nil {
				return nil, err
			}
			ops = append(ops, op)
			tokens = append(tokens, pr.token)
		}
		if _, err := s.st.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{Ops: ops}, nil }); err != nil {
			return nil, err
		}
	}
	return tokens, nil
}

// ProfileCacheLen is the number of cached profiles (-1: no cache).
func (s *Server) ProfileCacheLen() int {
	if s.pc == nil {
		return -1
	}
	return s.pc.len()
}

// BeforeCachePut sets a hook run between a profile miss's store read and
// its cache insert.
func (s *Server) BeforeCachePut(f func()) { s.beforeCachePut.Store(&f) }

// SkipFanouts makes the fan-out after a change do nothing, as if the
// process died right after the change committed.
func (s *Server) SkipFanouts(skip bool) { s.skipFanout.Store(skip) }
