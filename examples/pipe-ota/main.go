// Command pipe-ota wires the pieces of atota together in one process: an
// emulated module serving a plans directory and the MCU side taking the
// update, joined by an in-memory link instead of a serial port. It is the
// smallest complete OTA, to read or to start a harness from.
//
//	go run ./examples/pipe-ota
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/atota/atota/agent/mcu"
	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

const planJSON = `{
  "name": "app-2.0.0", "product": "p1demo", "timezone": "+00:00",
  "window": {"start": "2020-01-01 00:00", "end": "2099-01-01 00:00"},
  "mode": "silent",
  "components": [{"type": "mcu", "id": "APP", "package": "full",
                  "target_version": "2.0.0", "file": "app.bin"}]
}`

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "pipe-ota-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	image := make([]byte, 10000)
	for i := range image {
		image[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.bin"), image, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "app.json"), []byte(planJSON), 0o644); err != nil {
		return err
	}
	plans, err := plan.OpenDir(dir)
	if err != nil {
		return err
	}

	// The module, on one end of the link.
	mcfg := module.DefaultConfig()
	mcfg.Plans = plans
	mcfg.ProductKey, mcfg.ProductSecret = "p1demo", "secret"
	mcfg.PieceSize = 4096
	m, err := module.New(mcfg)
	if err != nil {
		return err
	}
	defer m.Close()
	moduleEnd, mcuEnd := transport.Pipe()
	served := make(chan error, 1)
	go func() { served <- m.Server().Serve(ctx, moduleEnd) }()

	// The MCU, on the other, writing the image to a file.
	c := atcmd.NewClient(mcuEnd)
	target, err := mcu.OpenTarget("file:" + filepath.Join(dir, "written.bin"))
	if err != nil {
		return err
	}
	cfg := mcu.DefaultConfig()
	cfg.Components = []mcu.Component{{ID: "APP", Version: "1.0.0"}}
	cfg.Target = target
	res, err := mcu.Run(ctx, c, cfg)
	c.Close()
	<-served
	if err != nil {
		return err
	}
	for _, u := range res.Updated {
		fmt.Printf("%s %s -> %s: %d bytes, %d pieces, MD5 %s\n", u.Component, u.From, u.To, u.Digests.Size, u.Pieces, u.Digests.MD5)
	}
	return nil
}
