package atcmd

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []Command
		err  bool
	}{
		{name: "bare", line: "AT", want: []Command{{Name: "", Kind: Exec}}},
		{name: "lower case", line: "at+csq", want: []Command{{Name: "+CSQ", Kind: Exec}}},
		{name: "read", line: "AT+QIOTSTATE?", want: []Command{{Name: "+QIOTSTATE", Kind: Read}}},
		{name: "test", line: "AT+QIOTREG=?", want: []Command{{Name: "+QIOTREG", Kind: Test}}},
		{name: "set int", line: "AT+QIOTREG=1", want: []Command{{Name: "+QIOTREG", Kind: Set, Args: []Arg{{Value: "1"}}}}},
		{name: "set strings", line: `AT+QIOTMCUVER="STM32","1_0_0"`, want: []Command{{Name: "+QIOTMCUVER", Kind: Set, Args: []Arg{Str("STM32"), Str("1_0_0")}}}},
		{name: "quoted comma", line: `AT+X="a,b;c",2`, want: []Command{{Name: "+X", Kind: Set, Args: []Arg{Str("a,b;c"), {Value: "2"}}}}},
		{name: "empty string", line: `AT+QIOTMCUVER="STM32",""`, want: []Command{{Name: "+QIOTMCUVER", Kind: Set, Args: []Arg{Str("STM32"), Str("")}}}},
		{name: "omitted arg", line: "AT+X=1,,3", want: []Command{{Name: "+X", Kind: Set, Args: []Arg{{Value: "1"}, {Value: ""}, {Value: "3"}}}}},
		{name: "spaces", line: "AT+QIOTOTARD= 0 , 1024 ", want: []Command{{Name: "+QIOTOTARD", Kind: Set, Args: []Arg{{Value: "0"}, {Value: "1024"}}}}},
		{name: "basic with number", line: "ATE0", want: []Command{{Name: "E", Kind: Set, Args: []Arg{{Value: "0"}}}}},
		{name: "basic run", line: "ATE0V1", want: []Command{{Name: "E", Kind: Set, Args: []Arg{{Value: "0"}}}, {Name: "V", Kind: Set, Args: []Arg{{Value: "1"}}}}},
		{name: "ampersand", line: "AT&F", want: []Command{{Name: "&F", Kind: Exec}}},
		{name: "S register", line: "ATS3=13", want: []Command{{Name: "S3", Kind: Set, Args: []Arg{{Value: "13"}}}}},
		{name: "chained", line: "AT+CMEE=1;+CSQ", want: []Command{{Name: "+CMEE", Kind: Set, Args: []Arg{{Value: "1"}}}, {Name: "+CSQ", Kind: Exec}}},
		{name: "info", line: "ATI", want: []Command{{Name: "I", Kind: Exec}}},
		{name: "no AT", line: "HELLO", err: true},
		{name: "empty", line: "", err: true},
		{name: "unterminated quote", line: `AT+X="abc`, err: true},
		{name: "garbage after name", line: "AT+CSQ#", err: true},
		{name: "binary", line: "AT\x00\xff", err: true},
		{name: "plus alone", line: "AT+", err: true},
		{name: "quote in bare", line: `AT+X=1"2"`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine(tt.line)
			if tt.err {
				if err == nil {
					t.Fatalf("ParseLine(%q) = %v, want an error", tt.line, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLine(%q): %v", tt.line, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseLine(%q)\ngot  %#v\nwant %#v", tt.line, got, tt.want)
			}
		})
	}
}

func TestCommandString(t *testing.T) {
	tests := []struct {
		cmd  Command
		want string
	}{
		{Command{Name: "+QIOTOTARD", Kind: Set, Args: []Arg{Int(0), Int(1024)}}, "AT+QIOTOTARD=0,1024"},
		{Command{Name: "+QIOTMCUVER", Kind: Set, Args: []Arg{Str("STM32"), Str("2_0_0")}}, `AT+QIOTMCUVER="STM32","2_0_0"`},
		{Command{Name: "E", Kind: Set, Args: []Arg{Int(0)}}, "ATE0"},
		{Command{Name: "+CSQ", Kind: Exec}, "AT+CSQ"},
		{Command{Name: "+QIOTSTATE", Kind: Read}, "AT+QIOTSTATE?"},
		{Command{Name: "+QIOTREG", Kind: Test}, "AT+QIOTREG=?"},
		{Command{}, "AT"},
	}
	for _, tt := range tests {
		if got := tt.cmd.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestArgs(t *testing.T) {
	c, err := ParseCommand(`AT+X="s",12,abc`)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := c.Str(0); err != nil || s != "s" {
		t.Errorf("Str(0) = %q, %v; want s", s, err)
	}
	if n, err := c.Int(1); err != nil || n != 12 {
		t.Errorf("Int(1) = %d, %v; want 12", n, err)
	}
	if _, err := c.Int(0); err == nil {
		t.Error("Int(0) of a quoted string: want an error")
	}
	if _, err := c.Int(2); err == nil {
		t.Error("Int(2) of abc: want an error")
	}
	if _, err := c.Str(1); err == nil {
		t.Error("Str(1) of a bare value: want an error")
	}
	if _, err := c.Int(5); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Int(5) = %v, want a missing-argument error", err)
	}
}

// FuzzParseLine checks that the parser never panics and that every command
// it accepts prints to a line that parses back to the same command.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"AT", "AT+QIOTOTARD=0,1024", `AT+QIOTMCUVER="a","b"`, "ATE0V1", "AT+CMEE=1;+CSQ", "ATS3=13", "AT+X=?", "AT&F", `AT+X=1,,"a,b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmds, err := ParseLine(line)
		if err != nil {
			return
		}
		for _, c := range cmds {
			again, err := ParseCommand(c.String())
			if err != nil {
				t.Fatalf("%q parsed to %#v, whose String %q does not parse: %v", line, c, c.String(), err)
			}
			if !reflect.DeepEqual(normal(again), normal(c)) {
				t.Fatalf("%q: round trip changed the command:\n%#v\n%#v", line, c, again)
			}
		}
	})
}

func normal(c Command) Command {
	if len(c.Args) == 0 {
		c.Args = nil
	}
	return c
}
