package transport

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/atota/atota/internal/mosquittotest"
)

func TestMatchTopic(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{filter: "/ota/device/upgrade/+/+", topic: "/ota/device/upgrade/pk/dn", want: true},
		{filter: "/ota/device/upgrade/+/+", topic: "/ota/device/upgrade/pk", want: false},
		{filter: "/ota/device/upgrade/+/+", topic: "/ota/device/upgrade/pk/dn/x", want: false},
		{filter: "a/#", topic: "a", want: true},
		{filter: "a/#", topic: "a/b/c", want: true},
		{filter: "#", topic: "a/b", want: true},
		{filter: "#", topic: "$oc/devices/d", want: false},
		{filter: "+/devices/d", topic: "$oc/devices/d", want: false},
		{filter: "$oc/devices/+/sys/events/down", topic: "$oc/devices/d1/sys/events/down", want: true},
		{filter: "a/b", topic: "a/b", want: true},
		{filter: "a/b", topic: "a/c", want: false},
		{filter: "a/+", topic: "a/", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.filter+" "+tt.topic, func(t *testing.T) {
			if got := MatchTopic(tt.filter, tt.topic); got != tt.want {
				t.Errorf("MatchTopic(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
			}
		})
	}
}

func TestBrokerURL(t *testing.T) {
	tests := []struct {
		in, want string
		tls, ok  bool
	}{
		{in: "mqtt://127.0.0.1", want: "tcp://127.0.0.1:1883", ok: true},
		{in: "mqtt://localhost:2883", want: "tcp://localhost:2883", ok: true},
		{in: "mqtts://example.test", want: "ssl://example.test:8883", tls: true, ok: true},
		{in: "tcp://[::1]:1", want: "tcp://[::1]:1", ok: true},
		{in: "http://127.0.0.1", ok: false},
		{in: "mqtt://", ok: false},
		{in: "mqtts://h?ca=/nonexistent.pem", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, cfg, err := brokerURL(tt.in)
			if (err == nil) != tt.ok || tt.ok && (got != tt.want || (cfg != nil) != tt.tls) {
				t.Errorf("brokerURL(%q) = %q, tls %v, %v; want %q, tls %v, ok %v", tt.in, got, cfg != nil, err, tt.want, tt.tls, tt.ok)
			}
		})
	}
}

func newTestClient(t *testing.T, broker, id string) *MQTTClient {
	t.Helper()
	c, err := NewMQTTClient(MQTTConfig{Broker: broker, ClientID: id, MaxReconnectInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestMQTTBrokerRestart publishes while the broker is down: the message
// waits, and after the restart it arrives on a subscription that was made
// again.
func TestMQTTBrokerRestart(t *testing.T) {
	b := mosquittotest.Start(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan string, 10)
	sub := newTestClient(t, b.URL(), "sub")
	if err := sub.Subscribe(ctx, "t/+", func(topic string, p []byte) { got <- topic + " " + string(p) }); err != nil {
		t.Fatal(err)
	}
	if err := sub.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	pub := newTestClient(t, b.URL(), "pub")
	if err := pub.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, "t/1", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, got); m != "t/1 before" {
		t.Fatalf("got %q, want %q", m, "t/1 before")
	}

	b.Stop()
	done := make(chan error, 1)
	go func() { done <- pub.Publish(ctx, "t/2", []byte("while down")) }()
	time.Sleep(300 * time.Millisecond) // let the clients notice
	b.Start()
	if err := <-done; err != nil {
		t.Fatalf("Publish across the restart: %v", err)
	}
	if m := recv(t, got); m != "t/2 while down" {
		t.Fatalf("got %q, want %q", m, "t/2 while down")
	}
}

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no message within 20 s")
		return ""
	}
}

func TestMQTTConnectCanceled(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nobody listens there now
	c := newTestClient(t, "mqtt://"+addr, "x")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.Connect(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Connect = %v, want context.DeadlineExceeded", err)
	}
}

func FuzzMatchTopic(f *testing.F) {
	f.Add("a/+/#", "a/b/c")
	f.Add("#", "$x")
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if MatchTopic(filter, topic) && filter == topic {
			return
		}
		if filter == topic && !strings.ContainsAny(filter, "+#") && !MatchTopic(filter, topic) {
			t.Errorf("MatchTopic(%q, %q) = false for equal names", filter, topic)
		}
	})
}
