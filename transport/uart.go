package transport

import (
	"fmt"
	"io"
	"time"
)

// UART is the timing model of an asynchronous serial line: every byte
// takes a start bit, its data bits, an optional parity bit and its stop
// bits, at Baud bits a second. 8N1 is 10 bits a byte, 8E1 is 11. It tells
// how long bytes take on a real line, so that durations measured over a
// link that moves bytes at memory speed (a Pipe, a pty) can be reported
// as a real UART would see them; Pace makes a link actually take that
// long.
type UART struct {
	Baud     int
	DataBits int  // 5 to 8; 0 means 8
	Parity   bool // a parity bit (even or odd)
	StopBits int  // 1 or 2; 0 means 1
}

// NewUART returns the model of an 8N1 line at baud.
func NewUART(baud int) UART { return UART{Baud: baud} }

// Check reports a setting no UART has.
func (u UART) Check() error {
	switch {
	case u.Baud <= 0:
		return fmt.Errorf("transport: uart: baud %d: want a positive rate such as 115200", u.Baud)
	case u.DataBits != 0 && (u.DataBits < 5 || u.DataBits > 8):
		return fmt.Errorf("transport: uart: %d data bits: want 5 to 8", u.DataBits)
	case u.StopBits != 0 && u.StopBits != 1 && u.StopBits != 2:
		return fmt.Errorf("transport: uart: %d stop bits: want 1 or 2", u.StopBits)
	}
	return nil
}

// BitsPerByte returns the bits one byte takes on the line, framing
// included: 10 for 8N1.
func (u UART) BitsPerByte() int {
	n := 1 + 8 + 1 // start, data, stop
	if u.DataBits != 0 {
		n += u.DataBits - 8
	}
	if u.Parity {
		n++
	}
	if u.StopBits == 2 {
		n++
	}
	return n
}

// BytesPerSecond returns the most bytes a second the line carries one
// way: 11,520 at 115200 8N1. It is 0 for a baud of 0 or less.
func (u UART) BytesPerSecond() float64 {
	if u.Baud <= 0 {
		return 0
	}
	return float64(u.Baud) / float64(u.BitsPerByte())
}

// Duration returns how long n bytes take on the line, one way; 0 for a
// baud of 0 or less (a line with no limit).
func (u UART) Duration(n int64) time.Duration {
	if u.Baud <= 0 || n <= 0 {
		return 0
	}
	return time.Duration(float64(n) * float64(u.BitsPerByte()) * float64(time.Second) / float64(u.Baud))
}

// String returns "115200 8N1" or "115200 8E1".
func (u UART) String() string {
	data := 8
	if u.DataBits != 0 {
		data = u.DataBits
	}
	parity := "N"
	if u.Parity {
		parity = "E"
	}
	stop := 1
	if u.StopBits == 2 {
		stop = 2
	}
	return fmt.Sprintf("%d %d%s%d", u.Baud, data, parity, stop)
}

// Pace returns rw with its Writes paced to this line: Pace(rw, u.Baud,
// u.BitsPerByte()).
func (u UART) Pace(rw io.ReadWriteCloser) io.ReadWriteCloser {
	return Pace(rw, u.Baud, u.BitsPerByte())
}
