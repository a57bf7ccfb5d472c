package server

import (
	"errors"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/platform/natsjs"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
)

// WatchPhones implements inventoryv1.InventoryServiceServer: an ordered,
// ephemeral consumer of the DIALTONE_PHONES stream, starting after the
// client's last sequence, at the first retained message (replay), or at new
// messages.
func (s *Server) WatchPhones(req *inventoryv1.WatchPhonesRequest, stream grpc.ServerStreamingServer[inventoryv1.WatchPhonesResponse]) error {
	ctx := stream.Context()
	c, err := authorize(ctx, rolesListPh...)
	if err != nil {
		return err
	}
	tenant := c.Tenant
	if req.GetTenant() != "" {
		t := tenantID(req.GetTenant())
		if t == "" {
			return invalid("tenant", "want tenants/{tenant}")
		}
		if err := c.mayUseTenant(t); err != nil {
			return err
		}
		tenant = t
	}
	if s.js == nil {
		return status.Error(codes.Unavailable, "event bus not connected")
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{streams.PhoneChangedAll},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	}
	if seq := req.GetStartAfterSequence(); seq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
	} else if req.GetReplay() {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy // from the first change retained
	}
	cons, err := s.js.OrderedConsumer(ctx, streams.Phones, cfg)
	if err != nil {
		return status.Errorf(codes.Unavailable, "watch: %v", err)
	}
	it, err := cons.Messages(jetstream.PullExpiry(natsjs.PullExpiry), jetstream.PullHeartbeat(natsjs.PullHeartbeat))
	if err != nil {
		return status.Errorf(codes.Unavailable, "watch: %v", err)
	}
	defer it.Stop()
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return status.Error(codes.Unavailable, "watch: stream closed")
			}
			return status.Errorf(codes.Unavailable, "watch: %v", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			continue
		}
		ev := &eventsv1.PhoneChanged{}
		if err := proto.Unmarshal(msg.Data(), ev); err != nil {
			s.log.Warn("watch: undecodable PhoneChanged skipped", "sequence", meta.Sequence.Stream)
			continue
		}
		phone, ok := watchedPhone(ev, tenant)
		if !ok {
			continue
		}
		err = stream.Send(&inventoryv1.WatchPhonesResponse{
			Sequence:   meta.Sequence.Stream,
			ChangeType: ev.GetChangeType(),
			Phone:      phone,
			ChangeTime: ev.GetChangeTime(),
			Aspects:    ev.GetAspects(),
			// An event of a publisher older than the fields: anything may
			// have changed (the PhoneChanged.aspects rule).
			FilesChanged: ev.GetFilesChanged() || len(ev.GetAspects()) == 0,
		})
		if err != nil {
			return err
		}
	}
}

// watchedPhone decides whether a watcher of tenant ("" = every tenant)
// sees ev, and which phone it is shown. A phone in the tenant after the
// change is shown as it is; a phone that left the tenant (UNASSIGNED, or
// any change whose previous_tenant is the watched one) is shown too, so the
// watcher can drop it — but if it now belongs to another tenant, only its
// identity, never that tenant's lines or settings.
func watchedPhone(ev *eventsv1.PhoneChanged, tenant string) (*inventoryv1.Phone, bool) {
	p := ev.GetPhone()
	if tenant == "" {
		return p, true
	}
	now := tenantID(p.GetTenant())
	switch {
	case now == tenant:
		return p, true
	case tenantID(ev.GetPreviousTenant()) != tenant:
		return nil, false
	case now == "":
		return p, true // unassigned: nothing of any tenant left in it
	}
	return &inventoryv1.Phone{
		Name: p.GetName(), Mac: p.GetMac(), Vendor: p.GetVendor(), Model: p.GetModel(),
		Revision: p.GetRevision(), Etag: p.GetEtag(),
	}, true
}
