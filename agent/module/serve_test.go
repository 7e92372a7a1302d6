package module_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

// fakeListener hands out the links sent on conns; when conns is closed,
// Accept fails with err.
type fakeListener struct {
	conns chan io.ReadWriteCloser
	err   error
}

func (l *fakeListener) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	select {
	case c, ok := <-l.conns:
		if !ok {
			return nil, l.err
		}
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestServeNextLink checks that Serve serves the next link once the peer
// closed the first, with the module's state carried over.
func TestServeNextLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := module.New(config(nil))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		l := &fakeListener{conns: make(chan io.ReadWriteCloser, 2)}
		a1, b1 := transport.Pipe()
		a2, b2 := transport.Pipe()
		l.conns <- a1
		l.conns <- a2
		ctx, cancel := context.WithCancel(t.Context())
		served := make(chan error, 1)
		go func() { served <- m.Serve(ctx, l) }()

		c1 := atcmd.NewClient(b1)
		if _, err := c1.Do(ctx, atcmd.Command{}); err != nil {
			t.Fatalf("first link: AT: %v", err)
		}
		set := atcmd.Command{Name: "+QIOTMCUVER", Kind: atcmd.Set, Args: []atcmd.Arg{atcmd.Str("STM32"), atcmd.Str("1_0_0")}}
		if _, err := c1.Do(ctx, set); err != nil {
			t.Fatalf("first link: %s: %v", set, err)
		}
		c1.Close()

		c2 := atcmd.NewClient(b2)
		defer c2.Close()
		resp, err := c2.Do(ctx, atcmd.Command{Name: "+QIOTMCUVER", Kind: atcmd.Read})
		if err != nil {
			t.Fatalf("second link: AT+QIOTMCUVER?: %v", err)
		}
		if want := `+QIOTMCUVER: "STM32","1_0_0"`; len(resp.Lines) != 1 || resp.Lines[0] != want {
			t.Errorf("second link: AT+QIOTMCUVER?: got %q, want [%q]", resp.Lines, want)
		}
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve after cancel: %v, want nil", err)
		}
	})
}

// TestServeAcceptError checks that Serve returns a failing Accept's error.
func TestServeAcceptError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := module.New(config(nil))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		broken := errors.New("port unplugged")
		l := &fakeListener{conns: make(chan io.ReadWriteCloser), err: broken}
		close(l.conns)
		err = m.Serve(t.Context(), l)
		if !errors.Is(err, broken) {
			t.Fatalf("Serve: got %v, want %v", err, broken)
		}
		if got := err.Error(); got[:8] != "module: " {
			t.Errorf("Serve: error %q, want the prefix \"module: \"", got)
		}
	})
}
