// Package scenario runs hardware-in-the-loop scenarios: an OTA update
// between a module and an MCU, either end emulated or a real device on a
// port, through a link that injects faults, checked against
// expectations. atota run is its command line; examples/scenarios holds
// the built-in scenarios.
//
// # File format
//
// A scenario is a YAML file (or JSON, for a name ending in .json) with
// these sections; every field but the plans is optional, and Parse fills
// in the defaults given in the field comments of Scenario, ModuleSpec,
// MCUSpec, LinkSpec, Fault and Expect. Field names are snake_case as
// shown. An error names the file, the line and column, and the field:
//
//	scenarios/x.yaml:14:7: faults[1].rate: 1.5: want a chance per byte above 0 and at most 1
//
//	name: module-reboot              # default: the file name
//	description: The module reboots mid-piece.
//	seed: 1                          # faults are drawn from it; --seed overrides
//	timeout: 60s                     # the whole run
//	module:                          # emulated, fed by the plans below
//	  piece_size: 8KiB               # sizes: 16384, 16K, 16KiB, 1M
//	  csq: 25
//	  event_delay: 2ms               # OK to the events it causes (spec §13.7)
//	  reg_delay: 5ms
//	  plans:                         # spec/plan-format.md, packages generated
//	    - name: stm32-2.0.0
//	      mode: silent               # or manual
//	      window: {start: -1h, end: +24h}   # offsets from the start, or "2026-01-01 00:00"
//	      strategy: {retries: 2, min_battery: 30, min_signal_dbm: -100}
//	      components:
//	        - {id: STM32, target_version: 2_0_0, size: 32KiB}
//	        # package: raw (default), full or delta; sign: true (see Packages)
//	  # or plans_dir: plans         (a plans directory beside the scenario)
//	  # or port: /dev/ttyUSB0       (a real module: the emulated MCU talks to it)
//	  platform: true                 # the plans reach the module through a local platform
//	                                 # (MQTT and HTTP on loopback); implied by the platform faults
//	mcu:                             # emulated: a simulated flash with A/B slots
//	  components: [{id: STM32, version: 1_0_0}]
//	  part: stm32f103cb              # flashsim part
//	  battery: 100
//	  sha256: true
//	  block: 1024
//	  attempts: 3                    # cycles that may fail on their own
//	  retry_delay: 100ms
//	  timeouts: {command: 1s, read: 3s, payload: 10s, register: 10s, plan: 2s, event: 5s}
//	  verify_key: scenario           # signed packages only (or wrong: a key that signed nothing)
//	  # or port: pty:/tmp/atota-mcu (an external MCU; the module serves it there)
//	  #    reset_command, power_off_command, power_on_command: shell commands
//	link:
//	  baud: 115200                   # 0: no rate; durations add the line time (UART model)
//	  pace: false                    # true: both ends paced to the baud in real time
//	faults:
//	  - type: module_reboot
//	    at: {bytes: 12000}           # or time: 2s, event: "7,10703" (+ count), cycle: 2
//	    down: 300ms
//	expect:
//	  result: updated                # updated, refused, failed, no_plan
//	  versions: {STM32: 2_0_0}
//	  events: ["7,10705", "fault:module_reboot"]
//	  no_events: ["7,10706"]
//	  exit_code: 0                   # what atota mcu --once would exit with
//	  max_duration: 30s
//	  max_reread: 0.5                # package bytes read again / package size
//	  max_cycles: 3
//
// A scenario that expects nothing expects result updated. Every run also
// checks that no corrupt image was reported good.
//
// # Faults
//
// Each fault starts when the first condition of its at holds (at once
// without one); lasting ones stop after for.
//
//	flips          rate, direction, for   a bit flipped in a byte, at rate per byte
//	drops          rate, direction, for   bytes lost, at rate per byte
//	delay          delay, jitter, direction, for   each write held back
//	split          direction, for         bytes passed on one at a time
//	link_loss      for                    nothing gets through (both ways)
//	urc_storm      count, interval, lines unsolicited lines from the module
//	module_reboot  down                   the module is off, then boots from its state file
//	mcu_reset                             the MCU resets (or reset_command runs)
//	power_cut      op | every; down       the power fails at a flash operation of the
//	                                      cycle (op), or at operation k*every of cycle k
//	                                      (a sweep); external MCU: the power commands
//	corrupt_block  block | offset, component, repeat   a bit of one AT+QIOTOTARD payload
//	                                      flipped on its way to the MCU
//	clock          advance                the module's clock jumps ahead
//	battery        percent                the MCU's battery level changes
//	signal         csq, for               the module's signal (AT+CSQ) changes
//	confirm                               the user confirms the manual plans in the app
//	random         count, pool            count faults drawn from the seed
//	download_cut   after, count           the platform's package server drops the
//	                                      connection after `after` bytes of a response
//	                                      (default: a byte drawn from the seed), for
//	                                      count responses (default 1)
//	download_rate  bytes_per_second, for  the package server sends at this rate
//	broker_restart down                   the platform's MQTT broker is down, then
//	                                      back on its address
//
// direction is to_mcu, to_module or both (the default). The last three
// are faults of the module's platform and imply module.platform; a slow
// serial link is link: {baud: 500, pace: true} (50 B/s). A fault type a
// build cannot run yet parses, and Run refuses it with an error wrapping
// ErrUnsupported that names its line; every type listed here runs.
//
// Faults are deterministic from the seed: the fate of the n-th byte each
// way depends on the seed and n only (transport.FaultLink), corrupt
// blocks and download cuts without after pick their byte from the seed,
// and random faults are drawn from it. Triggers and delays run in real
// time, so the interleaving of events can still move a fault by a few
// bytes between runs.
//
// # Runs
//
// Run wires an emulated module (agent/module) and an emulated MCU
// (agent/mcu, writing to an mcu flash target on a flashsim flash that
// outlives the MCU's resets) through an in-memory link, or serves a real
// MCU on a port, or drives a real module on one. A transport.FaultLink on
// the MCU's end (the module's, for a real MCU) injects the link faults;
// a tap on the module's output, before any fault, sees every event and
// AT+QIOTOTARD answer, to count bytes served and trigger faults.
//
// The emulated MCU runs update cycles: each is one mcu.Run with a journal
// in the work directory, started by a reset in which the bootloader
// boots the flash. A cycle that ends with an error (a failed
// verification, a timeout, a reset, a power cut) is followed by another
// after retry_delay, as firmware retries; the cycles cut short by an
// injected reset, power cut, module reboot or link loss do not count,
// and the others count against mcu.attempts (default: one more than the
// plans' strategy.retries), so a run where the plan allows it ends
// updated. The run ends when every planned component is at its target,
// the MCU refuses, the module offers no more, the attempts or the
// timeout run out.
//
// After each cycle the runner checks the flash against the images it
// knows: what boots must be a known image (never a mix of two), an image
// the MCU reported updated must be the one that boots and must have the
// digests of the image its package builds. When the run ends updated,
// the MCU boots once more, and what boots must be the version the MCU
// reports for its component. Any exception is a corrupt image reported
// good.
//
// With a link baud and no pacing, the reported duration is the time
// measured plus the time the bytes exchanged take on that line
// (transport.UART), so an emulated run reports what a real UART would
// take.
//
// Results come as a summary for people (Result.WriteSummary), JSON
// (Event and Result marshal to one line each) and JUnit XML
// (WriteJUnit). RunMatrix runs a scenario over many seeds.
//
// # Packages
//
// A plan component's package says what the module serves:
//
//	package: raw     the image itself (the default): Firmware(id, target_version, size)
//	package: full    an atota package (agent/pack) of that image
//	package: delta   an atota package that rebuilds the new image from the
//	                 image the MCU runs
//
// A delta is for the first of mcu.components, whose image the emulated
// MCU's flash runs at the start (slot A): its plan component says
// "package": "delta" with that component's version as its
// source_version, and its new image is a rebuild of the old one
// (Firmware of the old version and size): eight words changed through
// the code, a block of new code inserted in the middle (size/32, 16 bytes
// to 1 KiB), the version tag changed. So the delta is a few percent of
// the image, as it is for a real rebuild. An external MCU (mcu.port)
// runs an image not known here, and takes raw or full packages only.
//
// Packages are built with 4 KiB chunks. sign: true signs one with the
// run's key (fixed, the same in every run); mcu.verify_key: scenario
// makes the emulated MCU require that key (atota mcu --verify-key), and
// verify_key: wrong a key that signed nothing, so that every update is
// refused before anything is written (cycle:verify_failed; with the
// attempts used up the run ends failed).
//
// The runner knows an update by the image its package builds, not by
// the package file: the checks for corrupt images reported good, and
// what must boot at the end, compare the flash with that image. The
// run emits a package:full or package:delta event for each package
// (its size, signed or not, the image it builds and from what), and
// Result.Components says for each package component its kind, its size,
// the size of the image it builds and the bytes served: what crossed
// the link for that image.
//
// With Options.WorkDir set, the run leaves the emulated MCU's flash in
// it as FlashFile, which atota flash inspect reads.
//
// # Platform
//
// With module.platform, Run starts a local platform (agent/platform) on
// loopback: an embedded MQTT broker and a package server with Range,
// serving the scenario's plans. The module's plans come from its link to
// that platform (platform.Device), signed in as device atota-scenario:
// the MCU's versions reach the platform through it, the platform pushes
// each plan's next component as a job, and the link downloads and
// verifies the package before the module offers it to the MCU. A cycle
// that finds no plan while a job is on its way (the platform has not
// heard the MCU's versions yet, or its task is queued, pushed or
// upgrading with no plan offered) does not count and does not end the
// run: the MCU asks again after retry_delay, as firmware polls. After the
// MCU side ends, the run waits up to 5 s (after the broker is back) for
// the platform to hear the end, and reports where each task stands. The
// platform's clock is the module's (clock faults move both); a confirm
// fault confirms the manual plans on the platform; a module_reboot
// restarts the module, not its link, which keeps running beside it.
//
// The platform faults act on it: download_cut and download_rate through
// the package server's handler (platform.Config.WrapPackages), so the
// link's Range-resuming download meets a real dropped connection or a
// real slow one; broker_restart takes the broker down and back
// (Platform.StopBroker, StartBroker), and the link reconnects and sends
// what it kept. A fault's at works as for the others: without one, a cut
// falls on the first response that reaches its byte; at.bytes counts the
// MCU's reads, which come after the module's download.
//
// Platform events: platform:up; platform:request (each package request
// answered, its Range, status and bytes sent) and platform:download_cut;
// platform:job_ready (a job's package verified, offered to the MCU) and
// platform:job_pending (a cycle found no plan while a job was on its
// way); platform:broker_down, platform:link_down, platform:broker_up,
// platform:link_up; at the end platform:task_STATUS for each task
// (platform:task_succeeded, ...). Result.Platform counts the requests,
// resumed and cut responses, bytes sent and paced, the time the paced
// bytes take at their rate, and the broker's restarts.
package scenario
