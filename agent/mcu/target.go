package mcu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// Target is where the MCU writes a new image.
type Target interface {
	// Open prepares an image: a new one, or, with spec.Resume set, the one
	// a previous run left, to go on with from spec.Done.
	Open(ctx context.Context, spec ImageSpec) (Image, error)
	// Capacity returns how large an image the target takes now, in
	// bytes: what the plan's space minimum is checked against.
	Capacity(ctx context.Context) (int64, error)
	// Close releases the target.
	Close() error
	// String describes the target for messages.
	String() string
}

// ImageSpec describes the image a Target opens.
type ImageSpec struct {
	Component string
	Size      int64
	Digests   Start // what the module announced (7,10701): the image must match it
	// Resume, when not empty, is the State of an image a previous run
	// left; Done is how many of its bytes that run's Sync reported
	// durable. The target goes on from Done, or fails with ErrResume.
	Resume string
	Done   int64
	// Checkpoint, when set, is called before the target destroys bytes
	// it reported durable (to repair a write torn by a power cut it must
	// erase a sector holding some of them), with the count and the State
	// the journal must hold first; the State then carries what it takes
	// to restore them, so a reset in between loses nothing.
	Checkpoint func(done int64, state string) error
}

// Image is an image being received. Bytes arrive in order with WriteAt,
// from 0 or from ImageSpec.Done; Sync makes them durable; once all have
// arrived, Sync completes the image in the target so that ReadAt reads
// back what the target holds, for verification. Commit makes the verified
// image the one that runs, Confirm keeps it for good after its version is
// reported, Abort throws an uncommitted image away, and Close releases it
// for a later resume.
type Image interface {
	io.WriterAt
	io.ReaderAt
	// Sync makes the bytes written so far durable, as far as the target
	// can, and returns how many from the start are, provided the journal
	// keeps the State that follows it. After the last byte it completes
	// the image (a padded tail), except what a completer does.
	Sync() (int64, error)
	// State describes the image for ImageSpec.Resume; it may change with
	// each Sync.
	State() string
	// Commit makes the image the one that runs (on trial where the target
	// has trials) and returns a description of where it runs.
	Commit(ctx context.Context) (string, error)
	// Confirm keeps a committed image for good; without it a target with
	// trials reverts to the old image by itself.
	Confirm() error
	// Abort throws an uncommitted image away; the running image stays.
	Abort() error
	// Close releases the image, keeping what it holds for a resume.
	Close() error
}

// completer is an Image that puts a whole image in place in a step of its
// own, such as programming a device over its old program: the MCU calls
// Complete once the journal holds the whole image and before it reads
// the image back, so that a reset during that step finds the image again.
type completer interface {
	Complete(ctx context.Context) error
}

// complete runs img's Complete, if it has one.
func complete(ctx context.Context, img Image) error {
	if c, ok := img.(completer); ok {
		return c.Complete(ctx)
	}
	return nil
}

// trialTarget is a Target whose committed image runs on trial until it is
// confirmed (flashsim's A/B slots).
type trialTarget interface {
	// Trial returns the State of the image on trial ("" if none), and
	// of the last image committed and confirmed, while it is the one
	// that runs ("" if none, or if it was reverted).
	Trial() (pending, confirmed string)
	// Confirm keeps the image on trial.
	Confirm() error
	// Revert gives the image on trial up: the old one runs again.
	Revert() error
}

// ErrResume is wrapped by Target.Open when the image to resume is gone or
// changed; the MCU then starts the image over.
var ErrResume = errors.New("mcu: the image cannot be resumed")

// TargetOption configures OpenTarget.
type TargetOption func(*targetConfig)

type targetConfig struct {
	workDir string
}

// WithWorkDir sets where targets that stage the image in a file first
// (exec:, stm32:) keep it; a resume after a restart needs the same
// directory. The default is the system's temporary directory.
func WithWorkDir(dir string) TargetOption {
	return func(c *targetConfig) { c.workDir = dir }
}

// OpenTarget opens a TARGET as DESIGN.md writes it:
//
//	flashsim:FILE[?part=NAME]  a simulated NOR flash with A/B slots, kept in FILE
//	file:PATH                  the image, written to PATH atomically
//	exec:COMMAND               a shell command run with the verified image ({} is its path)
//	stm32:PORT[?OPTIONS]       an STM32 through its ROM UART bootloader (AN3155)
func OpenTarget(spec string, opts ...TargetOption) (Target, error) {
	cfg := targetConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	kind, rest, ok := strings.Cut(spec, ":")
	if !ok || rest == "" {
		return nil, fmt.Errorf("mcu: target %q: %s", spec, targetForms)
	}
	switch kind {
	case "flashsim":
		return openFlashTarget(rest)
	case "file":
		return openFileTarget(rest)
	case "exec":
		return openExecTarget(rest, cfg)
	case "stm32":
		return openSTM32Target(rest, cfg)
	}
	return nil, fmt.Errorf("mcu: target %q: unknown kind %q; %s", spec, kind, targetForms)
}

const targetForms = "want flashsim:FILE[?part=NAME], file:PATH, exec:COMMAND or stm32:PORT"

// capacityUnknown is reported by targets with no fixed size.
const capacityUnknown = math.MaxInt64

// targetID is what a journal records of its target: the spec it was
// opened with, when the target knows it.
func targetID(t Target) string {
	if s, ok := t.(interface{ Spec() string }); ok {
		return s.Spec()
	}
	return t.String()
}
