package scenario

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SchemaError is a scenario file that does not follow the format: it
// names the file, the line and column, and the field.
type SchemaError struct {
	File         string
	Line, Column int    // 1-based; 0 when unknown
	Field        string // "faults[1].rate"; "" for a file that is not YAML or JSON at all
	Msg          string
	Err          error // what the error wraps (ErrUnsupported), if anything
}

// Unwrap returns what the error wraps.
func (e *SchemaError) Unwrap() error { return e.Err }

// Error returns "scenario: FILE:LINE:COL: FIELD: MESSAGE".
func (e *SchemaError) Error() string {
	var b strings.Builder
	b.WriteString("scenario: ")
	b.WriteString(cmp(e.File, "scenario"))
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Size is a number of bytes, written as a plain number or with a binary
// unit: 16384, 16K, 16KiB, 1M, 1MiB.
type Size int64

// ParseSize reads a Size.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"k", 1 << 10}, {"m", 1 << 20}, {"b", 1}} {
		if strings.HasSuffix(lower, u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size: want bytes such as 16384, 16K or 1MiB", s)
	}
	return Size(n * mult), nil
}

// pos is where something was written.
type pos struct{ line, col int }

// positions maps field paths ("faults[1].rate") to where they were
// written.
type positions map[string]pos

// at returns where path was written, or where its closest written parent
// was.
func (p positions) at(path string) pos {
	for {
		if w, ok := p[path]; ok {
			return w
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return p[""]
		}
		path = path[:i]
	}
}

// decoder fills Go values from a node tree.
type decoder struct {
	file string
	pos  positions
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	sizeType     = reflect.TypeFor[Size]()
)

func (d *decoder) errorf(n *node, path, format string, args ...any) error {
	return &SchemaError{File: d.file, Line: n.line, Column: n.col, Field: path, Msg: fmt.Sprintf(format, args...)}
}

// decode fills v from n; path names v for errors.
func (d *decoder) decode(n *node, path string, v reflect.Value) error {
	d.pos[path] = pos{n.line, n.col}
	if n.kind == nullNode {
		return nil
	}
	t := v.Type()
	switch {
	case t == durationType:
		s, err := d.scalar(n, path, "a duration such as 2s or 500ms")
		if err != nil {
			return err
		}
		dur, perr := time.ParseDuration(s)
		if perr != nil || dur < 0 {
			return d.errorf(n, path, "%q is not a duration: want one such as 2s, 500ms or 1m30s", s)
		}
		v.SetInt(int64(dur))
		return nil
	case t == sizeType:
		s, err := d.scalar(n, path, "a size such as 16384 or 16KiB")
		if err != nil {
			return err
		}
		sz, perr := ParseSize(s)
		if perr != nil {
			return d.errorf(n, path, "%v", perr)
		}
		v.SetInt(int64(sz))
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		e := reflect.New(t.Elem())
		if err := d.decode(n, path, e.Elem()); err != nil {
			return err
		}
		v.Set(e)
		return nil
	case reflect.String:
		s, err := d.scalar(n, path, "text")
		if err != nil {
			return err
		}
		v.SetString(s)
		return nil
	case reflect.Bool:
		s, err := d.scalar(n, path, "true or false")
		if err != nil {
			return err
		}
		switch s {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return d.errorf(n, path, "%q: want true or false", s)
		}
		return nil
	case reflect.Int, reflect.Int64:
		s, err := d.scalar(n, path, "a whole number")
		if err != nil {
			return err
		}
		i, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil || t.Kind() == reflect.Int && (i > math.MaxInt32 || i < math.MinInt32) {
			return d.errorf(n, path, "%q: want a whole number", s)
		}
		v.SetInt(i)
		return nil
	case reflect.Uint64:
		s, err := d.scalar(n, path, "a whole number")
		if err != nil {
			return err
		}
		u, perr := strconv.ParseUint(s, 10, 64)
		if perr != nil {
			return d.errorf(n, path, "%q: want a whole number, 0 or more", s)
		}
		v.SetUint(u)
		return nil
	case reflect.Float64:
		s, err := d.scalar(n, path, "a number")
		if err != nil {
			return err
		}
		f, perr := strconv.ParseFloat(s, 64)
		if perr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return d.errorf(n, path, "%q: want a number such as 0.001", s)
		}
		v.SetFloat(f)
		return nil
	case reflect.Slice:
		if n.kind != listNode {
			return d.errorf(n, path, "is %s, want a list", n.kind)
		}
		s := reflect.MakeSlice(t, len(n.items), len(n.items))
		for i, item := range n.items {
			if err := d.decode(item, fmt.Sprintf("%s[%d]", path, i), s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		if n.kind != mapNode {
			return d.errorf(n, path, "is %s, want a mapping of names to values", n.kind)
		}
		m := reflect.MakeMapWithSize(t, len(n.keys))
		for i, k := range n.keys {
			e := reflect.New(t.Elem()).Elem()
			if err := d.decode(n.vals[i], join(path, k.value), e); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k.value), e)
		}
		v.Set(m)
		return nil
	case reflect.Struct:
		return d.decodeStruct(n, path, v)
	}
	return d.errorf(n, path, "cannot be read (a %s field)", t)
}

// scalar returns the text of a scalar node, or an error naming what was
// wanted.
func (d *decoder) scalar(n *node, path, want string) (string, error) {
	if n.kind != scalarNode {
		return "", d.errorf(n, path, "is %s, want %s", n.kind, want)
	}
	return n.value, nil
}

func (d *decoder) decodeStruct(n *node, path string, v reflect.Value) error {
	if n.kind != mapNode {
		return d.errorf(n, path, "is %s, want a mapping of fields", n.kind)
	}
	fields := structFields(v.Type())
	for i, k := range n.keys {
		idx, ok := fields[k.value]
		if !ok {
			return d.errorf(k, join(path, k.value), "unknown field; %s takes %s", cmp(path, "a scenario"), strings.Join(fieldNames(v.Type()), ", "))
		}
		if err := d.decode(n.vals[i], join(path, k.value), v.Field(idx)); err != nil {
			return err
		}
	}
	return nil
}

// structFields maps the scenario names of t's fields to their index.
func structFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("scenario"); name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

// fieldNames returns the scenario names of t's fields, in order.
func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("scenario"); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// keysOf returns the keys written in the mapping at path, or nil.
func keysOf(n *node) []string {
	if n == nil || n.kind != mapNode {
		return nil
	}
	keys := make([]string, len(n.keys))
	for i, k := range n.keys {
		keys[i] = k.value
	}
	return keys
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// hasKey reports whether key was written in the mapping n.
func hasKey(n *node, key string) bool { return slices.Contains(keysOf(n), key) }
