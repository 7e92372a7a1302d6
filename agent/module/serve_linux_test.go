package module_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

// TestServePTY serves a real pty: two MCU processes (here: two opens of
// the pty's slave side) one after the other.
func TestServePTY(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "module")
	l, err := transport.Listen(ctx, "pty:"+path)
	if err != nil {
		if os.Getenv("ATOTA_INTEGRATION") == "1" {
			t.Fatalf("pty: %v", err)
		}
		t.Skipf("no pty here (%v); set ATOTA_INTEGRATION=1 to make this a failure", err)
	}
	defer l.Close()
	m, err := module.New(config(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- m.Serve(serveCtx, l) }()

	for i, cmd := range []atcmd.Command{
		{Name: "+QIOTMCUVER", Kind: atcmd.Set, Args: []atcmd.Arg{atcmd.Str("STM32"), atcmd.Str("1_0_0")}},
		{Name: "+QIOTMCUVER", Kind: atcmd.Set, Args: []atcmd.Arg{atcmd.Str("STM32")}},
	} {
		port, err := transport.Dial(ctx, path)
		if err != nil {
			t.Fatalf("link %d: %v", i+1, err)
		}
		c := atcmd.NewClient(port)
		resp, err := c.Do(ctx, cmd)
		if err != nil {
			t.Fatalf("link %d: %s: %v", i+1, cmd, err)
		}
		if i == 1 {
			if want := `+QIOTMCUVER: "STM32","1_0_0"`; len(resp.Lines) != 1 || resp.Lines[0] != want {
				t.Errorf("link 2: %s: got %q, want [%q]", cmd, resp.Lines, want)
			}
		}
		c.Close()
	}
	stop()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
