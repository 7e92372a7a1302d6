package transport

import (
	"errors"
	"sync"
)

// Pair is a virtual serial pair: two ptys whose slaves are symlinked at two
// paths, with bytes copied both ways, like
//
//	socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B
//
// Either side may close and reopen its slave at any time and the pair keeps
// working. Bytes written on one side while no process has the other side
// open are discarded, as on a UART with nothing attached; bytes one side
// did not read before closing are discarded when the pair sees it go (a
// process that reopens the slave within microseconds may still get them).
type Pair struct {
	sides     [2]*ptyMaster
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// NewPair creates the two ptys, symlinks their slaves at linkA and linkB
// and starts copying. WithBaud sets the rate the slaves report; a pair moves
// bytes at memory speed.
func NewPair(linkA, linkB string, opts ...Option) (*Pair, error) {
	cfg := newConfig(opts)
	a, err := dialPTY(Port{Kind: PTY, Path: linkA}, cfg)
	if err != nil {
		return nil, err
	}
	b, err := dialPTY(Port{Kind: PTY, Path: linkB}, cfg)
	if err != nil {
		a.Close()
		return nil, err
	}
	p := &Pair{sides: [2]*ptyMaster{a, b}}
	p.wg.Go(func() { copyLine(b, a) })
	p.wg.Go(func() { copyLine(a, b) })
	return p, nil
}

// copyLine copies from src to dst until either is closed.
func copyLine(dst, src *ptyMaster) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Paths returns the /dev/pts/N of side A and of side B.
func (p *Pair) Paths() (a, b string) { return p.sides[0].dev.slave, p.sides[1].dev.slave }

// Close stops the copying, waits for it to end, destroys both ptys and
// removes the symlinks.
func (p *Pair) Close() error {
	p.closeOnce.Do(func() {
		p.closeErr = errors.Join(p.sides[0].Close(), p.sides[1].Close())
		p.wg.Wait()
	})
	return p.closeErr
}
