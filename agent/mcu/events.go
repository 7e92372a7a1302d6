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
	typ, err1 := args[0].Int()
	code, err2 := args[1].Int()
	if err1 != nil || err2 != nil {
		return Event{}, fmt.Errorf("mcu: event %q: type and code must be integers", line)
	}
	return Event{Type: int(typ), Code: int(code), Args: args[2:], Line: line}, nil
}

// fields reads the event's data into dst: *string for quoted fields,
// *int64 for integers.
func (e Event) fields(dst ...any) error {
	if len(e.Args) < len(dst) {
		return fmt.Errorf("mcu: event %q: %d data fields, want %d", e.Line, len(e.Args), len(dst))
	}
	for i, d := range dst {
		a := e.Args[i]
		switch d := d.(type) {
		case *string:
			if !a.Quoted {
				return fmt.Errorf("mcu: event %q: field %d: want a quoted string", e.Line, i+3)
			}
			*d = a.Value
		case *int64:
			n, err := strconv.ParseInt(a.Value, 10, 64)
			if err != nil || a.Quoted {
				return fmt.Errorf("mcu: event %q: field %d: want an integer", e.Line, i+3)
			}
			*d = n
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

// Offer decodes a 7,10700 event.
func (e Event) Offer() (Offer, error) {
	var o Offer
	var bat, sig int64
	if err := e.fields(&o.Component, &o.Source, &o.Target, &bat, &sig, &o.Size); err != nil {
		return Offer{}, err
	}
	o.MinBattery, o.MinSignalDBm = int(bat), int(sig)
	return o, nil
}

// Start is a SOTA 7,10701 event: the digests of the whole component.
type Start struct {
	Component string
	Size      int64
	MD5       string
	CRC       uint32
	SHA256    string // empty unless requested with AT+QIOTOTAREQ=1
}

// Start decodes a SOTA 7,10701 event.
func (e Event) Start() (Start, error) {
	var s Start
	var crc int64
	if err := e.fields(&s.Component, &s.Size, &s.MD5, &crc); err != nil {
		return Start{}, err
	}
	if crc < 0 || crc > 0xFFFFFFFF {
		return Start{}, fmt.Errorf("mcu: event %q: CRC %d does not fit 32 bits", e.Line, crc)
	}
	s.CRC = uint32(crc)
	if len(e.Args) > 4 {
		if err := (Event{Args: e.Args[4:], Line: e.Line}).fields(&s.SHA256); err != nil {
			return Start{}, err
		}
	}
	return s, nil
}

// Piece is a SOTA 7,10703 event: a piece of the component is ready.
type Piece struct {
	Component        string
	Size, Start, Len int64
}

// Piece decodes a SOTA 7,10703 event.
func (e Event) Piece() (Piece, error) {
	var p Piece
	if err := e.fields(&p.Component, &p.Size, &p.Start, &p.Len); err != nil {
		return Piece{}, err
	}
	if p.Start < 0 || p.Len <= 0 || p.Start+p.Len > p.Size {
		return Piece{}, fmt.Errorf("mcu: event %q: piece [%d, +%d) does not fit a %d-byte component", e.Line, p.Start, p.Len, p.Size)
	}
	return p, nil
}

// otardLength recognises the "+QIOTOTARD: <start>,<len>" header and
// returns <len>.
func otardLength(line string) (int, bool) {
	_, n, ok := otardHeader(line)
	return int(n), ok
}

func otardHeader(line string) (start, n int64, ok bool) {
	rest, ok := strings.CutPrefix(line, "+QIOTOTARD:")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(strings.TrimSpace(rest), ",")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	n, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if err1 != nil || err2 != nil || n < 0 || n > 1<<20 {
		return 0, 0, false
	}
	return start, n, true
}
