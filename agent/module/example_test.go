package module_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

// Example serves a module on an in-memory link and asks it for its
// identity and signal.
func Example() {
	cfg := module.DefaultConfig()
	cfg.CSQ = 18
	m, err := module.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	mod, mcu := transport.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Server().Serve(ctx, mod)
	c := atcmd.NewClient(mcu)
	defer c.Close()

	for _, cmd := range []atcmd.Command{{Name: "I"}, {Name: "+CSQ"}} {
		resp, err := c.Do(ctx, cmd)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(cmd, resp.Lines)
	}
	// Output:
	// ATI [Quectel EC800M Revision: EC800MCNLAR06A01M04]
	// AT+CSQ [+CSQ: 18,99]
}

// Example_ota walks an MCU through the start of an update: declare the
// component, register, ask for a plan, confirm it and read the first
// bytes of the package.
func Example_ota() {
	dir, err := os.MkdirTemp("", "plans")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "fw.bin"), []byte("firmware 2.0.0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "stm32.json"), []byte(`{
  "name": "stm32-2.0.0", "product": "p1demo", "timezone": "+00:00",
  "window": {"start": "2000-01-01 00:00", "end": "2100-01-01 00:00"}, "mode": "silent",
  "strategy": {"min_battery": 30},
  "components": [{"type": "mcu", "id": "STM32", "package": "full", "target_version": "2_0_0", "file": "fw.bin"}]
}`), 0o644)
	plans, err := plan.OpenDir(dir)
	if err != nil {
		log.Fatal(err)
	}

	cfg := module.DefaultConfig()
	cfg.Plans = plans
	cfg.ProductKey, cfg.ProductSecret = "p1demo", "secret"
	cfg.EventDelay, cfg.RegDelay = time.Millisecond, time.Millisecond
	m, err := module.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	mod, mcu := transport.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Server().Serve(ctx, mod)
	c := atcmd.NewClient(mcu)
	defer c.Close()
	events := c.Subscribe("+QIOTEVT:")

	do := func(line string, wantEvents int) *atcmd.Response {
		cmd, err := atcmd.ParseCommand(line)
		if err != nil {
			log.Fatal(err)
		}
		resp, err := c.DoPayload(ctx, cmd, func(header string) (int, bool) {
			var start, n int
			_, err := fmt.Sscanf(header, "+QIOTOTARD: %d,%d", &start, &n)
			return n, err == nil
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(line, "OK")
		for range wantEvents {
			ev, err := events.Next(ctx)
			if err != nil {
				log.Fatal(err)
			}
			fmt.Println(" ", ev)
		}
		return resp
	}
	do(`AT+QIOTMCUVER="STM32","1_0_0"`, 0)
	do("AT+QIOTREG=1", 2)
	do("AT+QIOTOTAREQ", 1)
	do("AT+QIOTUPDATE=1", 3)
	resp := do("AT+QIOTOTARD=0,8", 0)
	fmt.Printf("  %s %q\n", resp.Lines[0], resp.Payload)
	// Output:
	// AT+QIOTMCUVER="STM32","1_0_0" OK
	// AT+QIOTREG=1 OK
	//   +QIOTEVT: 2,10200
	//   +QIOTEVT: 3,10200
	// AT+QIOTOTAREQ OK
	//   +QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,15
	// AT+QIOTUPDATE=1 OK
	//   +QIOTEVT: 7,10701,"STM32",15,"0da5e17b34d01b2421f5910aa87ab053",156856524
	//   +QIOTEVT: 7,10702
	//   +QIOTEVT: 7,10703,"STM32",15,0,15
	// AT+QIOTOTARD=0,8 OK
	//   +QIOTOTARD: 0,8 "firmware"
}

// ExampleModule_ControlHandler changes the signal the MCU sees through
// the control endpoint, as a test rig does with
// curl -d '{"csq": 12}' localhost:PORT/v1/signal.
func ExampleModule_ControlHandler() {
	m, err := module.New(module.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ctl := httptest.NewServer(m.ControlHandler())
	defer ctl.Close()

	resp, err := http.Post(ctl.URL+"/v1/signal", "application/json", strings.NewReader(`{"csq": 12}`))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("POST /v1/signal:", resp.Status)

	mod, mcu := transport.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Server().Serve(ctx, mod)
	c := atcmd.NewClient(mcu)
	defer c.Close()
	r, err := c.Do(ctx, atcmd.Command{Name: "+CSQ"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("AT+CSQ:", r.Lines[0])
	// Output:
	// POST /v1/signal: 200 OK
	// AT+CSQ: +CSQ: 12,99
}

// ExampleLookupModel picks the NB-IoT model and shows what it defaults to.
func ExampleLookupModel() {
	md, err := module.LookupModel("bc660k")
	if err != nil {
		log.Fatal(err)
	}
	cfg := md.Config()
	fmt.Println(md.Name, md.Network, md.Server.URL)
	fmt.Println("piece", cfg.PieceSize, "events after", cfg.EventDelay, "registration after", cfg.RegDelay)
	// Output:
	// BC660K-GL nbiot coap://iot-south.quectelcn.com:5683
	// piece 16384 events after 30ms registration after 400ms
}

// ExampleParseReplies reads a replies file, as atota module --replies does.
func ExampleParseReplies() {
	replies, err := module.ParseReplies("replies.yaml", []byte(`
replies:
  - command: AT+QENG="servingcell"
    lines: ['+QENG: "servingcell","NOCONN","LTE"']
  - command: AT+QPOWD*
    delay: 300ms
`))
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range replies {
		fmt.Println(r.Where(), r.Command, r.Lines, time.Duration(r.Delay))
	}
	// Output:
	// replies.yaml:3 AT+QENG="servingcell" [+QENG: "servingcell","NOCONN","LTE"] 0s
	// replies.yaml:5 AT+QPOWD* [] 300ms
}
