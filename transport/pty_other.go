//go:build !linux

package transport

import (
	"errors"
	"io"
	"runtime"
)

var errNoPTY = errors.New("transport: pty ports are supported on Linux only, not on " + runtime.GOOS)

func listenPTY(Port, config) (Listener, error) { return nil, errNoPTY }

func dialPTY(Port, config) (io.ReadWriteCloser, error) { return nil, errNoPTY }

// Pair is a virtual serial pair of two ptys; it needs Linux.
type Pair struct{}

// NewPair fails outside Linux.
func NewPair(linkA, linkB string, opts ...Option) (*Pair, error) { return nil, errNoPTY }

// Close does nothing outside Linux.
func (p *Pair) Close() error { return nil }

// Paths returns empty strings outside Linux.
func (p *Pair) Paths() (a, b string) { return "", "" }
