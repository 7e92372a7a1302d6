package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// The plan decoder works on a small JSON tree instead of decoding straight
// into structs: that way every type error, unknown field and duplicate key
// is reported with its full field path, and all of them at once.

type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "a list", "an object"}[k]
}

type node struct {
	kind   kind
	text   string // kindString: the value; kindNumber: the literal
	b      bool
	keys   []string         // kindObject: keys in document order, each once
	fields map[string]*node // kindObject
	dups   []string         // kindObject: keys given more than once
	elems  []*node          // kindArray
}

// get returns the object member key, or nil.
func (n *node) get(key string) *node { return n.fields[key] }

// maxDepth bounds nesting; a plan needs 3 levels.
const maxDepth = 32

// syntaxError is a JSON syntax error at a byte offset of the input.
type syntaxError struct {
	off int64
	msg string
}

// decodeTree parses data as exactly one JSON value.
func decodeTree(data []byte) (*node, *syntaxError) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// Positions come from the decoder's input offset, which at an error
	// is the start of the token that broke the syntax: the offsets in
	// json.SyntaxError are relative to the current value in token mode.
	fail := func(err error) *syntaxError {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return &syntaxError{off: dec.InputOffset(), msg: se.Error()}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return &syntaxError{off: int64(len(data)), msg: "unexpected end of file"}
		case errors.Is(err, errTooDeep):
			return &syntaxError{off: dec.InputOffset() - 1, msg: err.Error()}
		default:
			return &syntaxError{off: dec.InputOffset(), msg: err.Error()}
		}
	}
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return nil, &syntaxError{off: 0, msg: "empty file: a plan is a JSON object"}
	}
	if err != nil {
		return nil, fail(err)
	}
	n, err := readValue(dec, tok, 0)
	if err != nil {
		return nil, fail(err)
	}
	off := dec.InputOffset()
	for off < int64(len(data)) && isSpace(data[off]) {
		off++
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fail(err)
		}
		return nil, &syntaxError{off: off, msg: "extra data after the plan object"}
	}
	return n, nil
}

var errTooDeep = errors.New("nested too deeply")

func readValue(dec *json.Decoder, tok json.Token, depth int) (*node, error) {
	switch v := tok.(type) {
	case nil:
		return &node{kind: kindNull}, nil
	case bool:
		return &node{kind: kindBool, b: v}, nil
	case json.Number:
		return &node{kind: kindNumber, text: string(v)}, nil
	case string:
		return &node{kind: kindString, text: v}, nil
	case json.Delim:
		if depth >= maxDepth {
			return nil, errTooDeep
		}
		if v == '[' {
			n := &node{kind: kindArray}
			for dec.More() {
				t, err := dec.Token()
				if err != nil {
					return nil, err
				}
				e, err := readValue(dec, t, depth+1)
				if err != nil {
					return nil, err
				}
				n.elems = append(n.elems, e)
			}
			_, err := dec.Token() // ']'
			return n, err
		}
		n := &node{kind: kindObject, fields: map[string]*node{}}
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := t.(string) // the decoder only returns strings in key position
			t, err = dec.Token()
			if err != nil {
				return nil, err
			}
			e, err := readValue(dec, t, depth+1)
			if err != nil {
				return nil, err
			}
			if _, dup := n.fields[key]; dup {
				n.dups = append(n.dups, key)
				continue
			}
			n.keys = append(n.keys, key)
			n.fields[key] = e
		}
		_, err := dec.Token() // '}'
		return n, err
	}
	return nil, errors.New("unexpected token")
}

// lineCol returns the 1-based line and column (in bytes) of offset off.
func lineCol(data []byte, off int64) (line, col int) {
	off = max(0, min(off, int64(len(data))))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
