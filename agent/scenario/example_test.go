package scenario_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/atota/atota/agent/scenario"
)

func ExampleParse() {
	_, err := scenario.Parse("x.yaml", []byte(`
module:
  plans:
    - components: [{id: STM32, target_version: 2_0_0}]
faults:
  - type: flips
    rate: 1.5
`))
	var se *scenario.SchemaError
	if errors.As(err, &se) {
		fmt.Println(se.Line, se.Field)
	}
	fmt.Println(err)
	// Output:
	// 7 faults[0].rate
	// scenario: x.yaml:7:11: faults[0].rate: 1.5: want a chance per byte above 0 and at most 1, such as 0.0001
}

func ExampleRun() {
	sc, err := scenario.Parse("reboot.yaml", []byte(`
module:
  piece_size: 4KiB
  event_delay: 1ms
  reg_delay: 1ms
  plans:
    - components: [{id: STM32, target_version: 2_0_0, size: 12KiB}]
mcu:
  timeouts: {command: 500ms, read: 500ms, plan: 500ms}
faults:
  - type: module_reboot
    at: {bytes: 6000}
    down: 100ms
expect:
  versions: {STM32: 2_0_0}
  events: ["module:up", "7,10705"]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := scenario.Run(context.Background(), sc, 1, scenario.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Outcome, res.Passed())
	for _, c := range res.Checks {
		fmt.Println(c.Name, c.OK)
	}
	// Output:
	// updated true
	// versions.STM32 true
	// events module:up true
	// events 7,10705 true
	// corrupt images reported good true
}
