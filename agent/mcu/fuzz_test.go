package mcu

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseEvent checks that ParseEvent and the decoders never panic, and
// that an event they accept re-encodes to a line that decodes to the same
// value and re-encodes to itself.
func FuzzParseEvent(f *testing.F) {
	for _, l := range []string{
		`+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,27954`,
		`+QIOTEVT: 7,10701,"STM32",27954,"` + md5Hex + `",4022793929`,
		`+QIOTEVT: 7,10701,"STM32",27954,"` + md5Hex + `",4022793929,"` + shaHex + `"`,
		`+QIOTEVT: 7,10703,"STM32",27954,0,27954`,
		`+QIOTEVT: 3,10200`,
		`+QIOTEVT: 7,10703,"a,b",10,+2, 8`,
		`+QIOTEVT:7,10700,"x" ,"","1",-0,0,0,7`,
		`+QIOTEVT: 7,10701,"STM32",1,"` + md5Hex + `",0,""`,
	} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseEvent(line)
		if err != nil {
			return
		}
		if e.Line != line {
			t.Fatalf("Line = %q, want %q", e.Line, line)
		}
		if o, err := e.Offer(); err == nil {
			roundTrip(t, o.line(), o, Event.Offer)
		}
		if s, err := e.Start(); err == nil {
			roundTrip(t, s.line(), s, Event.Start)
		}
		if p, err := e.Piece(); err == nil {
			roundTrip(t, p.line(), p, Event.Piece)
		}
	})
}

func roundTrip[T interface{ line() string }](t *testing.T, line string, want T, decode func(Event) (T, error)) {
	t.Helper()
	e, err := ParseEvent(line)
	if err != nil {
		t.Fatalf("re-encoded %+v as %q, which does not parse: %v", want, line, err)
	}
	got, err := decode(e)
	if err != nil {
		t.Fatalf("re-encoded %+v as %q, which does not decode: %v", want, line, err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("re-encoded %+v as %q, which decodes to %+v", want, line, got)
	}
	if again := got.line(); again != line {
		t.Fatalf("re-encoding is not stable: %q, then %q", line, again)
	}
}

// FuzzOtardHeader checks that the AT+QIOTOTARD header parser never
// panics, that what it accepts is in range, and that an accepted header
// re-formats to one that parses to the same values.
func FuzzOtardHeader(f *testing.F) {
	for _, l := range []string{"+QIOTOTARD: 0,1024", "+QIOTOTARD: 27648,306", "+QIOTOTARD:5, 7 ", "+QIOTOTARD: -1,1", "+QIOTOTARD: 0,99999999999999999999"} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		start, n, ok := otardHeader(line)
		pl, pok := otardPayload(line)
		if ok != pok {
			t.Fatalf("otardHeader ok %v, otardPayload ok %v", ok, pok)
		}
		if !ok {
			return
		}
		if start < 0 || n < 0 || n > maxBlock || pl != int(n)+1 {
			t.Fatalf("otardHeader(%q) = %d, %d; otardPayload = %d", line, start, n, pl)
		}
		canon := fmt.Sprintf("+QIOTOTARD: %d,%d", start, n)
		s2, n2, ok2 := otardHeader(canon)
		if !ok2 || s2 != start || n2 != n {
			t.Fatalf("%q parsed to %d,%d; %q parses to %d,%d,%v", line, start, n, canon, s2, n2, ok2)
		}
	})
}

// FuzzLoadJournal checks that any journal file either loads as a journal
// that saves and loads back the same, or is refused with an error naming
// it; never a panic.
func FuzzLoadJournal(f *testing.F) {
	f.Add([]byte(`{"format":1,"target":"t","installed":{"A":"2"},"transfer":{"component":"A","size":10,"committed":4,"phase":"downloading","image":"slot=B size=10"}}`))
	f.Add([]byte(`{"format":1,"target":"t"}`))
	f.Add([]byte(`{"format":1,"target":"t","transfer":{"component":"","size":-1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		path := dir + "/j.json"
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		j, err := loadJournal(path, "t")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "mcu: journal") {
				t.Fatalf("error %q does not name the journal", err)
			}
			return
		}
		if err := j.save(); err != nil {
			t.Fatal(err)
		}
		k, err := loadJournal(path, "t")
		if err != nil {
			t.Fatalf("a journal saved by save does not load: %v", err)
		}
		if !reflect.DeepEqual(k.st, j.st) {
			t.Fatalf("reloaded %+v, saved %+v", k.st, j.st)
		}
	})
}

// FuzzOpenTarget checks that target specs are parsed without panics and
// refused with an "mcu: " error.
func FuzzOpenTarget(f *testing.F) {
	for _, s := range []string{"stm32:/dev/ttyUSB0?baud=115200&addr=0x08004000&go=false&part=stm32f407vg&parity=none",
		"flashsim:x.bin?part=nrf52840", "file:a.bin", "exec:cp {} /tmp/x", "stm32:tcp://127.0.0.1:1?addr=4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		if strings.HasPrefix(spec, "flashsim:") || strings.HasPrefix(spec, "file:") {
			return // these touch the file system
		}
		tg, err := OpenTarget(spec, WithWorkDir(t.TempDir()))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "mcu: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		tg.Close()
	})
}
