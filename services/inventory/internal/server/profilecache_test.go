package server_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/redisstore"
)

// replicas serves two Servers (two inventory replicas) over one Redis.
func replicas(t *testing.T, opts ...redisstore.Option) (*env, *env) {
	t.Helper()
	srv := redistest.Start(t)
	a := newEnvStore(t, redisstore.New(srv.Client(), "", opts...))
	b := newEnvStore(t, redisstore.New(srv.Client(), "", opts...))
	return a, b
}

func profileOf(t *testing.T, e *env, tok string) *inventoryv1.GetProvisioningProfileResponse {
	t.Helper()
	return must[*inventoryv1.GetProvisioningProfileResponse](t)(e.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: tok}))
}

// TestProfileCacheSeesOtherReplicasWrites: replica b caches profiles;
// every kind of write through replica a that changes a profile input is
// visible in b's very next answer (no waiting), and b's cache is used.
func TestProfileCacheSeesOtherReplicasWrites(t *testing.T) {
	a, b := replicas(t)
	a.seed("acme")
	ad := a.admin()
	// The tenant's default interface (not named by the phone) is an input too.
	must[*inventoryv1.UpdateTenantResponse](t)(ad.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{
		Tenant:     &inventoryv1.Tenant{Name: "tenants/acme", DefaultSettings: &inventoryv1.ProvisioningSettings{SipInterface: "tenants/acme/sipInterfaces/pbx", Language: "de"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"default_settings"}}}))
	a.discover(mac1, time.Now().Add(-time.Minute))
	u := must[*inventoryv1.GetProvisioningUrlResponse](t)(a.c("service").GetProvisioningUrl(ctx(), &inventoryv1.GetProvisioningUrlRequest{Name: mac1}))
	boot := tokenFromURL(t, u.GetUrl())
	if p := profileOf(t, b, boot); !p.GetProfile().GetBootstrap() {
		t.Fatalf("bootstrap profile: %v", p)
	}
	as := must[*inventoryv1.AssignPhoneResponse](t)(ad.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: mac1, Extension: "tenants/acme/extensions/100"}))
	tok := tokenFromURL(t, as.GetProvisioningUrl())
	if _, err := b.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: boot}); err == nil {
		t.Fatal("b still answers the bootstrap token after the assignment")
	}
	p := profileOf(t, b, tok)
	if p.GetProfile().GetSipServer().GetHost() != "pbx.example.com" || p.GetProfile().GetLanguage() != "de" || a.srv.ProfileCacheLen() < 0 {
		t.Fatalf("profile: %v", p)
	}
	if n := b.srv.ProfileCacheLen(); n != 1 {
		t.Fatalf("b caches %d profiles, want 1", n)
	}
	rev := p.GetProfile().GetRevision()
	check := func(what string, ok func(*inventoryv1.GetProvisioningProfileResponse) bool) {
		t.Helper()
		p := profileOf(t, b, tok)
		if !ok(p) || p.GetProfile().GetRevision() <= rev {
			t.Fatalf("after %s: b answers %v", what, p)
		}
		rev = p.GetProfile().GetRevision()
		profileOf(t, b, tok) // cached again
	}
	must[*inventoryv1.UpdateExtensionResponse](t)(ad.UpdateExtension(ctx(), &inventoryv1.UpdateExtensionRequest{
		Extension: &inventoryv1.Extension{Name: "tenants/acme/extensions/100", SipPassword: "changed-pw"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"sip_password"}}}))
	check("an extension change", func(p *inventoryv1.GetProvisioningProfileResponse) bool {
		return p.GetProfile().GetLines()[0].GetPassword() == "changed-pw"
	})
	must[*inventoryv1.UpdateSipInterfaceResponse](t)(ad.UpdateSipInterface(ctx(), &inventoryv1.UpdateSipInterfaceRequest{
		SipInterface: &inventoryv1.SipInterface{Name: "tenants/acme/sipInterfaces/pbx", Host: "pbx2.example.com"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"host"}}}))
	check("a change of the default interface", func(p *inventoryv1.GetProvisioningProfileResponse) bool {
		return p.GetProfile().GetSipServer().GetHost() == "pbx2.example.com"
	})
	must[*inventoryv1.UpdateTenantResponse](t)(ad.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{
		Tenant: &inventoryv1.Tenant{Name: "tenants/acme", NtpServer: "ntp.acme.test"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"ntp_server"}}}))
	check("a tenant change", func(p *inventoryv1.GetProvisioningProfileResponse) bool {
		return p.GetProfile().GetNtpServer() == "ntp.acme.test"
	})
	must[*inventoryv1.UpdatePhoneResponse](t)(ad.UpdatePhone(ctx(), &inventoryv1.UpdatePhoneRequest{
		Phone: &inventoryv1.Phone{Name: mac1, Settings: &inventoryv1.ProvisioningSettings{Language: "fr"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.language"}}}))
	check("a phone change", func(p *inventoryv1.GetProvisioningProfileResponse) bool { return p.GetProfile().GetLanguage() == "fr" })

	// Rotation: the old token is a grace answer, then stops.
	rot := must[*inventoryv1.RotateProvisioningTokenResponse](t)(ad.RotateProvisioningToken(ctx(), &inventoryv1.RotateProvisioningTokenRequest{Name: mac1, GracePeriod: durationpb.New(time.Hour)}))
	tok2 := tokenFromURL(t, rot.GetProvisioningUrl())
	if g := profileOf(t, b, tok); !g.GetGrace() || g.GetProfile().GetProvisioningUrl() != rot.GetProvisioningUrl() {
		t.Fatalf("grace answer: %v", g)
	}
	profileOf(t, b, tok2)
	must[*inventoryv1.RotateProvisioningTokenResponse](t)(ad.RotateProvisioningToken(ctx(), &inventoryv1.RotateProvisioningTokenRequest{Name: mac1, GracePeriod: durationpb.New(0)}))
	for _, old := range []string{tok, tok2} {
		_, err := b.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: old})
		wantCode(t, err, codes.NotFound, "")
	}
	cur := tokenFromURL(t, must[*inventoryv1.GetProvisioningUrlResponse](t)(a.c("service").GetProvisioningUrl(ctx(), &inventoryv1.GetProvisioningUrlRequest{Name: mac1})).GetUrl())
	profileOf(t, b, cur)
	must[*inventoryv1.UnassignPhoneResponse](t)(ad.UnassignPhone(ctx(), &inventoryv1.UnassignPhoneRequest{Name: mac1}))
	if p := profileOf(t, b, cur); !p.GetProfile().GetBootstrap() || len(p.GetProfile().GetLines()) != 0 || p.GetProfile().GetWebPassword() != "" {
		t.Fatalf("after unassign: %v", p)
	}
	must[*inventoryv1.DeletePhoneResponse](t)(ad.DeletePhone(ctx(), &inventoryv1.DeletePhoneRequest{Name: mac1}))
	_, err := b.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: cur})
	wantCode(t, err, codes.NotFound, "")
}

// TestProfileCacheGraceExpires: a cached grace answer ends with the
// token's grace period, without any write.
func TestProfileCacheGraceExpires(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func(_ *serverConfig, o *serverOptions) { o.Now = func() time.Time { return time.Unix(0, now.Load()) } }
	e := newRedisEnv(t, clock)
	e.seed("acme")
	as := must[*inventoryv1.CreatePhoneResponse](t)(e.admin().CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{
		Mac: mac1, Model: "T54W", Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: "tenants/acme/extensions/100"}}}}))
	tok := tokenFromURL(t, as.GetPhone().GetProvisioningUrl())
	must[*inventoryv1.RotateProvisioningTokenResponse](t)(e.admin().RotateProvisioningToken(ctx(), &inventoryv1.RotateProvisioningTokenRequest{Name: mac1, GracePeriod: durationpb.New(time.Minute)}))
	for range 2 {
		if p := profileOf(t, e, tok); !p.GetGrace() {
			t.Fatalf("grace answer: %v", p)
		}
	}
	now.Add(int64(time.Minute))
	_, err := e.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: tok})
	wantCode(t, err, codes.NotFound, "")
}

// TestProfileCacheTrimmedLog: when the change log no longer reaches back
// to the cache's position, the cache starts over (and answers stay right).
func TestProfileCacheTrimmedLog(t *testing.T) {
	a, b := replicas(t, redisstore.ChangeLogKeep(5))
	a.seed("acme")
	cp := must[*inventoryv1.CreatePhoneResponse](t)(a.admin().CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{
		Mac: mac1, Model: "T54W", Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: "tenants/acme/extensions/100"}}}}))
	tok := tokenFromURL(t, cp.GetPhone().GetProvisioningUrl())
	profileOf(t, b, tok)
	if b.srv.ProfileCacheLen() != 1 {
		t.Fatal("not cached")
	}
	for i := range 300 { // unrelated writes push the log past b's position
		a.discover(fmt.Sprintf("0015650f%04x", i), time.Now())
	}
	must[*inventoryv1.UpdateExtensionResponse](t)(a.admin().UpdateExtension(ctx(), &inventoryv1.UpdateExtensionRequest{
		Extension: &inventoryv1.Extension{Name: "tenants/acme/extensions/100", DisplayName: "New name"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}))
	for i := range 300 {
		a.discover(fmt.Sprintf("0015650e%04x", i), time.Now())
	}
	if p := profileOf(t, b, tok); p.GetProfile().GetLines()[0].GetDisplayName() != "New name" {
		t.Fatalf("stale answer after the log was trimmed: %v", p.GetProfile().GetLines())
	}
}

// TestProfileCacheLinearizable: while replica a keeps changing an
// extension (and discoveries keep changing the phones), lookups on replica
// b never answer with a value older than the last write a acknowledged
// before the lookup began.
func TestProfileCacheLinearizable(t *testing.T) {
	a, b := replicas(t)
	a.seed("acme")
	const phones = 4
	var toks []string
	for i := range phones {
		cp := must[*inventoryv1.CreatePhoneResponse](t)(a.admin().CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{
			Mac: fmt.Sprintf("00156500000%d", i), Model: "T54W", Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: "tenants/acme/extensions/100"}}}}))
		toks = append(toks, tokenFromURL(t, cp.GetPhone().GetProvisioningUrl()))
	}
	var (
		acked atomic.Int64 // the last generation a acknowledged
		stop  atomic.Bool
		wg    sync.WaitGroup
		reads atomic.Int64
	)
	wg.Go(func() {
		defer stop.Store(true)
		for gen := int64(1); gen <= 60; gen++ {
			_, err := a.admin().UpdateExtension(ctx(), &inventoryv1.UpdateExtensionRequest{
				Extension:  &inventoryv1.Extension{Name: "tenants/acme/extensions/100", DisplayName: "gen-" + strconv.FormatInt(gen, 10)},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
			if err != nil {
				t.Error(err)
				return
			}
			acked.Store(gen)
		}
	})
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			if err := a.srv.HandleDiscovered(context.Background(), discovery(fmt.Sprintf("00156500000%d", i%phones), time.Now())); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for r := range 6 {
		wg.Go(func() {
			for i := r; !stop.Load(); i++ {
				want := acked.Load()
				p, err := b.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: toks[i%phones]})
				if err != nil {
					t.Error(err)
					return
				}
				name := p.GetProfile().GetLines()[0].GetDisplayName()
				got, _ := strconv.ParseInt(strings.TrimPrefix(name, "gen-"), 10, 64)
				if got < want {
					t.Errorf("lookup begun after generation %d was acknowledged answered %q", want, name)
					return
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("%d lookups on replica b during 60 extension changes on replica a, none stale; b caches %d", reads.Load(), b.srv.ProfileCacheLen())
}

// TestProfileCacheMissRacingAWrite: a miss that read the store before a
// write, and would insert its answer after a sync already processed that
// write, must not insert it (it would stay stale).
func TestProfileCacheMissRacingAWrite(t *testing.T) {
	a, b := replicas(t)
	a.seed("acme")
	var toks []string
	for i := range 2 {
		cp := must[*inventoryv1.CreatePhoneResponse](t)(a.admin().CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{
			Mac: fmt.Sprintf("00156500000%d", i), Model: "T54W", Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: "tenants/acme/extensions/100"}}}}))
		toks = append(toks, tokenFromURL(t, cp.GetPhone().GetProvisioningUrl()))
	}
	var once atomic.Bool
	b.srv.BeforeCachePut(func() {
		if once.Swap(true) {
			return
		}
		// Between the first miss's read and its insert: a write on a, and a
		// lookup on b whose sync processes it.
		must[*inventoryv1.UpdateExtensionResponse](t)(a.admin().UpdateExtension(ctx(), &inventoryv1.UpdateExtensionRequest{
			Extension: &inventoryv1.Extension{Name: "tenants/acme/extensions/100", DisplayName: "after"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}))
		profileOf(t, b, toks[1])
	})
	if p := profileOf(t, b, toks[0]); p.GetProfile().GetLines()[0].GetDisplayName() != "Ext 100" {
		t.Fatalf("the racing lookup read %v", p.GetProfile().GetLines())
	}
	if p := profileOf(t, b, toks[0]); p.GetProfile().GetLines()[0].GetDisplayName() != "after" {
		t.Fatalf("stale answer cached by a miss that raced a write: %v", p.GetProfile().GetLines())
	}
}

// TestProfileCacheMetrics: every lookup of a well-formed token is a hit or
// a miss; concurrent lookups share change-log reads; a trimmed log flushes
// the cache once.
func TestProfileCacheMetrics(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	b := newEnvStore(t, redisstore.New(srv.Client(), "", redisstore.ChangeLogKeep(5)),
		func(_ *serverConfig, o *serverOptions) { o.Registerer = reg })
	a := newEnvStore(t, redisstore.New(srv.Client(), "", redisstore.ChangeLogKeep(5)))
	a.seed("acme")
	tokens, err := a.srv.BulkLoad(context.Background(), 0, 20, "acme", "100")
	if err != nil {
		t.Fatal(err)
	}
	const callers, each = 20, 50
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for j := range each {
				if _, err := b.c("edge").GetProvisioningProfile(ctx(), &inventoryv1.GetProvisioningProfileRequest{Token: tokens[(i+j)%len(tokens)]}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	hits, misses := metrictest.Value(t, reg, "dialtone_inventory_profile_cache_hits_total"), metrictest.Value(t, reg, "dialtone_inventory_profile_cache_misses_total")
	rounds := metrictest.Value(t, reg, "dialtone_inventory_profile_cache_sync_rounds_total")
	if hits+misses != callers*each || misses < float64(len(tokens)) || hits < callers*each/2 {
		t.Fatalf("hits %v + misses %v, want %d lookups, at least %d misses and mostly hits", hits, misses, callers*each, len(tokens))
	}
	if rounds <= 0 || rounds >= callers*each {
		t.Fatalf("%v change-log reads for %d concurrent lookups: not shared", rounds, callers*each)
	}
	t.Logf("%d lookups: %v hits, %v misses, %v change-log reads", callers*each, hits, misses, rounds)
	if f := metrictest.Value(t, reg, "dialtone_inventory_profile_cache_flushes_total"); f != 0 {
		t.Fatalf("flushes %v before any trim", f)
	}
	for i := range 300 { // unrelated writes push the log past b's position (MINID ~ trims whole nodes of 100)
		a.discover(fmt.Sprintf("0015650f%04x", i), time.Now())
	}
	profileOf(t, b, tokens[0])
	if f := metrictest.Value(t, reg, "dialtone_inventory_profile_cache_flushes_total"); f != 1 {
		t.Fatalf("flushes %v after the log was trimmed, want 1", f)
	}
}
