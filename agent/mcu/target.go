package mcu

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
)

// Target is where the MCU writes a new image.
type Target interface {
	// Open prepares to receive an image of size bytes for a component.
	Open(ctx context.Context, component string, size int64) (Image, error)
	// Capacity is the largest image the target takes, in bytes.
	Capacity() int64
	// Close releases the target.
	Close() error
	// String describes the target for messages.
	String() string
}

// Image is an image being received. Bytes arrive in order with WriteAt;
// Sync puts them all in the target so that ReadAt reads them back for
// verification; Commit makes the verified image the one that runs; Abort
// throws it away and leaves the running image as it was.
type Image interface {
	io.WriterAt
	io.ReaderAt
	Sync() error
	Commit(ctx context.Context) (string, error) // returns a description of where the image now runs
	Abort() error
}

// OpenTarget opens a TARGET as DESIGN.md writes it: "flashsim:FILE[?part=NAME]"
// or "file:PATH".
func OpenTarget(spec string) (Target, error) {
	kind, rest, ok := strings.Cut(spec, ":")
	if !ok || rest == "" {
		return nil, fmt.Errorf("mcu: target %q: want flashsim:FILE[?part=NAME] or file:PATH", spec)
	}
	switch kind {
	case "flashsim":
		return openFlashTarget(rest)
	case "file":
		return &fileTarget{path: rest}, nil
	}
	return nil, fmt.Errorf("mcu: target %q: unknown kind %q; want flashsim:FILE[?part=NAME] or file:PATH", spec, kind)
}

// capacityUnknown is reported by targets with no fixed size.
const capacityUnknown = math.MaxInt64
