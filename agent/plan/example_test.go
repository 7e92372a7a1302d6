package plan_test

import (
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/atota/atota/agent/plan"
)

func Example() {
	d, err := plan.OpenDir("testdata/plans")
	if err != nil {
		log.Fatal(err)
	}
	plans, errs := d.Load()
	for _, err := range errs {
		fmt.Println("refused:", err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dev := plan.Device{Product: "p1demo", Key: "866123456789012", Versions: map[string]string{"STM32": "1_0_0"}}
	for _, p := range plans {
		i, err := p.Next(now, dev)
		if err != nil {
			fmt.Printf("%s: %v\n", p.Name, errors.Unwrap(err))
			continue
		}
		c := p.Components[i]
		fmt.Printf("%s: upgrade %s to %s; battery >= %d%%, signal >= %d dBm\n",
			p.Name, c.ID, c.TargetVersion, p.MinBattery(), p.MinSignalDBm())
	}
	// Output:
	// refused: testdata/plans/broken.json: window.end: 2025-01-01 00:00 is not after window.start 2026-01-01 00:00
	// testdata/plans/broken.json: components[0].specified_versions[0]: "1_0_0;1_1_0" contains ';': write each version as its own list entry
	// testdata/plans/broken.json: components[0].file: "../stm32.bin" leaves the plans directory: write a path inside it, without climbing out with ".."
	// stm32-2.0.0: upgrade STM32 to 2_0_0; battery >= 30%, signal >= -113 dBm
	// stm32-2.1.0-delta: plan not activated
}

func ExampleParse() {
	_, err := plan.Parse("plans/x.json", []byte(`{
  "name": "stm32-2.0.0", "product": "p1demo", "timezone": "+08:00",
  "window": {"start": "2026-01-01 00:00", "end": "2027-01-01 00:00"},
  "mode": "silent", "push_period": {"from": 22, "to": 2},
  "components": [{"type": "mcu", "id": "STM32", "package": "full", "target_version": "2_0_0",
                  "specified_versions": ["1","2","3","4","5","6","7","8","9"], "file": "fw.bin"}],
  "colour": "blue"
}`))
	for _, e := range plan.Errors(err) {
		fmt.Println(e)
	}
	// Output:
	// plans/x.json: colour: unknown field; known fields: name, product, state, blacklist, whitelist, timezone, window, push_period, mode, auto_confirm, push_actively, rejection_minutes, strategy, components, texts
	// plans/x.json: components[0].specified_versions: 9 versions, at most 8
}

func ExampleDigest() {
	d, err := plan.Digest(strings.NewReader("123456789"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Size, d.MD5)
	fmt.Printf("CRC %#08x (%v)\n", d.CRC, plan.DefaultCRC)
	// Output:
	// 9 25f9e794323b453885f5181f1b624d0b
	// CRC 0x0376e6e7 (CRC-32/MPEG-2)
}
