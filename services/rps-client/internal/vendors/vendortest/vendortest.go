// Package vendortest is the conformance suite every vendor client passes
// against its fake: register, update, deregister, check, bad credentials, a
// MAC owned by another account, an invalid MAC, a 5xx then success, a
// timeout, a 429 honouring Retry-After — and no secret in any error text.
package vendortest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
)

// Harness describes one vendor API under test.
type Harness struct {
	// Fake is the running fake server.
	Fake *fakeserver.Server
	// New builds a client for acct (BaseURL already set to the fake).
	New func(acct vendors.Account, opts vendors.Options) (vendors.Client, error)
	// Good is an account the fake accepts; Bad one whose secret it refuses.
	Good, Bad vendors.Account
	// MACs are three distinct canonical MACs with the vendor's OUI.
	MACs [3]string
	// URLs are two provisioning URLs (each embeds a token).
	URLs [2]string
	// DisclosesURL says whether Check returns the registered URL.
	DisclosesURL bool
	// DisclosesForeign says whether Check can tell a MAC is registered to
	// another account.
	DisclosesForeign bool
	// Secrets that must never appear in an error text (besides the URLs).
	Secrets []string
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	reg := h.Fake.Registry
	var errs []error
	keep := func(err error) error {
		if err != nil {
			errs = append(errs, err)
		}
		return err
	}
	client := func(t *testing.T, acct vendors.Account, timeout time.Duration) vendors.Client {
		t.Helper()
		acct.BaseURL = h.Fake.URL + acct.BaseURL
		c, err := h.New(acct, vendors.Options{Timeout: timeout})
		if err != nil {
			t.Fatalf("new client: %v", err)
		}
		return c
	}
	good := client(t, h.Good, 5*time.Second)
	mac, foreign, invalid := h.MACs[0], h.MACs[1], h.MACs[2]

	t.Run("register", func(t *testing.T) {
		if err := keep(good.Register(ctx, mac, h.URLs[0])); err != nil {
			t.Fatalf("register: %v", err)
		}
		e, ok := reg.Get(mac)
		if !ok || e.Owner != fakeserver.Us || e.URL != h.URLs[0] {
			t.Fatalf("fake holds %+v (present %v), want ours with URL 0", e, ok)
		}
		if n := reg.Registrations(mac); n != 1 {
			t.Errorf("registrations = %d, want 1", n)
		}
		res, err := good.Check(ctx, mac)
		if keep(err) != nil {
			t.Fatalf("check: %v", err)
		}
		if !res.Registered || !res.OwnedByUs {
			t.Errorf("check = %+v, want registered to us", res)
		}
		if h.DisclosesURL && res.URL != h.URLs[0] {
			t.Errorf("check URL mismatch")
		}
	})
	t.Run("register again is idempotent", func(t *testing.T) {
		if err := keep(good.Register(ctx, mac, h.URLs[0])); err != nil {
			t.Fatalf("register: %v", err)
		}
		if e, _ := reg.Get(mac); e.URL != h.URLs[0] || e.Owner != fakeserver.Us {
			t.Fatalf("fake holds %+v", e)
		}
	})
	t.Run("update", func(t *testing.T) {
		if err := keep(good.Register(ctx, mac, h.URLs[1])); err != nil {
			t.Fatalf("update: %v", err)
		}
		if e, _ := reg.Get(mac); e.URL != h.URLs[1] || e.Owner != fakeserver.Us {
			t.Fatalf("fake holds %+v, want URL 1", e)
		}
	})
	t.Run("deregister", func(t *testing.T) {
		if err := keep(good.Deregister(ctx, mac)); err != nil {
			t.Fatalf("deregister: %v", err)
		}
		if e, ok := reg.Get(mac); ok {
			t.Fatalf("fake still holds %+v", e)
		}
		if err := keep(good.Deregister(ctx, mac)); err != nil {
			t.Fatalf("second deregister: %v", err)
		}
		res, err := good.Check(ctx, mac)
		if keep(err) != nil {
			t.Fatalf("check: %v", err)
		}
		if res.Registered {
			t.Errorf("check = %+v, want unregistered", res)
		}
	})
	t.Run("bad credentials", func(t *testing.T) {
		bad := client(t, h.Bad, 5*time.Second)
		err := keep(bad.Register(ctx, mac, h.URLs[0]))
		wantReason(t, err, vendors.ReasonBadCreds)
		if _, ok := reg.Get(mac); ok {
			t.Error("a refused client changed the fake")
		}
		_, err = bad.Check(ctx, mac)
		wantReason(t, keep(err), vendors.ReasonBadCreds)
	})
	t.Run("owned by another account", func(t *testing.T) {
		reg.SetForeign(foreign, "https://elsewhere.example/prov/")
		err := keep(good.Register(ctx, foreign, h.URLs[0]))
		wantReason(t, err, vendors.ReasonOwned)
		if e, _ := reg.Get(foreign); e.Owner != fakeserver.Other || e.URL != "https://elsewhere.example/prov/" {
			t.Fatalf("foreign registration changed: %+v", e)
		}
		if err := keep(good.Deregister(ctx, foreign)); err != nil {
			t.Fatalf("deregister of a foreign MAC: %v", err)
		}
		if e, _ := reg.Get(foreign); e.Owner != fakeserver.Other {
			t.Fatalf("deregister removed a foreign registration")
		}
		res, err := good.Check(ctx, foreign)
		if keep(err) != nil {
			t.Fatalf("check: %v", err)
		}
		if res.OwnedByUs {
			t.Errorf("check = %+v, want not ours", res)
		}
		if h.DisclosesForeign && !res.Registered {
			t.Errorf("check = %+v, want registered elsewhere", res)
		}
	})
	t.Run("invalid MAC", func(t *testing.T) {
		reg.SetInvalid(invalid)
		wantReason(t, keep(good.Register(ctx, invalid, h.URLs[0])), vendors.ReasonInvalidMAC)
	})
	t.Run("5xx then success", func(t *testing.T) {
		h.Fake.Inject(fakeserver.Fault{Status: 503})
		err := keep(good.Register(ctx, mac, h.URLs[0]))
		wantReason(t, err, vendors.ReasonTransient)
		if err := keep(good.Register(ctx, mac, h.URLs[0])); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if e, _ := reg.Get(mac); e.URL != h.URLs[0] {
			t.Fatal("not registered after the retry")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		short := client(t, h.Good, 150*time.Millisecond)
		h.Fake.Inject(fakeserver.Fault{Hang: true})
		err := keep(short.Register(ctx, mac, h.URLs[1]))
		wantReason(t, err, vendors.ReasonTransient)
		if !errors.Is(err, vendors.ErrTimeout) {
			t.Errorf("err = %v, want ErrTimeout in chain", err)
		}
	})
	t.Run("429 with Retry-After", func(t *testing.T) {
		h.Fake.Inject(fakeserver.Fault{Status: 429, RetryAfter: "7"})
		err := keep(good.Deregister(ctx, mac))
		wantReason(t, err, vendors.ReasonTransient)
		if d := vendors.RetryAfterOf(err); d != 7*time.Second {
			t.Errorf("RetryAfter = %v, want 7s", d)
		}
		if err := keep(good.Deregister(ctx, mac)); err != nil {
			t.Fatalf("after the 429: %v", err)
		}
	})
	t.Run("no secret in any error text", func(t *testing.T) {
		secrets := append([]string{h.URLs[0], h.URLs[1], tokenOf(h.URLs[0]), tokenOf(h.URLs[1]),
			h.Good.Password.Reveal(), h.Good.KeySecret.Reveal(), h.Good.APIKey.Reveal(),
			h.Bad.Password.Reveal(), h.Bad.KeySecret.Reveal(), h.Bad.APIKey.Reveal()}, h.Secrets...)
		if len(errs) == 0 {
			t.Fatal("no errors collected")
		}
		for _, err := range errs {
			for _, s := range secrets {
				if s != "" && strings.Contains(err.Error(), s) {
					t.Errorf("error text %q holds a secret", err.Error())
				}
			}
		}
	})
}

func wantReason(t *testing.T, err error, want interface{ String() string }) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	got := vendors.ReasonOf(err)
	if got.String() != want.String() {
		t.Fatalf("reason = %v (%v), want %v", got, err, want)
	}
	var ve *vendors.Error
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a *vendors.Error", err)
	}
}

// tokenOf returns the last non-empty path segment of a provisioning URL
// ({edge}/p/{token}/).
func tokenOf(u string) string {
	parts := strings.Split(strings.TrimRight(u, "/"), "/")
	return parts[len(parts)-1]
}
