package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

func TestControlAddr(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: "8321", want: "127.0.0.1:8321"},
		{in: ":8321", want: "127.0.0.1:8321"},
		{in: "127.0.0.1:0", want: "127.0.0.1:0"},
		{in: "localhost:80", want: "localhost:80"},
		{in: "0.0.0.0:8321", want: "0.0.0.0:8321"},
		{in: "[::1]:8321", want: "[::1]:8321"},
		{in: "99999", err: true},
		{in: "host", err: true},
		{in: "host:port", err: true},
		{in: "", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := controlAddr(tt.in)
			switch {
			case tt.err && err == nil:
				t.Errorf("controlAddr(%q) = %q, want an error", tt.in, got)
			case !tt.err && (err != nil || got != tt.want):
				t.Errorf("controlAddr(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestModuleControlEndpoint runs atota module with --control and changes
// the signal the MCU sees through it.
func TestModuleControlEndpoint(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"module", "--port", "tcp-listen://127.0.0.1:0", "--plans", dir,
			"--state", dir + "/state.json", "--product", "p1demo", "--control", "127.0.0.1:0"}, &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		cancel()
		if c := <-code; c != 0 {
			t.Errorf("exit code %d, want 0\n%s", c, stderr.String())
		}
	}()
	var ctl, port string
	deadline := time.Now().Add(20 * time.Second)
	for ctl == "" || port == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no addresses on stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
		out := stderr.String()
		if m := regexp.MustCompile(`control endpoint on (http://\S+)/v1/status`).FindStringSubmatch(out); m != nil {
			ctl = m[1]
		}
		if m := regexp.MustCompile(`serving on (\S+)`).FindStringSubmatch(out); m != nil {
			port = m[1]
		}
	}

	resp, err := http.Post(ctl+"/v1/signal", "application/json", strings.NewReader(`{"csq": 9}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/signal: %s", resp.Status)
	}
	link, err := transport.Dial(ctx, "tcp://"+port)
	if err != nil {
		t.Fatal(err)
	}
	c := atcmd.NewClient(link)
	defer c.Close()
	r, err := c.Do(ctx, atcmd.Command{Name: "+CSQ"})
	if err != nil || len(r.Lines) != 1 || r.Lines[0] != "+CSQ: 9,99" {
		t.Fatalf("AT+CSQ after POST /v1/signal: %v %v, want +CSQ: 9,99", r, err)
	}

	resp, err = http.Get(ctl + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		CSQ  int  `json:"csq"`
		Link bool `json:"link"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.CSQ != 9 || !st.Link {
		t.Errorf("GET /v1/status: %+v %v, want csq 9 and a link", st, err)
	}
}
