package atcmd

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is the form of an AT command: execute, read, test or set.
type Kind int

// The four forms of an AT command (ITU-T V.250 §5.3).
const (
	Exec Kind = iota // AT+X, ATI, AT
	Read             // AT+X?
	Test             // AT+X=?
	Set              // AT+X=<args>, ATE0
)

// String returns the name of the kind.
func (k Kind) String() string {
	switch k {
	case Exec:
		return "exec"
	case Read:
		return "read"
	case Test:
		return "test"
	case Set:
		return "set"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Arg is one argument of a set command: a quoted string or a bare value
// (usually an integer). An omitted argument ("1,,2") is a bare empty Value.
type Arg struct {
	Value  string
	Quoted bool
}

// Str returns a quoted string argument.
func Str(s string) Arg { return Arg{Value: s, Quoted: true} }

// Int returns a bare integer argument.
func Int(n int64) Arg { return Arg{Value: strconv.FormatInt(n, 10)} }

// Int parses a bare argument as a decimal integer.
func (a Arg) Int() (int64, error) {
	if a.Quoted {
		return 0, fmt.Errorf("atcmd: argument %q: want an integer, got a quoted string", a.Value)
	}
	n, err := strconv.ParseInt(a.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("atcmd: argument %q: want an integer", a.Value)
	}
	return n, nil
}

// String returns the argument as it is written on the wire.
func (a Arg) String() string {
	if a.Quoted {
		return `"` + a.Value + `"`
	}
	return a.Value
}

// Command is one AT command: its name, form and arguments.
//
// Name is upper case: "" for a bare AT, a letter (with an optional '&'
// prefix) for a basic command ("E", "I", "&F"), and the prefixed name for an
// extended command ("+QIOTREG", "+CSQ"). A basic command with a number, such
// as ATE0, is a Set with that number as its one argument.
type Command struct {
	Name string
	Kind Kind
	Args []Arg
}

// Extended reports whether c is an extended command (+X, $X, %X, ^X).
func (c Command) Extended() bool {
	return c.Name != "" && strings.ContainsRune(extPrefixes, rune(c.Name[0]))
}

// String returns the command line for c, without the terminator:
// "AT+QIOTOTARD=0,1024", "ATE0", "AT+CSQ".
func (c Command) String() string {
	var b strings.Builder
	b.WriteString("AT")
	c.write(&b)
	return b.String()
}

func (c Command) write(b *strings.Builder) {
	b.WriteString(c.Name)
	switch c.Kind {
	case Read:
		b.WriteByte('?')
	case Test:
		b.WriteString("=?")
	case Set:
		if c.Extended() || len(c.Name) > 1 && c.Name[0] == 'S' {
			b.WriteByte('=')
		}
		for i, a := range c.Args {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(a.String())
		}
	}
}

// Int returns argument i as an integer.
func (c Command) Int(i int) (int64, error) {
	if i >= len(c.Args) {
		return 0, fmt.Errorf("atcmd: %s: argument %d missing", c.Name, i+1)
	}
	n, err := c.Args[i].Int()
	if err != nil {
		return 0, fmt.Errorf("atcmd: %s: argument %d: %w", c.Name, i+1, err)
	}
	return n, nil
}

// Str returns argument i, which must be a quoted string.
func (c Command) Str(i int) (string, error) {
	if i >= len(c.Args) {
		return "", fmt.Errorf("atcmd: %s: argument %d missing", c.Name, i+1)
	}
	if !c.Args[i].Quoted {
		return "", fmt.Errorf("atcmd: %s: argument %d: want a quoted string, got %q", c.Name, i+1, c.Args[i].Value)
	}
	return c.Args[i].Value, nil
}

// SyntaxError reports a command line that is not a valid AT command line.
type SyntaxError struct {
	Line   string // the line as received (truncated for display)
	Offset int    // byte offset of the problem in Line
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("atcmd: syntax error at byte %d of %q: %s", e.Offset, e.Line, e.Msg)
}

const extPrefixes = "+$%^"

// ParseLine parses one command line (without its terminator) into the
// commands it holds. A line starts with "AT" (any case) and may carry
// several commands: basic ones back to back (ATE0V1) and extended ones
// separated by ';' (AT+CMEE=1;+CSQ). Names are returned in upper case.
func ParseLine(line string) ([]Command, error) {
	fail := func(off int, msg string) ([]Command, error) {
		show := line
		if len(show) > 64 {
			show = show[:64] + "..."
		}
		return nil, &SyntaxError{Line: show, Offset: off, Msg: msg}
	}
	if len(line) < 2 || !strings.EqualFold(line[:2], "AT") {
		return fail(0, `a command line starts with "AT"`)
	}
	p := 2
	if p == len(line) {
		return []Command{{Name: "", Kind: Exec}}, nil
	}
	var cmds []Command
	for p < len(line) {
		c := line[p]
		switch {
		case c == ';':
			p++
			continue
		case c == ' ':
			p++
			continue
		case strings.IndexByte(extPrefixes, c) >= 0:
			cmd, n, err := parseExtended(line[p:])
			if err != nil {
				return fail(p+n, err.Error())
			}
			cmds = append(cmds, cmd)
			p += n
		case isLetter(c) || c == '&':
			cmd, n, err := parseBasic(line[p:])
			if err != nil {
				return fail(p+n, err.Error())
			}
			cmds = append(cmds, cmd)
			p += n
		default:
			return fail(p, fmt.Sprintf("unexpected byte %q", c))
		}
	}
	if len(cmds) == 0 {
		return []Command{{Name: "", Kind: Exec}}, nil
	}
	return cmds, nil
}

// ParseCommand parses a line that must hold exactly one command.
func ParseCommand(line string) (Command, error) {
	cmds, err := ParseLine(line)
	if err != nil {
		return Command{}, err
	}
	if len(cmds) != 1 {
		return Command{}, &SyntaxError{Line: line, Msg: fmt.Sprintf("%d commands, want one", len(cmds))}
	}
	return cmds[0], nil
}

func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func isNameByte(c byte) bool {
	return isLetter(c) || isDigit(c) || strings.IndexByte("!%-./:_", c) >= 0
}

// parseBasic parses a basic command such as E0, I, &F, S3? or S3=13 at the
// start of s and returns it and the bytes it used.
func parseBasic(s string) (Command, int, error) {
	p := 0
	name := ""
	if s[0] == '&' {
		if len(s) < 2 || !isLetter(s[1]) {
			return Command{}, 1, fmt.Errorf("'&' must be followed by a letter")
		}
		name, p = "&"+strings.ToUpper(s[1:2]), 2
	} else {
		name, p = strings.ToUpper(s[:1]), 1
	}
	if name == "S" { // S-parameter: Sn?, Sn=v
		q := p
		for q < len(s) && isDigit(s[q]) {
			q++
		}
		if q == p {
			return Command{}, p, fmt.Errorf("the S parameter needs a register number")
		}
		name, p = "S"+s[p:q], q
		switch {
		case p < len(s) && s[p] == '?':
			return Command{Name: name, Kind: Read}, p + 1, nil
		case p < len(s) && s[p] == '=':
			q = p + 1
			for q < len(s) && isDigit(s[q]) {
				q++
			}
			return Command{Name: name, Kind: Set, Args: []Arg{{Value: s[p+1 : q]}}}, q, nil
		}
		return Command{Name: name, Kind: Exec}, p, nil
	}
	q := p
	for q < len(s) && isDigit(s[q]) {
		q++
	}
	if q == p {
		return Command{Name: name, Kind: Exec}, p, nil
	}
	return Command{Name: name, Kind: Set, Args: []Arg{{Value: s[p:q]}}}, q, nil
}

// parseExtended parses an extended command (+NAME, +NAME?, +NAME=?,
// +NAME=args) at the start of s, up to a ';' or the end of s.
func parseExtended(s string) (Command, int, error) {
	p := 1
	for p < len(s) && isNameByte(s[p]) {
		p++
	}
	if p == 1 {
		return Command{}, p, fmt.Errorf("command name missing after %q", s[:1])
	}
	cmd := Command{Name: strings.ToUpper(s[:p]), Kind: Exec}
	if p == len(s) || s[p] == ';' {
		return cmd, p, nil
	}
	switch s[p] {
	case '?':
		cmd.Kind = Read
		p++
	case '=':
		p++
		if p < len(s) && s[p] == '?' {
			cmd.Kind = Test
			p++
			break
		}
		cmd.Kind = Set
		args, n, err := parseArgs(s[p:])
		if err != nil {
			return Command{}, p + n, err
		}
		cmd.Args = args
		p += n
	default:
		return Command{}, p, fmt.Errorf("unexpected byte %q after %s", s[p], cmd.Name)
	}
	for p < len(s) && s[p] == ' ' {
		p++
	}
	if p < len(s) && s[p] != ';' {
		return Command{}, p, fmt.Errorf("unexpected byte %q after %s", s[p], cmd.Name)
	}
	return cmd, p, nil
}

// ParseArgs parses the comma-separated values of an information line or an
// unsolicited result code, the part after "+NAME: " ("7,10700,\"STM32\",30"):
// quoted strings and bare values, as in a set command.
func ParseArgs(s string) ([]Arg, error) {
	args, n, err := parseArgs(s)
	if err != nil {
		return nil, &SyntaxError{Line: s, Offset: n, Msg: err.Error()}
	}
	if n != len(s) {
		return nil, &SyntaxError{Line: s, Offset: n, Msg: "unexpected ';'"}
	}
	return args, nil
}

// parseArgs parses a comma-separated argument list up to a ';' outside
// quotes or the end of s.
func parseArgs(s string) ([]Arg, int, error) {
	var args []Arg
	p := 0
	if p == len(s) || s[p] == ';' {
		return nil, p, nil
	}
	for {
		for p < len(s) && s[p] == ' ' {
			p++
		}
		var a Arg
		if p < len(s) && s[p] == '"' {
			end := strings.IndexByte(s[p+1:], '"')
			if end < 0 {
				return nil, p, fmt.Errorf("unterminated quoted string")
			}
			a = Arg{Value: s[p+1 : p+1+end], Quoted: true}
			p += end + 2
			for p < len(s) && s[p] == ' ' {
				p++
			}
		} else {
			q := p
			for q < len(s) && s[q] != ',' && s[q] != ';' {
				if s[q] == '"' {
					return nil, q, fmt.Errorf("quote inside a bare argument")
				}
				q++
			}
			a = Arg{Value: strings.TrimSpace(s[p:q])}
			p = q
		}
		args = append(args, a)
		if p == len(s) || s[p] == ';' {
			return args, p, nil
		}
		if s[p] != ',' {
			return nil, p, fmt.Errorf("want ',' between arguments, got %q", s[p])
		}
		p++
	}
}
