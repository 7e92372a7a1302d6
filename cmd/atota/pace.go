package main

import (
	"context"
	"io"

	"github.com/atota/atota/transport"
)

// pacedListener paces every connection it hands out to a baud rate (8N1).
type pacedListener struct {
	transport.Listener
	baud int
}

func (l pacedListener) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	c, err := l.Listener.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return transport.Pace(c, l.baud, 10), nil
}
