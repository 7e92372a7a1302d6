package transport

import (
	"testing"
	"time"
)

func TestUART(t *testing.T) {
	tests := []struct {
		name     string
		u        UART
		bits     int
		n        int64
		want     time.Duration
		str      string
		wantRate float64
	}{
		{name: "115200 8N1", u: NewUART(115200), bits: 10, n: 11520, want: time.Second, str: "115200 8N1", wantRate: 11520},
		{name: "9600 8N1", u: NewUART(9600), bits: 10, n: 96, want: 100 * time.Millisecond, str: "9600 8N1", wantRate: 960},
		{name: "57600 8E1", u: UART{Baud: 57600, Parity: true}, bits: 11, n: 5236, want: 999_930_555 * time.Nanosecond, str: "57600 8E1", wantRate: 57600.0 / 11},
		{name: "500 baud 8N1 is 50 B/s", u: NewUART(500), bits: 10, n: 50, want: time.Second, str: "500 8N1", wantRate: 50},
		{name: "7N2", u: UART{Baud: 1000, DataBits: 7, StopBits: 2}, bits: 10, n: 100, want: time.Second, str: "1000 7N2", wantRate: 100},
		{name: "no baud", u: UART{}, bits: 10, n: 1000, want: 0, str: "0 8N1", wantRate: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.u.BitsPerByte(); got != tt.bits {
				t.Errorf("BitsPerByte() = %d, want %d", got, tt.bits)
			}
			if got := tt.u.Duration(tt.n); got != tt.want {
				t.Errorf("Duration(%d) = %v, want %v", tt.n, got, tt.want)
			}
			if got := tt.u.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if got := tt.u.BytesPerSecond(); got != tt.wantRate {
				t.Errorf("BytesPerSecond() = %v, want %v", got, tt.wantRate)
			}
		})
	}
}

func TestUARTCheck(t *testing.T) {
	tests := []struct {
		name string
		u    UART
		ok   bool
	}{
		{name: "8N1", u: NewUART(115200), ok: true},
		{name: "zero baud", u: UART{}, ok: false},
		{name: "9 data bits", u: UART{Baud: 9600, DataBits: 9}, ok: false},
		{name: "3 stop bits", u: UART{Baud: 9600, StopBits: 3}, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.u.Check(); (err == nil) != tt.ok {
				t.Errorf("Check() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
