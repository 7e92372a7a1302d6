package transport

import "log/slog"

// DefaultBaud is the baud rate used when WithBaud is not given.
const DefaultBaud = 115200

// config holds what the options set.
type config struct {
	baud   int
	even   bool
	logger *slog.Logger
}

// Option configures Listen, Dial and NewPair.
type Option func(*config)

func newConfig(opts []Option) config {
	c := config{baud: DefaultBaud, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithBaud sets the baud rate of a serial device (default 115200). A pty
// stores it but moves bytes at memory speed; see Pace.
func WithBaud(baud int) Option {
	return func(c *config) {
		if baud > 0 {
			c.baud = baud
		}
	}
}

// WithParity selects 8E1 (eight data bits, even parity, one stop bit) when
// even is true, as the STM32 ROM bootloader needs; the default is 8N1. The
// Linux pty driver cannot carry parity and silently keeps 8N1.
func WithParity(even bool) Option {
	return func(c *config) { c.even = even }
}

// WithLogger sets where connection events (peer gone, reopening, retries)
// are logged; by default they are discarded.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}
