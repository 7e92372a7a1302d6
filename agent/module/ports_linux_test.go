package module_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

// need skips the test when tool is missing, or fails it when
// ATOTA_INTEGRATION=1 says the environment must have it.
func need(t *testing.T, tool string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("ATOTA_INTEGRATION") == "1" {
		t.Fatalf("%s: %v (ATOTA_INTEGRATION=1: the environment must have it)", tool, err)
	}
	t.Skipf("%s: %v; set ATOTA_INTEGRATION=1 to make this a failure", tool, err)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitPath waits for a path (a pty link that socat creates) to appear.
func waitPath(t *testing.T, path string) {
	t.Helper()
	for range 500 {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}

// socat starts socat with args until the test ends.
func socat(t *testing.T, args ...string) {
	t.Helper()
	path, err := exec.LookPath("socat")
	need(t, "socat", err)
	cmd := exec.Command(path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("socat stderr:\n%s", stderr.String())
		}
	})
}

// TestPorts serves a whole update on each PORT form, with a real MCU side:
// a serial device, a pty, raw TCP both ways, and socat bridging a pty to
// TCP both ways (as ser2net does). Where the MCU side can go away and come
// back, it does, and the module serves it again.
func TestPorts(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the module's PORT and how the MCU connects.
		setup     func(t *testing.T, dir string) (port string, dial func(ctx context.Context) (io.ReadWriteCloser, error))
		reconnect bool
	}{
		{name: "serial device", setup: func(t *testing.T, dir string) (string, func(context.Context) (io.ReadWriteCloser, error)) {
			a, b := filepath.Join(dir, "module"), filepath.Join(dir, "mcu")
			pair, err := transport.NewPair(a, b)
			need(t, "pty", err)
			t.Cleanup(func() { pair.Close() })
			return a, func(ctx context.Context) (io.ReadWriteCloser, error) { return transport.Dial(ctx, b) }
		}},
		{name: "pty", reconnect: true, setup: func(t *testing.T, dir string) (string, func(context.Context) (io.ReadWriteCloser, error)) {
			link := filepath.Join(dir, "module")
			return "pty:" + link, func(ctx context.Context) (io.ReadWriteCloser, error) {
				waitPath(t, link)
				return transport.Dial(ctx, link)
			}
		}},
		{name: "tcp-listen", reconnect: true, setup: func(t *testing.T, dir string) (string, func(context.Context) (io.ReadWriteCloser, error)) {
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			return "tcp-listen://" + addr, func(ctx context.Context) (io.ReadWriteCloser, error) {
				return transport.Dial(ctx, "tcp://"+addr)
			}
		}},
		{name: "tcp", reconnect: true, setup: func(t *testing.T, dir string) (string, func(context.Context) (io.ReadWriteCloser, error)) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			return "tcp://" + ln.Addr().String(), func(ctx context.Context) (io.ReadWriteCloser, error) { return ln.Accept() }
		}},
		{name: "socat pty to tcp-listen", setup: func(t *testing.T, dir string) (string, func(context.Context) (io.ReadWriteCloser, error)) {
			port := freePort(t)
			link := filepath.Join(dir, "mcu")
			socat(t, "PTY,raw,echo=0,link="+link, fmt.Sprintf("TCP:127.0.0.1:%d,retry=100,interval=0.05", port))
			return fmt.Sprintf("tcp-listen://127.0.0.1:%d", port), func(ctx context.Context) (io.ReadWriteCloser, error) {
				waitPath(t, link)
				return transport.Dial(ctx, link)
			}
		}},
		{name: "socat raw TCP server (ser2net)", setup: func(t *testing.T, dir string) (string, func(context.Context) (io.ReadWriteCloser, error)) {
			port := freePort(t)
			link := filepath.Join(dir, "mcu")
			socat(t, fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr", port), "PTY,raw,echo=0,link="+link)
			return fmt.Sprintf("tcp://127.0.0.1:%d", port), func(ctx context.Context) (io.ReadWriteCloser, error) {
				waitPath(t, link)
				return transport.Dial(ctx, link)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p, data := onePlan(t, 5000, 0)
			port, dial := tt.setup(t, t.TempDir())
			l, err := transport.Listen(ctx, port)
			need(t, port, err)
			defer l.Close()
			cfg := config(p.dir())
			cfg.PieceSize = 3000
			m, err := module.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			serveCtx, stop := context.WithCancel(ctx)
			served := make(chan error, 1)
			go func() { served <- m.Serve(serveCtx, l) }()
			defer func() {
				stop()
				if err := <-served; err != nil {
					t.Errorf("Serve: %v", err)
				}
			}()

			link, err := dial(ctx)
			if err != nil {
				t.Fatalf("MCU side: %v", err)
			}
			c := atcmd.NewClient(link)
			hello(ctx, t, c)
			if got := update(ctx, t, c); !bytes.Equal(got, data) {
				t.Errorf("read %d bytes that differ from the %d-byte package", len(got), len(data))
			}
			c.Close()
			if !tt.reconnect {
				return
			}
			link, err = dial(ctx)
			if err != nil {
				t.Fatalf("MCU side, again: %v", err)
			}
			c = atcmd.NewClient(link)
			defer c.Close()
			hello(ctx, t, c)
			resp, err := c.Do(ctx, atcmd.Command{Name: "+QIOTMCUVER", Kind: atcmd.Read})
			if err != nil || len(resp.Lines) != 1 || resp.Lines[0] != `+QIOTMCUVER: "STM32","2_0_0"` {
				t.Errorf("second link: AT+QIOTMCUVER?: %v %v", resp, err)
			}
		})
	}
}

// hello sends AT until the module answers, as MCU firmware does at its
// start: what is sent before the module has its end of the line open is
// lost, as on a UART with nothing attached.
func hello(ctx context.Context, t *testing.T, c *atcmd.Client) {
	t.Helper()
	for {
		actx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		_, err := c.Do(actx, atcmd.Command{})
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the module never answered AT: %v", err)
		}
	}
}

// update runs a whole update of STM32 from 1_0_0 to 2_0_0 as an MCU does
// and returns the bytes it read.
func update(ctx context.Context, t *testing.T, c *atcmd.Client) []byte {
	t.Helper()
	evs := c.Subscribe("+QIOTEVT:")
	defer evs.Close()
	do := func(line string) {
		t.Helper()
		cmd, err := atcmd.ParseCommand(line)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Do(ctx, cmd); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	wait := func(prefix string) string {
		t.Helper()
		for {
			l, err := evs.Next(ctx)
			if err != nil {
				t.Fatalf("waiting for %s: %v", prefix, err)
			}
			if len(l) >= len(prefix) && l[:len(prefix)] == prefix {
				return l
			}
		}
	}
	do("ATE0")
	do(`AT+QIOTMCUVER="STM32","1_0_0"`)
	do("AT+QIOTREG=1")
	wait("+QIOTEVT: 3,10200")
	do("AT+QIOTOTAREQ")
	wait("+QIOTEVT: 7,10700")
	do("AT+QIOTUPDATE=1")
	var got []byte
	for {
		var start, plen int64
		var id string
		var total int64
		l := wait("+QIOTEVT: 7,10703")
		if _, err := fmt.Sscanf(l, "+QIOTEVT: 7,10703,%q,%d,%d,%d", &id, &total, &start, &plen); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		for off := start; off < start+plen; {
			cmd := atcmd.Command{Name: "+QIOTOTARD", Kind: atcmd.Set, Args: []atcmd.Arg{atcmd.Int(off), atcmd.Int(1024)}}
			resp, err := c.DoPayload(ctx, cmd, otardLen)
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			got = append(got, resp.Payload...)
			off += int64(len(resp.Payload))
		}
		if start+plen >= total {
			break
		}
		do("AT+QIOTUPDATE=2")
	}
	do("AT+QIOTUPDATE=3")
	wait("+QIOTEVT: 7,10704")
	do(`AT+QIOTMCUVER="STM32","2_0_0"`)
	wait("+QIOTEVT: 7,10705")
	return got
}
