package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// nodeKind is the kind of a node of a scenario document.
type nodeKind int

const (
	scalarNode nodeKind = iota
	mapNode
	listNode
	nullNode
)

func (k nodeKind) String() string {
	switch k {
	case mapNode:
		return "a mapping"
	case listNode:
		return "a list"
	case nullNode:
		return "nothing (null)"
	}
	return "a single value"
}

// node is a scenario document read from YAML or JSON, with where each
// part was written, so that errors can name the line.
type node struct {
	kind      nodeKind
	line, col int
	value     string  // scalarNode
	quoted    bool    // scalarNode: written as a string
	keys      []*node // mapNode: the keys (scalars), in order
	vals      []*node // mapNode: the values, parallel to keys
	items     []*node // listNode
}

// get returns the value of key in a mapping, or nil.
func (n *node) get(key string) *node {
	for i, k := range n.keys {
		if k.value == key {
			return n.vals[i]
		}
	}
	return nil
}

// maxDepth bounds nesting, so that a hostile file cannot exhaust the stack.
const maxDepth = 64

// parseYAML reads a YAML document into a node tree.
func parseYAML(data []byte) (*node, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &syntaxError{line: 1, msg: "the file is empty"}
		}
		return nil, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &syntaxError{line: extra.Line, msg: "a second YAML document (---); a scenario file holds one"}
	}
	return fromYAML(&doc, 0)
}

// yamlError turns a yaml.v3 error ("yaml: line 3: did not find ...") into
// a syntaxError with the line.
func yamlError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	var line int
	if _, e := fmt.Sscanf(msg, "line %d:", &line); e == nil {
		if i := strings.Index(msg, ":"); i >= 0 {
			msg = strings.TrimSpace(msg[i+1:])
		}
	}
	return &syntaxError{line: line, msg: msg}
}

func fromYAML(y *yaml.Node, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, &syntaxError{line: y.Line, col: y.Column, msg: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	n := &node{line: y.Line, col: y.Column}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return nil, &syntaxError{line: 1, msg: "the file is empty"}
		}
		return fromYAML(y.Content[0], depth+1)
	case yaml.AliasNode:
		if y.Alias == nil {
			return nil, &syntaxError{line: y.Line, col: y.Column, msg: "an alias to nothing"}
		}
		a, err := fromYAML(y.Alias, depth+1)
		if err != nil {
			return nil, err
		}
		c := *a
		c.line, c.col = y.Line, y.Column
		return &c, nil
	case yaml.ScalarNode:
		if y.Tag == "!!null" {
			n.kind = nullNode
			return n, nil
		}
		n.kind = scalarNode
		n.value = y.Value
		n.quoted = y.Tag == "!!str" && y.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
		return n, nil
	case yaml.SequenceNode:
		n.kind = listNode
		for _, c := range y.Content {
			item, err := fromYAML(c, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, item)
		}
		return n, nil
	case yaml.MappingNode:
		n.kind = mapNode
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, v := y.Content[i], y.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, &syntaxError{line: k.Line, col: k.Column, msg: "a key must be a plain name"}
			}
			if n.get(k.Value) != nil {
				return nil, &syntaxError{line: k.Line, col: k.Column, msg: fmt.Sprintf("field %q is given twice", k.Value)}
			}
			val, err := fromYAML(v, depth+1)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, &node{kind: scalarNode, line: k.Line, col: k.Column, value: k.Value})
			n.vals = append(n.vals, val)
		}
		return n, nil
	}
	return nil, &syntaxError{line: y.Line, col: y.Column, msg: "unexpected YAML node"}
}

// parseJSON reads a JSON document into a node tree.
func parseJSON(data []byte) (*node, error) {
	p := &jsonParser{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	for i, c := range data {
		if c == '\n' {
			p.lines = append(p.lines, i+1)
		}
	}
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		line, col := p.where(p.start())
		return nil, &syntaxError{line: line, col: col, msg: "more after the end of the JSON document"}
	}
	return n, nil
}

type jsonParser struct {
	data  []byte
	dec   *json.Decoder
	lines []int // offsets where lines 2, 3, ... start
}

// start returns the offset of the next token.
func (p *jsonParser) start() int {
	off := int(p.dec.InputOffset())
	for off < len(p.data) && strings.IndexByte(" \t\r\n,:", p.data[off]) >= 0 {
		off++
	}
	return off
}

// where returns the line and column (1-based) of offset off.
func (p *jsonParser) where(off int) (line, col int) {
	i := sort.SearchInts(p.lines, off+1) // lines starting at or before off
	start := 0
	if i > 0 {
		start = p.lines[i-1]
	}
	return i + 1, off - start + 1
}

func (p *jsonParser) token() (json.Token, int, int, error) {
	line, col := p.where(p.start())
	tok, err := p.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, line, col, &syntaxError{line: line, col: col, msg: "the JSON document ends early"}
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col = p.where(int(max(se.Offset-1, 0)))
		}
		return nil, line, col, &syntaxError{line: line, col: col, msg: strings.TrimPrefix(err.Error(), "json: ")}
	}
	return tok, line, col, nil
}

func (p *jsonParser) value(depth int) (*node, error) {
	tok, line, col, err := p.token()
	if err != nil {
		return nil, err
	}
	return p.fromToken(tok, line, col, depth)
}

func (p *jsonParser) fromToken(tok json.Token, line, col, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, &syntaxError{line: line, col: col, msg: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	n := &node{line: line, col: col}
	switch t := tok.(type) {
	case nil:
		n.kind = nullNode
	case string:
		n.kind, n.value, n.quoted = scalarNode, t, true
	case json.Number:
		n.kind, n.value = scalarNode, t.String()
	case bool:
		n.kind, n.value = scalarNode, fmt.Sprint(t)
	case json.Delim:
		switch t {
		case '{':
			n.kind = mapNode
			for p.dec.More() {
				ktok, kline, kcol, err := p.token()
				if err != nil {
					return nil, err
				}
				key, _ := ktok.(string)
				if n.get(key) != nil {
					return nil, &syntaxError{line: kline, col: kcol, msg: fmt.Sprintf("field %q is given twice", key)}
				}
				val, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, &node{kind: scalarNode, line: kline, col: kcol, value: key})
				n.vals = append(n.vals, val)
			}
		case '[':
			n.kind = listNode
			for p.dec.More() {
				item, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, item)
			}
		}
		if _, _, _, err := p.token(); err != nil { // the closing delimiter
			return nil, err
		}
	}
	return n, nil
}

// syntaxError is a file that is not well-formed YAML or JSON.
type syntaxError struct {
	line, col int
	msg       string
}

func (e *syntaxError) Error() string { return e.msg }
