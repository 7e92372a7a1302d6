package scenario

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/atota/atota/transport"
)

// waitExternal waits for an external MCU to report every planned
// component at its target version, or for the run's time to run out.
func (r *runner) waitExternal(ctx context.Context) outcome {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		versions := r.declaredVersions()
		r.modMu.Lock()
		refusals, offers := r.refusals, r.offers
		r.modMu.Unlock()
		done, reported := true, false
		for _, p := range r.sc.Module.Plans {
			for _, c := range p.Components {
				if v, ok := versions[c.ID]; ok {
					reported = true
					if v != c.TargetVersion {
						done = false
					}
				}
			}
		}
		if done && reported {
			return outcome{o: Updated, final: versions}
		}
		select {
		case <-tick.C:
			continue
		case <-ctx.Done():
		}
		out := outcome{o: Failed, final: versions, reason: fmt.Sprintf("the external MCU did not report every planned component at its target within %v", r.sc.Timeout)}
		switch {
		case refusals > 0:
			out.o, out.reason = Refused, "the external MCU refused the plan (AT+QIOTUPDATE=0)"
		case offers == 0:
			out.o, out.reason = NoPlan, "the module offered no plan"
		}
		return out
	}
}

// relisten is a serving port that accepts the next connection when the
// peer goes away: an external MCU that closes and reopens its port.
type relisten struct {
	l   transport.Listener
	log *slog.Logger

	mu   sync.Mutex
	conn io.ReadWriteCloser
	ctx  context.Context
	stop context.CancelFunc
}

func (p *relisten) current() (io.ReadWriteCloser, context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx == nil {
		p.ctx, p.stop = context.WithCancel(context.Background())
	}
	return p.conn, p.ctx
}

func (p *relisten) Read(b []byte) (int, error) {
	for {
		conn, ctx := p.current()
		if conn == nil {
			c, err := p.l.Accept(ctx)
			if err != nil {
				return 0, err
			}
			p.mu.Lock()
			p.conn = c
			p.mu.Unlock()
			p.log.Info("external MCU connected")
			continue
		}
		n, err := conn.Read(b)
		if n > 0 || err == nil {
			return n, nil
		}
		if ctx.Err() != nil {
			return 0, err
		}
		p.log.Info("external MCU went away; waiting for it", "err", err)
		conn.Close()
		p.mu.Lock()
		if p.conn == conn {
			p.conn = nil
		}
		p.mu.Unlock()
	}
}

func (p *relisten) Write(b []byte) (int, error) {
	conn, _ := p.current()
	if conn == nil {
		return len(b), nil // nobody on the line
	}
	return conn.Write(b)
}

func (p *relisten) Close() error {
	_, _ = p.current()
	p.mu.Lock()
	p.stop()
	conn := p.conn
	p.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	return p.l.Close()
}
