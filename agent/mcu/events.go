package mcu

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/atota/atota/atcmd"
)

// Event codes of +QIOTEVT (spec §5).
const (
	EvtPlan        = 10700 // a plan exists for a component
	EvtDownload    = 10701 // download of a component starts
	EvtDownloading = 10702
	EvtPiece       = 10703 // a piece is ready in module memory
	EvtUpdating    = 10704
	EvtSuccess     = 10705
	EvtFailed      = 10706
	evtOK          = 10200
)

// evtOTA is the event type of the OTA events.
const evtOTA = 7

// Event is one +QIOTEVT unsolicited result code.
type Event struct {
	Type, Code int
	Args       []atcmd.Arg // the data after the code
	Line       string
}

// ParseEvent parses a "+QIOTEVT: <type>,<code>[,<data>]" line.
func ParseEvent(line string) (Event, error) {
	rest, ok := strings.CutPrefix(line, "+QIOTEVT:")
	if !ok {
		return Event{}, fmt.Errorf("mcu: event %q: want +QIOTEVT: <type>,<code>", line)
	}
	args, err := atcmd.ParseArgs(strings.TrimSpace(rest))
	if err != nil {
		return Event{}, fmt.Errorf("mcu: event %q: %w", line, err)
	}
	if len(args) < 2 {
		return Event{}, fmt.Errorf("mcu: event %q: want at least a type and a code", line)
	}
	typ, err1 := parseInt(args[0])
	code, err2 := parseInt(args[1])
	if err1 != nil || err2 != nil {
		return Event{}, fmt.Errorf("mcu: event %q: type and code must be unquoted integers", line)
	}
	e := Event{Type: typ, Code: code, Line: line}
	if len(args) > 2 {
		e.Args = args[2:]
	}
	return e, nil
}

// String returns "7,10700", the event's type and code.
func (e Event) String() string { return strconv.Itoa(e.Type) + "," + strconv.Itoa(e.Code) }

func parseInt(a atcmd.Arg) (int, error) {
	if a.Quoted {
		return 0, fmt.Errorf("quoted")
	}
	n, err := strconv.ParseInt(a.Value, 10, strconv.IntSize)
	return int(n), err
}

// is checks that e is the OTA event code before decoding it.
func (e Event) is(code int) error {
	if e.Type != evtOTA || e.Code != code {
		return fmt.Errorf("mcu: event %q: is %s, want 7,%d", e.Line, e, code)
	}
	return nil
}

// fields reads the event's data into dst: *string for quoted fields, *int
// and *int64 for unquoted integers. Data past len(dst) is ignored, so
// that fields a later firmware appends do not break the decoders.
func (e Event) fields(dst ...any) error {
	if len(e.Args) < len(dst) {
		return fmt.Errorf("mcu: event %q: %d data fields after the code, want %d", e.Line, len(e.Args), len(dst))
	}
	for i, d := range dst {
		a := e.Args[i]
		bad := func(want string) error {
			return fmt.Errorf("mcu: event %q: field %d (%s): want %s", e.Line, i+3, a, want)
		}
		switch d := d.(type) {
		case *string:
			if !a.Quoted {
				return bad("a quoted string")
			}
			*d = a.Value
		case *int:
			n, err := strconv.ParseInt(a.Value, 10, strconv.IntSize)
			if err != nil || a.Quoted {
				return bad("an integer")
			}
			*d = int(n)
		case *int64:
			n, err := strconv.ParseInt(a.Value, 10, 64)
			if err != nil || a.Quoted {
				return bad("an integer")
			}
			*d = n
		default:
			panic(fmt.Sprintf("mcu: fields: unsupported %T", d))
		}
	}
	return nil
}

// Offer is a 7,10700 event: a plan for one component.
type Offer struct {
	Component, Source, Target string
	MinBattery, MinSignalDBm  int
	Size                      int64 // the space the package needs
}

// Offer decodes a 7,10700 event:
// ,"<componentNo>","<sourceVersion>","<targetVersion>",<batteryLimit>,<minSignalIntensity>,<useSpace>.
func (e Event) Offer() (Offer, error) {
	if err := e.is(EvtPlan); err != nil {
		return Offer{}, err
	}
	var o Offer
	if err := e.fields(&o.Component, &o.Source, &o.Target, &o.MinBattery, &o.MinSignalDBm, &o.Size); err != nil {
		return Offer{}, err
	}
	switch {
	case o.Component == "":
		return Offer{}, fmt.Errorf("mcu: event %q: the component is empty", e.Line)
	case o.Target == "":
		return Offer{}, fmt.Errorf("mcu: event %q: the target version is empty", e.Line)
	case o.Size < 0:
		return Offer{}, fmt.Errorf("mcu: event %q: negative space %d", e.Line, o.Size)
	}
	return o, nil
}

// line returns the event line that carries o.
func (o Offer) line() string {
	return fmt.Sprintf(`+QIOTEVT: 7,%d,"%s","%s","%s",%d,%d,%d`, EvtPlan, o.Component, o.Source, o.Target, o.MinBattery, o.MinSignalDBm, o.Size)
}

// Start is a SOTA 7,10701 event: the digests of the whole component.
type Start struct {
	Component string
	Size      int64
	MD5       string
	CRC       uint32
	SHA256    string // empty unless requested with AT+QIOTOTAREQ=1
}

// Start decodes a SOTA 7,10701 event:
// ,"<componentNo>",<length>,"<MD5>",<CRC>[,"<SHA256>"]. The digests are
// returned in lower case; an empty SHA-256 counts as absent.
func (e Event) Start() (Start, error) {
	if err := e.is(EvtDownload); err != nil {
		return Start{}, err
	}
	var s Start
	var crc int64
	if err := e.fields(&s.Component, &s.Size, &s.MD5, &crc); err != nil {
		return Start{}, err
	}
	switch {
	case s.Component == "":
		return Start{}, fmt.Errorf("mcu: event %q: the component is empty", e.Line)
	case s.Size <= 0:
		return Start{}, fmt.Errorf("mcu: event %q: component size %d, want at least 1 byte", e.Line, s.Size)
	case !isHex(s.MD5, 32):
		return Start{}, fmt.Errorf("mcu: event %q: MD5 %q: want 32 hex digits", e.Line, s.MD5)
	case crc < 0 || crc > 0xFFFFFFFF:
		return Start{}, fmt.Errorf("mcu: event %q: CRC %d does not fit 32 bits", e.Line, crc)
	}
	s.MD5, s.CRC = strings.ToLower(s.MD5), uint32(crc)
	if len(e.Args) > 4 {
		a := e.Args[4]
		if !a.Quoted {
			return Start{}, fmt.Errorf("mcu: event %q: field 7 (%s): want the SHA-256 as a quoted string", e.Line, a)
		}
		s.SHA256 = a.Value
		if s.SHA256 != "" && !isHex(s.SHA256, 64) {
			return Start{}, fmt.Errorf("mcu: event %q: SHA-256 %q: want 64 hex digits", e.Line, s.SHA256)
		}
		s.SHA256 = strings.ToLower(s.SHA256)
	}
	return s, nil
}

// line returns the event line that carries s.
func (s Start) line() string {
	l := fmt.Sprintf(`+QIOTEVT: 7,%d,"%s",%d,"%s",%d`, EvtDownload, s.Component, s.Size, s.MD5, s.CRC)
	if s.SHA256 != "" {
		l += `,"` + s.SHA256 + `"`
	}
	return l
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Piece is a SOTA 7,10703 event: a piece of the component is ready.
type Piece struct {
	Component        string
	Size, Start, Len int64
}

// Piece decodes a SOTA 7,10703 event:
// ,"<componentNo>",<length>,<startaddr>,<piece_length>. The piece must lie
// inside the component and hold at least one byte.
func (e Event) Piece() (Piece, error) {
	if err := e.is(EvtPiece); err != nil {
		return Piece{}, err
	}
	var p Piece
	if err := e.fields(&p.Component, &p.Size, &p.Start, &p.Len); err != nil {
		return Piece{}, err
	}
	if p.Component == "" {
		return Piece{}, fmt.Errorf("mcu: event %q: the component is empty", e.Line)
	}
	if p.Size <= 0 || p.Start < 0 || p.Len <= 0 || p.Start >= p.Size || p.Len > p.Size-p.Start {
		return Piece{}, fmt.Errorf("mcu: event %q: piece of %d bytes at %d does not fit a %d-byte component", e.Line, p.Len, p.Start, p.Size)
	}
	return p, nil
}

// line returns the event line that carries p.
func (p Piece) line() string {
	return fmt.Sprintf(`+QIOTEVT: 7,%d,"%s",%d,%d,%d`, EvtPiece, p.Component, p.Size, p.Start, p.Len)
}

// maxBlock is the largest AT+QIOTOTARD payload the MCU accepts.
const maxBlock = 1 << 20

// otardHeader parses the "+QIOTOTARD: <start>,<len>" header of an
// AT+QIOTOTARD answer.
func otardHeader(line string) (start, n int64, ok bool) {
	rest, ok := strings.CutPrefix(line, "+QIOTOTARD:")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(rest, ",")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	n, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if err1 != nil || err2 != nil || start < 0 || n < 0 || n > maxBlock {
		return 0, 0, false
	}
	return start, n, true
}

// otardPayload is the atcmd.PayloadLength of AT+QIOTOTARD: the <len>
// bytes of the header and the one byte after them, which must be CR or LF
// (spec §4: Quectel's own MCU simulator checks it). Reading that byte
// catches some answers whose payload is shorter or longer than announced.
func otardPayload(line string) (int, bool) {
	_, n, ok := otardHeader(line)
	if !ok {
		return 0, false
	}
	return int(n) + 1, true
}
