package atcmd_test

import (
	"io"
	"sync"
	"testing"

	"github.com/atota/atota/atcmd"
)

// TestFinalHook checks that the final hook runs once per command line,
// after its final result and the URCs held during it are on the link:
// whatever the hook writes comes after them.
func TestFinalHook(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "OK", in: "AT\r", want: "\r\nOK\r\n<hook>"},
		{name: "held URC", in: "AT+SLOW\r", want: "\r\n+SLOW: done\r\n\r\nOK\r\n\r\n+QIOTEVT: 7,10702\r\n<hook>"},
		{name: "ERROR", in: "AT+NOPE\r", want: "\r\nERROR\r\n<hook>"},
		{name: "syntax error", in: "garbage\r", want: "\r\nERROR\r\n<hook>"},
		{name: "two commands, one line", in: "AT+CSQ;+CSQ\r", want: "\r\n+CSQ: 25,99\r\n\r\n+CSQ: 25,99\r\n\r\nOK\r\n<hook>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srv *atcmd.Server
			var mu sync.Mutex
			calls := 0
			link, s := rawLink(t, atcmd.WithEcho(false), atcmd.WithFinalHook(func() {
				mu.Lock()
				calls++
				mu.Unlock()
				srv.Notify("<hook>")
			}))
			srv = s
			if _, err := io.WriteString(link, tt.in); err != nil {
				t.Fatal(err)
			}
			expect(t, link, tt.want[:len(tt.want)-len("<hook>")]+"\r\n<hook>\r\n")
			mu.Lock()
			defer mu.Unlock()
			if calls != 1 {
				t.Errorf("hook called %d times, want 1", calls)
			}
		})
	}
}

// TestReset checks that Reset restores echo and AT+CMEE to their
// power-up values.
func TestReset(t *testing.T) {
	link, srv := rawLink(t)
	io.WriteString(link, "ATE0\r")
	expect(t, link, "ATE0\r\r\nOK\r\n")
	io.WriteString(link, "AT+CMEE=2\r")
	expect(t, link, "\r\nOK\r\n")
	srv.Reset()
	if !srv.Echo() {
		t.Error("Echo() after Reset: false, want true")
	}
	io.WriteString(link, "AT+CMEE?\r")
	expect(t, link, "AT+CMEE?\r\r\n+CMEE: 0\r\n\r\nOK\r\n")
}
