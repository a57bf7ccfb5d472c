package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dialtone-voip/dialtone/platform/testenv"
)

func TestRestartKeepsURLAndStore(t *testing.T) {
	s := Start(t)
	url := s.URL()
	nc := s.Conn()
	js := s.JetStream()
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.1", []byte("one")); err != nil {
		t.Fatal(err)
	}

	s.Shutdown()
	if s.Server() != nil {
		t.Error("Server() after Shutdown")
	}
	s.Restart()
	if s.URL() != url {
		t.Errorf("URL changed: %s -> %s", url, s.URL())
	}

	testenv.WaitFor(t, 20*time.Second, "the client to reconnect to the restarted server", nc.IsConnected)
	st, err := js.Stream(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetMsg(ctx, 1)
	if err != nil || string(msg.Data) != "one" {
		t.Fatalf("message after restart = %v, %v", msg, err)
	}
}
