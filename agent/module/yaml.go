package module

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A small YAML subset, enough for a replies file and no more: block
// sequences ("- "), block mappings with plain keys, plain, 'single' and
// "double" quoted scalars, flow sequences of scalars ([a, "b"]) and
// comments. Anchors, tags, flow mappings, block scalars (| >) and
// multi-line scalars are refused with the line they are on, so a file
// is either read as YAML would read it or not at all.

type yamlKind int

const (
	yamlScalar yamlKind = iota
	yamlSeq
	yamlMap
)

// yamlNode is a parsed value and the line it starts on.
type yamlNode struct {
	kind yamlKind
	line int
	str  string      // yamlScalar
	seq  []*yamlNode // yamlSeq
	keys []string    // yamlMap, in order
	vals map[string]*yamlNode
	at   map[string]int // yamlMap: the line of each key
}

// scalar returns the node's text, if it is a scalar (a null reads as "").
func (n *yamlNode) scalar() (string, bool) {
	if n == nil {
		return "", true
	}
	return n.str, n.kind == yamlScalar
}

// list returns a sequence of scalars, or a single scalar as a list of one.
func (n *yamlNode) list() ([]string, bool) {
	if n == nil {
		return nil, true
	}
	if n.kind == yamlScalar {
		return []string{n.str}, true
	}
	if n.kind != yamlSeq {
		return nil, false
	}
	var out []string
	for _, e := range n.seq {
		s, ok := e.scalar()
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// yamlError is a YAML document this parser does not read.
type yamlError struct {
	line int
	msg  string
}

func (e *yamlError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// yamlLine is one line with content: its number, indentation and text
// without the indentation and comment.
type yamlLine struct {
	num    int
	indent int
	text   string
}

// maxYAMLDepth bounds nesting: a replies file needs three levels.
const maxYAMLDepth = 16

// parseYAML parses a document; an empty one is nil.
func parseYAML(data []byte) (*yamlNode, error) {
	if !utf8.Valid(data) {
		return nil, &yamlError{1, "not UTF-8 text"}
	}
	var lines []yamlLine
	for i, raw := range strings.Split(strings.TrimPrefix(string(data), "\ufeff"), "\n") {
		num := i + 1
		raw = strings.TrimSuffix(raw, "\r")
		body := strings.TrimLeft(raw, " ")
		indent := len(raw) - len(body)
		if strings.HasPrefix(body, "\t") {
			return nil, &yamlError{num, "a tab in the indentation; indent with spaces"}
		}
		text, err := stripComment(body)
		if err != nil {
			return nil, &yamlError{num, err.Error()}
		}
		text = strings.TrimRight(text, " \t")
		if text == "" || indent == 0 && text == "---" {
			continue
		}
		if indent == 0 && text == "..." {
			break
		}
		lines = append(lines, yamlLine{num, indent, text})
	}
	if len(lines) == 0 {
		return nil, nil
	}
	p := &yamlParser{lines: lines}
	n, err := p.block(lines[0].indent, 0)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.lines) {
		l := p.lines[p.i]
		return nil, &yamlError{l.num, "indentation does not match the lines before"}
	}
	return n, nil
}

// stripComment removes a comment: '#' at the start or after a space,
// outside quotes.
func stripComment(s string) (string, error) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '"' && c == '\\':
			i++
		case quote != 0 && c == quote:
			if quote == '\'' && i+1 < len(s) && s[i+1] == '\'' {
				i++
				continue
			}
			quote = 0
		case quote == 0 && (c == '"' || c == '\'') && (i == 0 || strings.IndexByte(" [,:-", s[i-1]) >= 0):
			quote = c
		case quote == 0 && c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i], nil
		}
	}
	return s, nil
}

type yamlParser struct {
	lines []yamlLine
	i     int
}

// block parses the lines at indentation indent from the current line on:
// a sequence or a mapping.
func (p *yamlParser) block(indent, depth int) (*yamlNode, error) {
	l := p.lines[p.i]
	if depth > maxYAMLDepth {
		return nil, &yamlError{l.num, "nested too deeply"}
	}
	if l.text == "-" || strings.HasPrefix(l.text, "- ") {
		return p.sequence(indent, depth)
	}
	return p.mapping(indent, depth)
}

// sequence parses "- item" lines at indent.
func (p *yamlParser) sequence(indent, depth int) (*yamlNode, error) {
	n := &yamlNode{kind: yamlSeq, line: p.lines[p.i].num}
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, &yamlError{l.num, "indentation does not match the list item above"}
		}
		if l.text != "-" && !strings.HasPrefix(l.text, "- ") {
			return nil, &yamlError{l.num, "want a list item ('- ') at this indentation"}
		}
		rest := strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " ")
		if rest == "" { // the item is the block below
			p.i++
			if p.i < len(p.lines) && p.lines[p.i].indent > indent {
				item, err := p.block(p.lines[p.i].indent, depth+1)
				if err != nil {
					return nil, err
				}
				n.seq = append(n.seq, item)
			} else {
				n.seq = append(n.seq, &yamlNode{kind: yamlScalar, line: l.num})
			}
			continue
		}
		col := indent + (len(l.text) - len(rest))
		if isMappingLine(rest) {
			// "- key: value" starts a mapping at the column of key.
			p.lines[p.i] = yamlLine{l.num, col, rest}
			item, err := p.mapping(col, depth+1)
			if err != nil {
				return nil, err
			}
			n.seq = append(n.seq, item)
			continue
		}
		v, err := scalarValue(rest, l.num)
		if err != nil {
			return nil, err
		}
		n.seq = append(n.seq, v)
		p.i++
	}
	return n, nil
}

// mapping parses "key: value" lines at indent.
func (p *yamlParser) mapping(indent, depth int) (*yamlNode, error) {
	n := &yamlNode{kind: yamlMap, line: p.lines[p.i].num, vals: map[string]*yamlNode{}, at: map[string]int{}}
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, &yamlError{l.num, "indentation does not match the key above"}
		}
		if !isMappingLine(l.text) {
			return nil, &yamlError{l.num, "want key: value at this indentation"}
		}
		key, rest, _ := strings.Cut(l.text, ":")
		key = strings.TrimSpace(key)
		rest = strings.TrimLeft(rest, " ")
		if _, dup := n.vals[key]; dup {
			return nil, &yamlError{l.num, fmt.Sprintf("key %q given twice", key)}
		}
		n.keys = append(n.keys, key)
		n.at[key] = l.num
		p.i++
		if rest != "" {
			v, err := scalarValue(rest, l.num)
			if err != nil {
				return nil, err
			}
			n.vals[key] = v
			continue
		}
		// The value is the block below, or a list at the same indentation
		// (YAML allows "key:\n- a" for lists).
		if p.i < len(p.lines) {
			next := p.lines[p.i]
			if next.indent > indent || next.indent == indent && (next.text == "-" || strings.HasPrefix(next.text, "- ")) {
				v, err := p.block(next.indent, depth+1)
				if err != nil {
					return nil, err
				}
				n.vals[key] = v
				continue
			}
		}
		n.vals[key] = nil
	}
	return n, nil
}

// isMappingLine reports whether a line starts with a plain key and ':'.
func isMappingLine(s string) bool {
	i := strings.IndexByte(s, ':')
	if i <= 0 || i+1 < len(s) && s[i+1] != ' ' {
		return false
	}
	for _, c := range s[:i] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// scalarValue parses the value after "key: " or "- ": a quoted or plain
// scalar, or a flow sequence of scalars.
func scalarValue(s string, line int) (*yamlNode, error) {
	fail := func(msg string) (*yamlNode, error) { return nil, &yamlError{line, msg} }
	switch s[0] {
	case '[':
		if !strings.HasSuffix(s, "]") {
			return fail("a [list] must end on its line with ]")
		}
		n := &yamlNode{kind: yamlSeq, line: line}
		body := strings.TrimSpace(s[1 : len(s)-1])
		for body != "" {
			var item string
			var err error
			switch body[0] {
			case '"', '\'':
				item, body, err = quoted(body)
				if err != nil {
					return fail(err.Error())
				}
				body = strings.TrimLeft(body, " ")
				if body != "" && body[0] != ',' {
					return fail("want ',' between the items of a [list]")
				}
			case '[', '{':
				return fail("nested lists and mappings are not supported; write one line per item")
			default:
				i := strings.IndexByte(body, ',')
				if i < 0 {
					i = len(body)
				}
				item, body = strings.TrimSpace(body[:i]), body[i:]
				if strings.Contains(item, ": ") || strings.HasSuffix(item, ":") {
					return fail(fmt.Sprintf("%q in a [list] reads as a mapping in YAML; quote it", item))
				}
			}
			n.seq = append(n.seq, &yamlNode{kind: yamlScalar, line: line, str: item})
			body = strings.TrimLeft(strings.TrimPrefix(body, ","), " ")
		}
		return n, nil
	case '"', '\'':
		v, rest, err := quoted(s)
		if err != nil {
			return fail(err.Error())
		}
		if strings.TrimSpace(rest) != "" {
			return fail(fmt.Sprintf("text after the closing quote: %q", rest))
		}
		return &yamlNode{kind: yamlScalar, line: line, str: v}, nil
	case '{':
		return fail("{flow mappings} are not supported; write key: value lines")
	case '|', '>':
		return fail("block scalars (| and >) are not supported; quote the value on one line")
	case '&', '*', '!', '%', '@', '`':
		return fail(fmt.Sprintf("%q starts YAML syntax this file does not support (anchors, aliases, tags); quote the value", s[0]))
	}
	if s == "~" || s == "null" {
		return nil, nil
	}
	if strings.Contains(s, ": ") || strings.HasSuffix(s, ":") {
		return fail(fmt.Sprintf("%q: a plain value cannot hold ': ' in YAML; quote it", s))
	}
	return &yamlNode{kind: yamlScalar, line: line, str: s}, nil
}

// quoted reads a quoted scalar at the start of s and returns its value
// and the rest of s.
func quoted(s string) (string, string, error) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			b.WriteByte('\'')
			i++
		case c == q:
			return b.String(), s[i+1:], nil
		case c == '\\' && q == '"':
			if i+1 == len(s) {
				return "", "", fmt.Errorf("a backslash at the end of the line")
			}
			i++
			switch e := s[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '0':
				b.WriteByte(0)
			case '"', '\\', '/', ' ':
				b.WriteByte(e)
			case 'x', 'u':
				n := 2
				if e == 'u' {
					n = 4
				}
				if i+n >= len(s) {
					return "", "", fmt.Errorf("\\%c needs %d hex digits", e, n)
				}
				v, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32)
				if err != nil {
					return "", "", fmt.Errorf("\\%c needs %d hex digits", e, n)
				}
				b.WriteRune(rune(v))
				i += n
			default:
				return "", "", fmt.Errorf("unknown escape \\%c", e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("the quoted value does not end on its line (add the closing %c)", q)
}
