package scenario

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atota/atota/agent/mcu"
	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/flashsim"
	"github.com/atota/atota/transport"
)

// externalMCU plays a real MCU on the other end of a pty: it waits for
// the link, then runs update cycles until one succeeds or ctx ends.
func externalMCU(ctx context.Context, t *testing.T, link string) {
	for {
		if _, err := os.Lstat(link); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	port, err := transport.Dial(ctx, link)
	if err != nil {
		t.Errorf("external MCU: %v", err)
		return
	}
	c := atcmd.NewClient(port)
	defer c.Close()
	target, err := mcu.NewFlashTarget(flashsim.New(mustPart(t, "stm32f103cb")))
	if err != nil {
		t.Errorf("external MCU: %v", err)
		return
	}
	cfg := mcu.DefaultConfig()
	cfg.Components = []mcu.Component{{ID: "STM32", Version: "1_0_0"}}
	cfg.Target = target
	cfg.PlanTimeout = time.Second
	for ctx.Err() == nil {
		if res, err := mcu.Run(ctx, c, cfg); err == nil && len(res.Updated) > 0 {
			return
		}
	}
}

func mustPart(t *testing.T, name string) flashsim.Part {
	p, err := flashsim.LookupPart(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExternalMCU serves an MCU on a pty, as a board on a virtual serial
// pair would be: the run ends when it reports the new version.
func TestExternalMCU(t *testing.T) {
	link := filepath.Join(t.TempDir(), "mcu")
	sc, err := Parse("external.yaml", []byte(`
name: external-mcu
timeout: 30s
module:
  event_delay: 2ms
  reg_delay: 2ms
  plans:
    - components: [{id: STM32, target_version: 2_0_0, size: 8KiB}]
mcu:
  port: pty:`+link+`
faults:
  - {type: urc_storm, count: 20, at: {event: "7,10703"}}
expect:
  result: updated
  versions: {STM32: 2_0_0}
  events: ["fault:urc_storm", "7,10705"]
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		externalMCU(ctx, t, link)
	}()
	res, err := Run(t.Context(), sc, 1, Options{})
	cancel()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed() {
		var b bytes.Buffer
		res.WriteSummary(&b)
		t.Fatalf("the run failed:\n%s", b.String())
	}
}

// TestExternalModule drives a module served on a pty, as a real module
// on a serial adapter would be, with the emulated MCU.
func TestExternalModule(t *testing.T) {
	dir := t.TempDir()
	helper, err := Parse("plans.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	bs, err := buildAll(helper)
	if err != nil {
		t.Fatal(err)
	}
	if err := writePlans(helper, bs, dir, time.Now().UTC().Truncate(time.Minute)); err != nil {
		t.Fatal(err)
	}
	plans, err := plan.OpenDir(filepath.Join(dir, "plans"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := module.DefaultConfig()
	cfg.Plans = plans
	cfg.ProductKey, cfg.ProductSecret = DefaultProduct, "secret"
	cfg.EventDelay, cfg.RegDelay = 2*time.Millisecond, 2*time.Millisecond
	m, err := module.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	link := filepath.Join(dir, "module")
	l, err := transport.Listen(t.Context(), "pty:"+link)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan struct{})
	go func() {
		defer close(served)
		m.Serve(ctx, l)
	}()
	defer func() { cancel(); l.Close(); <-served }()

	sc, err := Parse("real-module.yaml", []byte(`
name: real-module
timeout: 30s
module:
  port: `+link+`
mcu:
  attempts: 3
  timeouts: {plan: 1s}
faults:
  - {type: flips, direction: to_mcu, rate: 0.001, at: {bytes: 3000}, for: 100ms}
expect:
  result: updated
  versions: {STM32: 2_0_0}
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(t.Context(), sc, 3, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed() {
		var b bytes.Buffer
		res.WriteSummary(&b)
		t.Fatalf("the run failed:\n%s", b.String())
	}
}
