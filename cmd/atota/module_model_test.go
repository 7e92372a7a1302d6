package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

// TestModuleModelFlags checks the errors of --model and --replies.
func TestModuleModelFlags(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("- command: AT+X\n  result: MAYBE\n"), 0o644)
	tests := []struct {
		name    string
		args    []string
		code    int
		errText []string
	}{
		{name: "unknown model", args: []string{"--model", "sim7600"}, code: exitUsage, errText: []string{"sim7600", "bc660k-gl", "ec800m"}},
		{name: "broken replies", args: []string{"--replies", bad}, code: exitFailure, errText: []string{bad + ":2", "replies[0].result", "MAYBE"}},
		{name: "missing replies", args: []string{"--replies", filepath.Join(dir, "nope.yaml")}, code: exitFailure, errText: []string{"nope.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			args := append([]string{"module", "--port", "pty:" + filepath.Join(dir, "m"), "--plans", dir, "--state", filepath.Join(dir, "s.json")}, tt.args...)
			code := run(context.Background(), args, &bytes.Buffer{}, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\n%s", code, tt.code, stderr.String())
			}
			for _, s := range tt.errText {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr %q lacks %q", stderr.String(), s)
				}
			}
		})
	}
}

// TestModuleModel runs atota module as an NB-IoT module with a replies
// file and no event delays, and talks to it over TCP.
func TestModuleModel(t *testing.T) {
	dir := t.TempDir()
	replies := filepath.Join(dir, "replies.yaml")
	os.WriteFile(replies, []byte("replies:\n  - command: AT+QENG=\"servingcell\"\n    lines: ['+QENG: \"servingcell\",\"NOCONN\"']\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"module", "--port", "tcp-listen://127.0.0.1:0", "--plans", dir, "--state", filepath.Join(dir, "state.json"),
			"--product", "p1demo", "--model", "BC660K", "--replies", replies, "--event-delay", "0", "--reg-delay", "0"}, &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		cancel()
		if c := <-code; c != 0 {
			t.Errorf("exit code %d, want 0\n%s", c, stderr.String())
		}
	}()
	var port string
	for deadline := time.Now().Add(20 * time.Second); port == ""; {
		if time.Now().After(deadline) {
			t.Fatalf("no address on stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
		if m := regexp.MustCompile(`serving on (\S+)`).FindStringSubmatch(stderr.String()); m != nil {
			port = m[1]
		}
	}
	link, err := transport.Dial(ctx, "tcp://"+port)
	if err != nil {
		t.Fatal(err)
	}
	c := atcmd.NewClient(link)
	defer c.Close()
	evs := c.Subscribe("+QIOTEVT:")
	for _, tc := range []struct{ cmd, want string }{
		{"AT+CGMM", "BC660K-GL"},
		{`AT+QENG="servingcell"`, `+QENG: "servingcell","NOCONN"`},
		{`AT+QIOTCFG="server"`, `+QIOTCFG: "server",0,"coap://iot-south.quectelcn.com:5683"`},
		{"AT+QIOTREG=1", ""},
	} {
		cmd, _ := atcmd.ParseCommand(tc.cmd)
		resp, err := c.Do(ctx, cmd)
		if err != nil || tc.want != "" && (len(resp.Lines) != 1 || resp.Lines[0] != tc.want) {
			t.Errorf("%s: %v %v, want %q", tc.cmd, resp, err, tc.want)
		}
	}
	ectx, ecancel := context.WithTimeout(ctx, 10*time.Second)
	defer ecancel()
	for _, want := range []string{"+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200"} {
		if l, err := evs.Next(ectx); l != want {
			t.Errorf("event %q, %v; want %s", l, err, want)
		}
	}
	if !strings.Contains(stderr.String(), "model=BC660K-GL") || !strings.Contains(stderr.String(), "piece_size=16384") {
		t.Errorf("the log does not show the model and its piece size:\n%s", stderr.String())
	}
}
