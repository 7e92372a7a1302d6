package module

// Observer hears what the module tells its platform: the MCU's component
// versions and the progress of OTA tasks. A platform link (MQTT) implements
// it to report versions and progress upstream; nil means nobody listens.
// Methods are called with no module lock held, one at a time, in the
// order the module made the calls, from a goroutine of the module's; they
// must not block for long.
type Observer interface {
	// VersionsReported is called when the MCU declares or changes a
	// component version (AT+QIOTMCUVER), with every current version.
	VersionsReported(versions map[string]string)
	// TaskProgress is called at each step of an OTA task.
	TaskProgress(p TaskProgress)
}

// TaskProgress is one step of an OTA task, as the module reports it.
type TaskProgress struct {
	Plan      string
	Component string
	// Event is the +QIOTEVT code of the step: 10700 offered (once per
	// component of the plan, before any other step), 10701 download
	// started, 10703 a piece ready, 10704 updating, 10705 succeeded,
	// 10706 failed; 0 for a refusal (AT+QIOTUPDATE=0).
	Event int
	// Done and Total are the bytes of the component the MCU has read so
	// far and its size. At 10705 Done is Total.
	Done, Total int64
	// PieceStart and PieceLen are the piece a 10703 step announces.
	PieceStart, PieceLen int64
	// Reason says why a task failed or was refused.
	Reason string
}
