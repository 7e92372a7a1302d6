package mcu

import (
	"reflect"
	"strings"
	"testing"

	"github.com/atota/atota/atcmd"
)

const (
	md5Hex = "5d41402abc4b2a76b9719d911017c592"
	shaHex = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
)

func TestParseEvent(t *testing.T) {
	tests := []struct {
		name, line string
		want       Event
		wantErr    string
	}{
		{name: "registration", line: "+QIOTEVT: 3,10200", want: Event{Type: 3, Code: 10200}},
		{name: "no space", line: "+QIOTEVT:7,10702", want: Event{Type: 7, Code: 10702}},
		{name: "plan", line: `+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,27954`, want: Event{Type: 7, Code: 10700, Args: []atcmd.Arg{
			atcmd.Str("STM32"), atcmd.Str(""), atcmd.Str("2_0_0"), atcmd.Int(30), atcmd.Int(-113), atcmd.Int(27954)}}},
		{name: "other prefix", line: "+QIOTOTARD: 0,1024", wantErr: "want +QIOTEVT: <type>,<code>"},
		{name: "empty", line: "+QIOTEVT:", wantErr: "want at least a type and a code"},
		{name: "type only", line: "+QIOTEVT: 7", wantErr: "want at least a type and a code"},
		{name: "quoted code", line: `+QIOTEVT: 7,"10700"`, wantErr: "must be unquoted integers"},
		{name: "word code", line: "+QIOTEVT: 7,abc", wantErr: "must be unquoted integers"},
		{name: "unterminated", line: `+QIOTEVT: 7,10700,"STM32`, wantErr: "unterminated quoted string"},
		{name: "semicolon", line: `+QIOTEVT: 7,10700;x`, wantErr: "unexpected ';'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEvent(tt.line)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "mcu: ") {
					t.Fatalf("ParseEvent(%q) = %v, want an error with %q", tt.line, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEvent(%q): %v", tt.line, err)
			}
			tt.want.Line = tt.line
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseEvent(%q) = %#v, want %#v", tt.line, got, tt.want)
			}
		})
	}
}

func mustEvent(t *testing.T, line string) Event {
	t.Helper()
	e, err := ParseEvent(line)
	if err != nil {
		t.Fatalf("ParseEvent(%q): %v", line, err)
	}
	return e
}

func TestOffer(t *testing.T) {
	tests := []struct {
		name, line string
		want       Offer
		wantErr    string
	}{
		{name: "spec example", line: `+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,27954`,
			want: Offer{Component: "STM32", Source: "", Target: "2_0_0", MinBattery: 30, MinSignalDBm: -113, Size: 27954}},
		{name: "FOTA example", line: `+QIOTEVT: 7,10700,"app","FC41DAAR12A01_QTH","FC41DAAR12A03_QTH",30,-113,698000`,
			want: Offer{Component: "app", Source: "FC41DAAR12A01_QTH", Target: "FC41DAAR12A03_QTH", MinBattery: 30, MinSignalDBm: -113, Size: 698000}},
		{name: "extra field ignored", line: `+QIOTEVT: 7,10700,"STM32","1","2",0,-90,10,"x"`,
			want: Offer{Component: "STM32", Source: "1", Target: "2", MinBattery: 0, MinSignalDBm: -90, Size: 10}},
		{name: "wrong code", line: `+QIOTEVT: 7,10701,"STM32","","2_0_0",30,-113,27954`, wantErr: "is 7,10701, want 7,10700"},
		{name: "wrong type", line: `+QIOTEVT: 1,10700,"STM32","","2_0_0",30,-113,27954`, wantErr: "is 1,10700, want 7,10700"},
		{name: "short", line: `+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113`, wantErr: "5 data fields after the code, want 6"},
		{name: "unquoted id", line: `+QIOTEVT: 7,10700,STM32,"","2_0_0",30,-113,27954`, wantErr: "field 3 (STM32): want a quoted string"},
		{name: "quoted battery", line: `+QIOTEVT: 7,10700,"STM32","","2_0_0","30",-113,27954`, wantErr: `field 6 ("30"): want an integer`},
		{name: "bad size", line: `+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,12k`, wantErr: "field 8 (12k): want an integer"},
		{name: "empty id", line: `+QIOTEVT: 7,10700,"","","2_0_0",30,-113,27954`, wantErr: "the component is empty"},
		{name: "empty target", line: `+QIOTEVT: 7,10700,"STM32","1","",30,-113,27954`, wantErr: "the target version is empty"},
		{name: "negative size", line: `+QIOTEVT: 7,10700,"STM32","","2",30,-113,-1`, wantErr: "negative space -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustEvent(t, tt.line).Offer()
			checkDecode(t, tt.line, got, tt.want, err, tt.wantErr)
		})
	}
}

func TestStart(t *testing.T) {
	tests := []struct {
		name, line string
		want       Start
		wantErr    string
	}{
		{name: "no SHA-256", line: `+QIOTEVT: 7,10701,"STM32",27954,"` + md5Hex + `",4022793929`,
			want: Start{Component: "STM32", Size: 27954, MD5: md5Hex, CRC: 4022793929}},
		{name: "SHA-256", line: `+QIOTEVT: 7,10701,"STM32",27954,"` + md5Hex + `",4022793929,"` + shaHex + `"`,
			want: Start{Component: "STM32", Size: 27954, MD5: md5Hex, CRC: 4022793929, SHA256: shaHex}},
		{name: "empty SHA-256 is absent", line: `+QIOTEVT: 7,10701,"STM32",1,"` + md5Hex + `",0,""`,
			want: Start{Component: "STM32", Size: 1, MD5: md5Hex}},
		{name: "upper case", line: `+QIOTEVT: 7,10701,"STM32",1,"` + strings.ToUpper(md5Hex) + `",0,"` + strings.ToUpper(shaHex) + `"`,
			want: Start{Component: "STM32", Size: 1, MD5: md5Hex, SHA256: shaHex}},
		{name: "FOTA has no data", line: `+QIOTEVT: 7,10701`, wantErr: "0 data fields after the code, want 4"},
		{name: "wrong code", line: `+QIOTEVT: 7,10703,"STM32",27954,0,27954`, wantErr: "is 7,10703, want 7,10701"},
		{name: "CRC too big", line: `+QIOTEVT: 7,10701,"STM32",27954,"` + md5Hex + `",4294967296`, wantErr: "CRC 4294967296 does not fit 32 bits"},
		{name: "CRC negative", line: `+QIOTEVT: 7,10701,"STM32",27954,"` + md5Hex + `",-1`, wantErr: "CRC -1 does not fit 32 bits"},
		{name: "MD5 short", line: `+QIOTEVT: 7,10701,"STM32",27954,"abc",1`, wantErr: `MD5 "abc": want 32 hex digits`},
		{name: "MD5 not hex", line: `+QIOTEVT: 7,10701,"STM32",27954,"` + strings.Repeat("g", 32) + `",1`, wantErr: "want 32 hex digits"},
		{name: "SHA-256 short", line: `+QIOTEVT: 7,10701,"STM32",27954,"` + md5Hex + `",1,"abc"`, wantErr: `SHA-256 "abc": want 64 hex digits`},
		{name: "SHA-256 unquoted", line: `+QIOTEVT: 7,10701,"STM32",27954,"` + md5Hex + `",1,` + shaHex, wantErr: "field 7"},
		{name: "zero size", line: `+QIOTEVT: 7,10701,"STM32",0,"` + md5Hex + `",1`, wantErr: "component size 0"},
		{name: "empty id", line: `+QIOTEVT: 7,10701,"",1,"` + md5Hex + `",1`, wantErr: "the component is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustEvent(t, tt.line).Start()
			checkDecode(t, tt.line, got, tt.want, err, tt.wantErr)
		})
	}
}

func TestPiece(t *testing.T) {
	tests := []struct {
		name, line string
		want       Piece
		wantErr    string
	}{
		{name: "spec example", line: `+QIOTEVT: 7,10703,"STM32",27954,0,27954`, want: Piece{Component: "STM32", Size: 27954, Start: 0, Len: 27954}},
		{name: "last piece", line: `+QIOTEVT: 7,10703,"MCU_A",100000,65536,34464`, want: Piece{Component: "MCU_A", Size: 100000, Start: 65536, Len: 34464}},
		{name: "past the end", line: `+QIOTEVT: 7,10703,"STM32",100,50,51`, wantErr: "piece of 51 bytes at 50 does not fit a 100-byte component"},
		{name: "start at the end", line: `+QIOTEVT: 7,10703,"STM32",100,100,1`, wantErr: "does not fit"},
		{name: "empty", line: `+QIOTEVT: 7,10703,"STM32",100,0,0`, wantErr: "does not fit"},
		{name: "negative start", line: `+QIOTEVT: 7,10703,"STM32",100,-1,10`, wantErr: "does not fit"},
		{name: "overflow", line: `+QIOTEVT: 7,10703,"STM32",100,1,9223372036854775807`, wantErr: "does not fit"},
		{name: "short", line: `+QIOTEVT: 7,10703,"STM32",100,0`, wantErr: "3 data fields after the code, want 4"},
		{name: "wrong code", line: `+QIOTEVT: 7,10700,"STM32",100,0,100`, wantErr: "want 7,10703"},
		{name: "empty id", line: `+QIOTEVT: 7,10703,"",100,0,100`, wantErr: "the component is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustEvent(t, tt.line).Piece()
			checkDecode(t, tt.line, got, tt.want, err, tt.wantErr)
		})
	}
}

func checkDecode[T any](t *testing.T, line string, got, want T, err error, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.HasPrefix(err.Error(), "mcu: ") {
			t.Fatalf("decoding %q: error %v, want one with %q", line, err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("decoding %q: %v", line, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoding %q = %+v, want %+v", line, got, want)
	}
}

// TestEventLines checks that the encoders used by the tests give back the
// spec's example lines.
func TestEventLines(t *testing.T) {
	for _, line := range []string{
		`+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,27954`,
		`+QIOTEVT: 7,10701,"STM32",27954,"` + md5Hex + `",4022793929`,
		`+QIOTEVT: 7,10701,"STM32",27954,"` + md5Hex + `",4022793929,"` + shaHex + `"`,
		`+QIOTEVT: 7,10703,"STM32",27954,0,27954`,
	} {
		e := mustEvent(t, line)
		var got string
		switch e.Code {
		case EvtPlan:
			o, err := e.Offer()
			if err != nil {
				t.Fatal(err)
			}
			got = o.line()
		case EvtDownload:
			s, err := e.Start()
			if err != nil {
				t.Fatal(err)
			}
			got = s.line()
		case EvtPiece:
			p, err := e.Piece()
			if err != nil {
				t.Fatal(err)
			}
			got = p.line()
		}
		if got != line {
			t.Errorf("re-encoded\n%s\nwant\n%s", got, line)
		}
	}
}

func TestOtardHeader(t *testing.T) {
	tests := []struct {
		line     string
		start, n int64
		ok       bool
	}{
		{line: "+QIOTOTARD: 0,1024", start: 0, n: 1024, ok: true},
		{line: "+QIOTOTARD: 27648,306", start: 27648, n: 306, ok: true},
		{line: "+QIOTOTARD:5, 7 ", start: 5, n: 7, ok: true},
		{line: "+QIOTOTARD: 0,0", start: 0, n: 0, ok: true},
		{line: "+QIOTOTARD: 0,1048576", start: 0, n: 1 << 20, ok: true},
		{line: "+QIOTOTARD: 0,1048577"},
		{line: "+QIOTOTARD: -1,10"},
		{line: "+QIOTOTARD: 0,-10"},
		{line: "+QIOTOTARD: 0"},
		{line: "+QIOTOTARD: 0,1,2"},
		{line: "+QIOTOTARD: x,1"},
		{line: `+QIOTOTARD: "0",1`},
		{line: "+QIOTOTARD: <start>,(1-1024)"},
		{line: "+QIOTEVT: 0,1"},
		{line: ""},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			start, n, ok := otardHeader(tt.line)
			if start != tt.start || n != tt.n || ok != tt.ok {
				t.Errorf("otardHeader(%q) = %d, %d, %v; want %d, %d, %v", tt.line, start, n, ok, tt.start, tt.n, tt.ok)
			}
			pl, pok := otardPayload(tt.line)
			if pok != tt.ok || tt.ok && pl != int(tt.n)+1 {
				t.Errorf("otardPayload(%q) = %d, %v; want %d, %v", tt.line, pl, pok, tt.n+1, tt.ok)
			}
		})
	}
}

func TestOtardData(t *testing.T) {
	tests := []struct {
		name    string
		resp    atcmd.Response
		off, n  int64
		want    string
		wantErr string
	}{
		{name: "ok", resp: atcmd.Response{Lines: []string{"+QIOTOTARD: 8,3"}, Payload: []byte("abc\r")}, off: 8, n: 4, want: "abc"},
		{name: "LF after", resp: atcmd.Response{Lines: []string{"+QIOTOTARD: 8,3"}, Payload: []byte("a\r\n\n")}, off: 8, n: 3, want: "a\r\n"},
		{name: "no header", resp: atcmd.Response{Lines: []string{"024", "junk"}}, off: 0, n: 4, wantErr: "no +QIOTOTARD: <start>,<len> header"},
		{name: "wrong start", resp: atcmd.Response{Lines: []string{"+QIOTOTARD: 1,3"}, Payload: []byte("abc\r")}, off: 0, n: 4, wantErr: "is for byte 1, asked for byte 0"},
		{name: "too long", resp: atcmd.Response{Lines: []string{"+QIOTOTARD: 0,5"}, Payload: []byte("abcde\r")}, off: 0, n: 4, wantErr: "announces 5 bytes, asked for 1 to 4"},
		{name: "zero", resp: atcmd.Response{Lines: []string{"+QIOTOTARD: 0,0"}, Payload: []byte("\r")}, off: 0, n: 4, wantErr: "announces 0 bytes"},
		{name: "not framed", resp: atcmd.Response{Lines: []string{"+QIOTOTARD: 0,3"}, Payload: []byte("abcd")}, off: 0, n: 4, wantErr: `followed by 'd', not CR LF`},
		{name: "payload missing", resp: atcmd.Response{Lines: []string{"+QIOTOTARD: 0,3"}}, off: 0, n: 4, wantErr: "carries 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := otardData(&tt.resp, tt.off, tt.n)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("otardData = %q, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("otardData = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
