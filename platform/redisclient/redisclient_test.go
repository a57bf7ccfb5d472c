package redisclient

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
)

const testPassword = "Redis-Pa55-word-xyz"

func TestClientSurvivesKillAndRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.AOF("always"))
	c, err := New(Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	if err := Ping(ctx, c, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "phone:001565aabbcc", "discovered", 0).Err(); err != nil {
		t.Fatal(err)
	}

	srv.Kill() // kill -9 after the acknowledged SET
	if err := Ping(ctx, c, 500*time.Millisecond); err == nil {
		t.Fatal("Ping succeeded against a killed server")
	}
	srv.Restart()

	// The same client object works again and the acknowledged write survived.
	if err := Ping(ctx, c, 5*time.Second); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	got, err := c.Get(ctx, "phone:001565aabbcc").Result()
	if err != nil || got != "discovered" {
		t.Fatalf("GET after restart = %q, %v", got, err)
	}
}

func TestURLForms(t *testing.T) {
	tcp := redistest.Start(t, redistest.TCP(), redistest.Password(testPassword))
	for _, o := range []Options{
		{URL: tcp.URL()},
		{URL: "redis://" + tcp.Addr() + "/3", Password: testPassword},
		{URL: "redis://:wrong@" + tcp.Addr(), Password: testPassword, DB: 2},
	} {
		c, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := Ping(t.Context(), c, 2*time.Second); err != nil {
			t.Errorf("Ping: %v", err)
		}
		c.Close()
	}

	unix := redistest.Start(t)
	c, err := New(Options{URL: unix.URL() + "?db=5", ClientName: "dialtone-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	db5 := redis.NewClient(&redis.Options{Network: "unix", Addr: unix.Addr(), DB: 5})
	defer db5.Close()
	if got, err := db5.Get(t.Context(), "k").Result(); err != nil || got != "v" {
		t.Errorf("db 5 GET = %q, %v; the URL's db was ignored", got, err)
	}
	if err := unix.Client().Get(t.Context(), "k").Err(); err != redis.Nil {
		t.Errorf("db 0 GET = %v, want redis.Nil", err)
	}
}

func TestPasswordNeverInErrors(t *testing.T) {
	srv := redistest.Start(t, redistest.TCP(), redistest.Password("the-right-one"))
	c, err := New(Options{URL: "redis://:" + testPassword + "@" + srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = Ping(t.Context(), c, 2*time.Second)
	if err == nil {
		t.Fatal("wrong password accepted")
	}
	check := func(what string, err error) {
		t.Helper()
		if err != nil && strings.Contains(err.Error(), testPassword) {
			t.Errorf("%s: password in error: %v", what, err)
		}
	}
	check("ping", err)
	for _, bad := range []string{
		"redis://:" + testPassword + "@host:port/",
		"redis://:" + testPassword + "@host:6379/x",
		"redis://:" + testPassword + "@host:6379/1/2",
		"redis://:" + testPassword + "@host:6379/?dial_timeout=zzz",
		"ftp://:" + testPassword + "@host",
		"redis://:" + testPassword + "@[::1",
	} {
		_, err := New(Options{URL: bad})
		if err == nil {
			t.Errorf("accepted an invalid URL")
		}
		check("New", err)
	}
}

func TestOptionErrors(t *testing.T) {
	for _, o := range []Options{
		{},
		{URL: "redis://x", SentinelAddrs: []string{"s:26379"}},
		{SentinelAddrs: []string{"s:26379"}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

func TestSentinel(t *testing.T) {
	master := redistest.Start(t, redistest.TCP(), redistest.Password(testPassword))
	s1 := redistest.StartSentinel(t, master, "dialtone")
	c, err := New(Options{SentinelAddrs: []string{s1.Addr()}, MasterName: "dialtone", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if testenv.Poll(20*time.Second, func() bool {
		err = c.Set(ctx, "via", "sentinel", 0).Err()
		return err == nil
	}) != nil {
		t.Fatalf("SET through Sentinel: %v", err)
	}
	if got, err := master.Client().Get(ctx, "via").Result(); err != nil || got != "sentinel" {
		t.Fatalf("master GET = %q, %v", got, err)
	}
	if _, ok := c.(*redis.Client); !ok {
		t.Errorf("Sentinel client is %T, want *redis.Client (failover)", c)
	}
}
