package atcmd_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/atcmd/atcmdtest"
	"github.com/atota/atota/transport"
)

func testMux(srvp **atcmd.Server) *atcmd.Mux {
	mux := atcmd.NewMux()
	mux.HandleFunc("", func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error { return nil })
	mux.HandleFunc("+CSQ", func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
		return w.WriteLine("+CSQ: 25,99")
	})
	// +SLOW raises a URC while it runs: it must come after the final result.
	mux.HandleFunc("+SLOW", func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
		(*srvp).Notify("+QIOTEVT: 7,10702")
		return w.WriteLine("+SLOW: done")
	})
	mux.HandleFunc("+DENY", func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
		return atcmd.CMEOperationNotAllowed
	})
	mux.HandleFunc("+BIN", func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
		data := []byte("\r\nOK\r\n\x00ERROR\r\n+QIOTEVT: 1\r\n")
		w.WriteLine("+BIN: 0," + strconv.Itoa(len(data)))
		w.Write(data)
		_, err := w.Write([]byte("\r\n"))
		return err
	})
	return mux
}

func binLen(line string) (int, bool) {
	v, ok := strings.CutPrefix(line, "+BIN: ")
	if !ok {
		return 0, false
	}
	_, n, _ := strings.Cut(v, ",")
	k, err := strconv.Atoi(n)
	return k, err == nil
}

// rawLink runs a server on one end of a pipe and gives the test the other
// end, to check the exact bytes.
func rawLink(t *testing.T, opts ...atcmd.ServerOption) (io.ReadWriteCloser, *atcmd.Server) {
	t.Helper()
	var srv *atcmd.Server
	srv = atcmd.NewServer(testMux(&srv), opts...)
	a, b := transport.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, a) }()
	t.Cleanup(func() {
		cancel()
		b.Close()
		<-done
	})
	return b, srv
}

// expect reads from r until it has len(want) bytes and compares. A link
// that stays silent fails the test after a generous bound instead of
// hanging it.
func expect(t *testing.T, r io.Reader, want string) {
	t.Helper()
	got := make([]byte, len(want))
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(r, got)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("reading %q: %v (got %q)", want, err, got)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no answer: want %q", want)
	}
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestServerFraming(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "echo and OK", in: "AT\r", want: "AT\r\r\nOK\r\n"},
		{name: "info line", in: "AT+CSQ\r\n", want: "AT+CSQ\r\r\n+CSQ: 25,99\r\n\r\nOK\r\n"},
		{name: "unknown", in: "AT+NOPE\r", want: "AT+NOPE\r\r\nERROR\r\n"},
		{name: "garbage", in: "\x01\x02garbage\r", want: "\x01\x02garbage\r\r\nERROR\r\n"},
		{name: "CME off", in: "AT+DENY\r", want: "AT+DENY\r\r\nERROR\r\n"},
		{name: "CME numeric", in: "AT+CMEE=1;+DENY\r", want: "AT+CMEE=1;+DENY\r\r\n+CME ERROR: 3\r\n"},
		{name: "CME text", in: "AT+CMEE=2\rAT+DENY\r", want: "AT+CMEE=2\r\r\nOK\r\nAT+DENY\r\r\n+CME ERROR: operation not allowed\r\n"},
		{name: "URC after final", in: "AT+SLOW\r", want: "AT+SLOW\r\r\n+SLOW: done\r\n\r\nOK\r\n\r\n+QIOTEVT: 7,10702\r\n"},
		{name: "echo off", in: "ATE0\rAT+CSQ\r", want: "ATE0\r\r\nOK\r\n\r\n+CSQ: 25,99\r\n\r\nOK\r\n"},
		{name: "backspace", in: "AT+CSX\bQ\r", want: "AT+CSX\bQ\r\r\n+CSQ: 25,99\r\n\r\nOK\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link, _ := rawLink(t)
			if _, err := io.WriteString(link, tt.in); err != nil {
				t.Fatal(err)
			}
			expect(t, link, tt.want)
		})
	}
}

func TestServerOversizedLine(t *testing.T) {
	link, _ := rawLink(t, atcmd.WithEcho(false))
	long := "AT+" + strings.Repeat("X", 5000) + "\r"
	io.WriteString(link, long)
	expect(t, link, "\r\nERROR\r\n")
	io.WriteString(link, "AT\r")
	expect(t, link, "\r\nOK\r\n")
}

func TestServerKeepsEchoAcrossConnections(t *testing.T) {
	var srv *atcmd.Server
	srv = atcmd.NewServer(testMux(&srv))
	for i, want := range []string{"ATE0\r\r\nOK\r\n", "\r\nOK\r\n"} {
		a, b := transport.Pipe()
		done := make(chan error, 1)
		go func() { done <- srv.Serve(context.Background(), a) }()
		io.WriteString(b, []string{"ATE0\r", "AT\r"}[i])
		expect(t, b, want)
		b.Close()
		if err := <-done; err != nil {
			t.Fatalf("Serve after the peer closed = %v, want nil", err)
		}
	}
}

func TestNotifyWithoutConnectionIsDropped(t *testing.T) {
	srv := atcmd.NewServer(atcmd.NewMux())
	srv.Notify("+QIOTEVT: 2,10200") // must not block or panic
}

func TestClient(t *testing.T) {
	var srv *atcmd.Server
	c, s := atcmdtest.Pair(t, atcmd.HandlerFunc(func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
		return testMux(&srv).ServeAT(ctx, w, r)
	}))
	srv = s
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evt := c.Subscribe("+QIOTEVT:")
	defer evt.Close()

	t.Run("info line", func(t *testing.T) {
		resp, err := c.Do(ctx, atcmd.Command{Name: "+CSQ"})
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := resp.Value("+CSQ"); !ok || v != "25,99" {
			t.Errorf("Value(+CSQ) = %q, %v; lines %q", v, ok, resp.Lines)
		}
	})
	t.Run("URC during a command", func(t *testing.T) {
		resp, err := c.Do(ctx, atcmd.Command{Name: "+SLOW"})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Lines) != 1 || resp.Lines[0] != "+SLOW: done" {
			t.Errorf("lines = %q, want only the command's own line", resp.Lines)
		}
		urc, err := evt.Next(ctx)
		if err != nil || urc != "+QIOTEVT: 7,10702" {
			t.Errorf("URC = %q, %v", urc, err)
		}
	})
	t.Run("unsolicited while idle", func(t *testing.T) {
		srv.Notify("+QIOTEVT: 2,10200")
		urc, err := evt.Next(ctx)
		if err != nil || urc != "+QIOTEVT: 2,10200" {
			t.Errorf("URC = %q, %v", urc, err)
		}
	})
	t.Run("payload with CR LF NUL and OK", func(t *testing.T) {
		resp, err := c.DoPayload(ctx, atcmd.Command{Name: "+BIN"}, binLen)
		if err != nil {
			t.Fatal(err)
		}
		want := []byte("\r\nOK\r\n\x00ERROR\r\n+QIOTEVT: 1\r\n")
		if !bytes.Equal(resp.Payload, want) {
			t.Errorf("payload = %q, want %q", resp.Payload, want)
		}
	})
	t.Run("ERROR", func(t *testing.T) {
		_, err := c.Do(ctx, atcmd.Command{Name: "+NOPE"})
		if !errors.Is(err, atcmd.ErrError) {
			t.Errorf("err = %v, want ErrError", err)
		}
	})
	t.Run("CME", func(t *testing.T) {
		if _, err := c.Do(ctx, atcmd.Command{Name: "+CMEE", Kind: atcmd.Set, Args: []atcmd.Arg{atcmd.Int(2)}}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Do(ctx, atcmd.Command{Name: "+DENY"})
		var cme atcmd.CMEError
		if !errors.As(err, &cme) || cme != atcmd.CMEOperationNotAllowed {
			t.Errorf("err = %v, want CME 3", err)
		}
	})
	t.Run("echo off", func(t *testing.T) {
		if _, err := c.Do(ctx, atcmd.Command{Name: "E", Kind: atcmd.Set, Args: []atcmd.Arg{atcmd.Int(0)}}); err != nil {
			t.Fatal(err)
		}
		if srv.Echo() {
			t.Error("echo still on after ATE0")
		}
		if _, err := c.Do(ctx, atcmd.Command{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestClientResync checks that after a command times out its late answer
// is not taken for the next command's. It runs in a synctest bubble, so the
// delays are exact.
func TestClientResync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := transport.Pipe()
		c := atcmd.NewClient(b, atcmd.WithQuiet(100*time.Millisecond))
		defer c.Close()
		defer a.Close()
		// A peer that answers the first command 50 ms late, then the
		// second at once.
		go func() {
			lr := atcmd.NewLineReader(a, 0)
			lr.ReadLine()
			time.Sleep(50 * time.Millisecond)
			io.WriteString(a, "\r\n+CSQ: 1,1\r\n\r\nOK\r\n")
			lr.ReadLine()
			io.WriteString(a, "\r\n+CSQ: 2,2\r\n\r\nOK\r\n")
		}()
		ctx1, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if _, err := c.Do(ctx1, atcmd.Command{Name: "+CSQ"}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("first Do = %v, want a deadline error", err)
		}
		ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel2()
		resp, err := c.Do(ctx2, atcmd.Command{Name: "+CSQ"})
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := resp.Value("+CSQ"); v != "2,2" {
			t.Errorf("second answer = %q, want 2,2 (the late answer leaked)", v)
		}
	})
}

func TestClientLinkClosed(t *testing.T) {
	a, b := transport.Pipe()
	c := atcmd.NewClient(b)
	sub := c.Subscribe("+QIOTEVT:")
	a.Close()
	<-c.Done()
	if _, err := c.Do(context.Background(), atcmd.Command{}); !errors.Is(err, atcmd.ErrClosed) {
		t.Errorf("Do on a closed link = %v, want ErrClosed", err)
	}
	if _, err := sub.Next(context.Background()); !errors.Is(err, atcmd.ErrClosed) {
		t.Errorf("Next on a closed link = %v, want ErrClosed", err)
	}
	c.Close()
}
