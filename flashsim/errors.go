package flashsim

import (
	"errors"
	"fmt"
	"strings"
)

// Errors wrapped by the flash operations; test for them with errors.Is.
var (
	// ErrNotErased: a write would set a bit from 0 to 1, or (on
	// ErasedOnly parts) program a unit that is not all 0xFF.
	ErrNotErased = errors.New("flashsim: unit not erased")
	// ErrAlign: an offset or length is not a multiple of the write unit,
	// or an erase does not start at a sector boundary.
	ErrAlign = errors.New("flashsim: misaligned offset or length")
	// ErrRange: an offset, length or sector index is outside the flash.
	ErrRange = errors.New("flashsim: outside the flash")
	// ErrPowerCut: the operation was torn by a simulated power cut, or the
	// device is off after one. Call PowerOn to continue.
	ErrPowerCut = errors.New("flashsim: power cut (the device is off; call PowerOn)")
)

// OpError records a failed flash operation and where it failed.
type OpError struct {
	Op  string // "read", "write" or "erase"
	Off int64  // offset from the flash start where the operation failed; -1 if none
	Why string // optional detail, e.g. "the write unit is 2 bytes"
	Err error  // ErrNotErased, ErrAlign, ErrRange or ErrPowerCut
}

// Error returns a message such as
// "flashsim: write at offset 0x402: unit not erased (...)".
func (e *OpError) Error() string {
	var b strings.Builder
	b.WriteString("flashsim: " + e.Op)
	if e.Off >= 0 {
		fmt.Fprintf(&b, " at offset %#x", e.Off)
	}
	b.WriteString(": " + strings.TrimPrefix(e.Err.Error(), "flashsim: "))
	if e.Why != "" {
		b.WriteString(": ")
		b.WriteString(e.Why)
	}
	return b.String()
}

// Unwrap returns the underlying sentinel error.
func (e *OpError) Unwrap() error { return e.Err }

func opErr(op string, off int64, err error, why string, args ...any) error {
	if len(args) > 0 {
		why = fmt.Sprintf(why, args...)
	}
	return &OpError{Op: op, Off: off, Why: why, Err: err}
}

// ctxError adds context to a flashsim error without repeating the
// package prefix.
type ctxError struct {
	ctx string
	err error
}

func (e *ctxError) Error() string {
	return "flashsim: " + e.ctx + ": " + strings.TrimPrefix(e.err.Error(), "flashsim: ")
}

func (e *ctxError) Unwrap() error { return e.err }

func wrap(ctx string, err error) error { return &ctxError{ctx: ctx, err: err} }
