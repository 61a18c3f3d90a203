package natsembed_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/posgate/posgate/natsembed"
	"github.com/posgate/posgate/natsembed/natstest"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   natsembed.Config
		field string
	}{
		{"minimal", natsembed.Config{DataDir: "x"}, ""},
		{"localhost", natsembed.Config{DataDir: "x", Host: "localhost"}, ""},
		{"ipv6 loopback", natsembed.Config{DataDir: "x", Host: "::1"}, ""},
		{"remote allowed", natsembed.Config{DataDir: "x", Host: "0.0.0.0", AllowRemote: true}, ""},
		{"no data dir", natsembed.Config{}, "DataDir"},
		{"remote host", natsembed.Config{DataDir: "x", Host: "0.0.0.0"}, "Host"},
		{"lan host", natsembed.Config{DataDir: "x", Host: "10.0.0.5"}, "Host"},
		{"port", natsembed.Config{DataDir: "x", Port: 70000}, "Port"},
		{"negative store", natsembed.Config{DataDir: "x", MaxStore: -1}, "MaxStore"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var ce *natsembed.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, natsembed.ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want ConfigError on %s", err, tt.field)
			}
		})
	}
}

func TestStartServesJetStreamOnLoopback(t *testing.T) {
	s := natstest.Start(t)
	u, err := url.Parse(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != natsembed.DefaultHost || u.Port() == "0" || u.Port() == "" {
		t.Fatalf("ClientURL = %s, want loopback with a real port", s.ClientURL())
	}
	if !s.SyncAlways() {
		t.Fatal("SyncAlways is off by default")
	}
	nc := natstest.Connect(t, s)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	ack, err := js.Publish(ctx, "t.x", []byte("hello"))
	if err != nil || ack.Sequence != 1 {
		t.Fatalf("Publish = %+v, %v", ack, err)
	}
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s1, err := natsembed.Start(ctx, natsembed.Config{DataDir: dir}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := s1.Connect()
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R", Subjects: []string{"r"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := js.Publish(ctx, "r", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	if err := s1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Connect(); !errors.Is(err, natsembed.ErrShutdown) {
		t.Fatalf("Connect after Shutdown = %v, want ErrShutdown", err)
	}

	s2 := natstest.StartWithConfig(t, natsembed.Config{DataDir: dir})
	js2, _ := jetstream.New(natstest.Connect(t, s2))
	st, err := js2.Stream(ctx, "R")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil || info.State.Msgs != 10 {
		t.Fatalf("after restart: %+v, %v; want 10 messages", info, err)
	}
}

func TestShutdownIdempotent(t *testing.T) {
	s, err := natsembed.Start(context.Background(), natsembed.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { errs <- s.Shutdown(ctx) }()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Shutdown returned")
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("late Shutdown: %v", err)
	}
}

func TestStartRejectsInvalidConfig(t *testing.T) {
	_, err := natsembed.Start(context.Background(), natsembed.Config{DataDir: t.TempDir(), Host: "192.0.2.1"}, nil)
	if !errors.Is(err, natsembed.ErrInvalidConfig) {
		t.Fatalf("Start = %v, want ErrInvalidConfig", err)
	}
}
