package transport

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePort(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Port
		wantErr string // substring of the error, "" for success
	}{
		{name: "usb device", in: "/dev/ttyUSB0", want: Port{Kind: Device, Path: "/dev/ttyUSB0"}},
		{name: "pts", in: "/dev/pts/7", want: Port{Kind: Device, Path: "/dev/pts/7"}},
		{name: "relative path", in: "ttyS0", want: Port{Kind: Device, Path: "ttyS0"}},
		{name: "dot relative with colon", in: "./a:b", want: Port{Kind: Device, Path: "./a:b"}},
		{name: "by-path with colons", in: "/dev/serial/by-path/pci-0000:00:14.0-usb-0:1:1.0",
			want: Port{Kind: Device, Path: "/dev/serial/by-path/pci-0000:00:14.0-usb-0:1:1.0"}},
		{name: "pty", in: "pty:/tmp/atota", want: Port{Kind: PTY, Path: "/tmp/atota"}},
		{name: "pty relative", in: "pty:link", want: Port{Kind: PTY, Path: "link"}},
		{name: "pty upper case scheme", in: "PTY:x", want: Port{Kind: PTY, Path: "x"}},
		{name: "tcp", in: "tcp://example.com:2000", want: Port{Kind: TCP, Addr: "example.com:2000"}},
		{name: "tcp ipv6", in: "tcp://[::1]:2000", want: Port{Kind: TCP, Addr: "[::1]:2000"}},
		{name: "tcp empty host", in: "tcp://:2000", want: Port{Kind: TCP, Addr: "127.0.0.1:2000"}},
		{name: "tcp-listen", in: "tcp-listen://0.0.0.0:5000", want: Port{Kind: TCPListen, Addr: "0.0.0.0:5000"}},
		{name: "tcp-listen default host", in: "tcp-listen://:5000", want: Port{Kind: TCPListen, Addr: "127.0.0.1:5000"}},
		{name: "tcp-listen any port", in: "tcp-listen://:0", want: Port{Kind: TCPListen, Addr: "127.0.0.1:0"}},

		{name: "empty", in: "", wantErr: "empty"},
		{name: "nul", in: "/dev/tty\x00", wantErr: "NUL"},
		{name: "pty no path", in: "pty:", wantErr: "needs a path"},
		{name: "pty slashes", in: "pty:///tmp/x", wantErr: "not pty://PATH"},
		{name: "tcp no slashes", in: "tcp:host:1", wantErr: "tcp://HOST:PORT"},
		{name: "tcp no port", in: "tcp://host", wantErr: "not HOST:PORT"},
		{name: "tcp port zero", in: "tcp://host:0", wantErr: "only be used to listen"},
		{name: "tcp port too big", in: "tcp://host:65536", wantErr: "bad TCP port"},
		{name: "tcp port name", in: "tcp://host:http", wantErr: "bad TCP port"},
		{name: "tcp port leading zero", in: "tcp://host:080", wantErr: "bad TCP port"},
		{name: "tcp path", in: "tcp://host:1/x", wantErr: "bad TCP port"},
		{name: "unknown scheme", in: "serial:/dev/ttyUSB0", wantErr: `unknown scheme "serial"`},
		{name: "unknown url", in: "udp://host:1", wantErr: `unknown scheme "udp"`},
		{name: "rfc2217", in: "rfc2217://host:1", wantErr: `unknown scheme "rfc2217"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePort(tt.in)
			if tt.wantErr != "" {
				var pe *PortError
				if !errors.As(err, &pe) {
					t.Fatalf("ParsePort(%q) = %+v, %v; want a *PortError", tt.in, got, err)
				}
				msg := err.Error()
				for _, want := range []string{tt.wantErr, "pty:PATH", "tcp://HOST:PORT", "tcp-listen://HOST:PORT", "/dev/ttyUSB0"} {
					if !strings.Contains(msg, want) {
						t.Errorf("ParsePort(%q) error %q does not mention %q", tt.in, msg, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePort(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParsePort(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if back, err := ParsePort(got.String()); err != nil || back != got {
				t.Errorf("ParsePort(%q.String() = %q) = %+v, %v; want %+v", tt.in, got.String(), back, err, got)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		kind Kind
		want string
	}{
		{Device, "device"}, {PTY, "pty"}, {TCP, "tcp"}, {TCPListen, "tcp-listen"}, {0, "Kind(0)"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tt.kind), got, tt.want)
		}
	}
}

func FuzzParsePort(f *testing.F) {
	for _, s := range []string{"/dev/ttyUSB0", "pty:/tmp/x", "tcp://h:1", "tcp-listen://:0",
		"tcp://[::1]:2", "x:y", "", "./a:b", "tcp://[fe80::1%eth0]:9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePort(s)
		if err != nil {
			if !strings.Contains(err.Error(), "valid forms") {
				t.Errorf("ParsePort(%q) error %q does not list the valid forms", s, err)
			}
			return
		}
		if p.Kind < Device || p.Kind > TCPListen {
			t.Fatalf("ParsePort(%q) = %+v: bad kind", s, p)
		}
		back, err := ParsePort(p.String())
		if err != nil || back != p {
			t.Fatalf("ParsePort(%q) = %+v; its String %q parses as %+v, %v", s, p, p.String(), back, err)
		}
	})
}
