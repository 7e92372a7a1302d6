package transport

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Kind is the form of a PORT string.
type Kind int

// The forms of a PORT string. The zero Kind is not a valid form.
const (
	Device    Kind = iota + 1 // a serial device path, e.g. /dev/ttyUSB0 or /dev/pts/7
	PTY                       // pty:PATH, a pty created by atota, its slave symlinked at PATH
	TCP                       // tcp://HOST:PORT, a raw TCP serial bridge to dial
	TCPListen                 // tcp-listen://HOST:PORT, accept raw TCP connections
)

// String returns the name of the form: "device", "pty", "tcp" or "tcp-listen".
func (k Kind) String() string {
	switch k {
	case Device:
		return "device"
	case PTY:
		return "pty"
	case TCP:
		return "tcp"
	case TCPListen:
		return "tcp-listen"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Port is a parsed PORT string.
type Port struct {
	Kind Kind
	Path string // Device: the device path; PTY: where the slave is symlinked
	Addr string // TCP, TCPListen: HOST:PORT, the host never empty
}

// validForms is appended to every parse error so the user sees what is accepted.
const validForms = `valid forms: a device path such as /dev/ttyUSB0 or /dev/pts/7, ` +
	`pty:PATH, tcp://HOST:PORT, tcp-listen://HOST:PORT`

// PortError reports a PORT string that could not be parsed.
type PortError struct {
	Port   string // the string as given
	Reason string // what is wrong with it
}

func (e *PortError) Error() string {
	return fmt.Sprintf("transport: bad port %q: %s; %s", e.Port, e.Reason, validForms)
}

// ParsePort parses a PORT string:
//
//	/dev/ttyUSB0, /dev/pts/7, any other path (also relative)  Device
//	pty:PATH                                                   PTY
//	tcp://HOST:PORT                                            TCP
//	tcp-listen://HOST:PORT                                     TCPListen
//
// An empty HOST means 127.0.0.1. A string that starts with any other
// "scheme:" is an error (*PortError); write a relative path that looks like
// one as "./name:rest".
func ParsePort(s string) (Port, error) {
	bad := func(format string, args ...any) (Port, error) {
		return Port{}, &PortError{Port: s, Reason: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return bad("empty")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return bad("contains a NUL byte")
	}
	scheme, rest, ok := splitScheme(s)
	switch {
	case !ok:
		return Port{Kind: Device, Path: s}, nil
	case scheme == "pty":
		if rest == "" {
			return bad("pty: needs a path, e.g. pty:/tmp/atota-module")
		}
		if strings.HasPrefix(rest, "//") {
			return bad("write pty:PATH, not pty://PATH")
		}
		return Port{Kind: PTY, Path: rest}, nil
	case scheme == "tcp" || scheme == "tcp-listen":
		kind := TCP
		if scheme == "tcp-listen" {
			kind = TCPListen
		}
		addr, ok := strings.CutPrefix(rest, "//")
		if !ok {
			return bad("write %s://HOST:PORT", scheme)
		}
		addr, reason := parseHostPort(addr, kind == TCPListen)
		if reason != "" {
			return bad("%s", reason)
		}
		return Port{Kind: kind, Addr: addr}, nil
	}
	return bad("unknown scheme %q (a relative path that contains a colon can be written ./%s)", scheme, s)
}

// splitScheme reports whether s starts with an RFC 3986 scheme and a colon.
func splitScheme(s string) (scheme, rest string, ok bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.':
			if i == 0 {
				return "", "", false
			}
		case c == ':':
			if i == 0 {
				return "", "", false
			}
			return strings.ToLower(s[:i]), s[i+1:], true
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// parseHostPort validates HOST:PORT and returns it with an empty host
// replaced by 127.0.0.1. Port 0 (any free port) is allowed only to listen.
func parseHostPort(addr string, listen bool) (string, string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Sprintf("address %q is not HOST:PORT", addr)
	}
	if strings.ContainsAny(host, "/?#@ ") {
		return "", fmt.Sprintf("bad host %q", host)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || strconv.FormatUint(n, 10) != port {
		return "", fmt.Sprintf("bad TCP port %q (want 1-65535)", port)
	}
	if n == 0 && !listen {
		return "", "TCP port 0 can only be used to listen"
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), ""
}

// String returns p as a PORT string that ParsePort accepts.
func (p Port) String() string {
	switch p.Kind {
	case PTY:
		return "pty:" + p.Path
	case TCP:
		return "tcp://" + p.Addr
	case TCPListen:
		return "tcp-listen://" + p.Addr
	}
	return p.Path
}
