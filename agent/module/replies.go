package module

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/atota/atota/atcmd"
)

// A Reply is a canned answer to a command: from a --replies file, or a
// model's. The command is matched as the module received it, rewritten
// the way atcmd.Command.String writes it (AT+QCFG="MacRAI",1), without
// regard to case; a '*' in Command matches any run of characters.
type Reply struct {
	Command string   `json:"command"`          // the pattern, "AT+QENG=\"servingcell\"", "AT+QLTS*"
	Lines   []string `json:"lines,omitempty"`  // information lines before the result
	Result  string   `json:"result,omitempty"` // "OK" (the default), "ERROR" or "+CME ERROR: <n>"
	Delay   Duration `json:"delay,omitempty"`  // how long the module takes to answer
	URCs    []string `json:"urcs,omitempty"`   // lines sent after the result, EventDelay apart

	at      string   // FILE:LINE, for logs
	pattern []string // Command split at '*', upper case
	err     error    // what Result stands for
}

// maxReplyDelay bounds Reply.Delay: a module that takes longer is broken.
const maxReplyDelay = time.Minute

// fieldError is a reply field that breaks a rule.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// check validates r and prepares it for matching.
func (r *Reply) check() error {
	bad := func(field, format string, args ...any) error {
		return &fieldError{field, fmt.Sprintf(format, args...)}
	}
	cmd := strings.TrimSpace(r.Command)
	if len(cmd) < 2 || !strings.EqualFold(cmd[:2], "AT") || !printable(cmd) || len(cmd) > atcmd.DefaultMaxLine {
		return bad("command", "%q: want a command line starting with AT, such as AT+QENG=\"servingcell\"", r.Command)
	}
	if !strings.Contains(cmd, "*") {
		// Written the way the module will see it: AT+QCFG="a", 1 is AT+QCFG="a",1.
		if c, err := atcmd.ParseCommand(cmd); err == nil {
			cmd = c.String()
		}
	}
	r.pattern = strings.Split(strings.ToUpper(cmd), "*")
	for field, lines := range map[string][]string{"lines": r.Lines, "urcs": r.URCs} {
		for _, l := range lines {
			if !printable(l) || len(l) > atcmd.DefaultMaxLine {
				return bad(field, "%q: a line cannot hold control characters or be longer than %d bytes", l, atcmd.DefaultMaxLine)
			}
		}
	}
	switch res := strings.TrimSpace(r.Result); {
	case res == "" || strings.EqualFold(res, "OK"):
		r.err = nil
	case strings.EqualFold(res, "ERROR"):
		r.err = atcmd.ErrError
	default:
		v, ok := strings.CutPrefix(strings.ToUpper(res), "+CME ERROR:")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil || n < 0 || n > 65535 {
			return bad("result", "%q: want OK, ERROR or +CME ERROR: <n> (a number; AT+CMEE decides how it is written)", r.Result)
		}
		r.err = atcmd.CMEError(n)
	}
	if r.Delay < 0 || time.Duration(r.Delay) > maxReplyDelay {
		return bad("delay", "want a duration such as \"300ms\", at most %v", maxReplyDelay)
	}
	return nil
}

// matches reports whether the reply answers the command written as cmd
// (upper case).
func (r *Reply) matches(cmd string) bool {
	p := r.pattern
	if len(p) == 1 {
		return cmd == p[0]
	}
	if !strings.HasPrefix(cmd, p[0]) {
		return false
	}
	cmd = cmd[len(p[0]):]
	for _, part := range p[1 : len(p)-1] {
		i := strings.Index(cmd, part)
		if i < 0 {
			return false
		}
		cmd = cmd[i+len(part):]
	}
	return strings.HasSuffix(cmd, p[len(p)-1])
}

// Where returns where the reply was written: "FILE:LINE", or the model
// file.
func (r *Reply) Where() string { return r.at }

// ReplyError is a replies file that cannot be used: the file, the line,
// the field and what is wrong with it.
type ReplyError struct {
	File  string
	Line  int    // 1-based; 0 when unknown
	Field string // "replies[2].result"; "" for the file as a whole
	Msg   string
}

// Error names the file and line, the field and what is wrong.
func (e *ReplyError) Error() string {
	at := e.File
	if e.Line > 0 {
		at += ":" + strconv.Itoa(e.Line)
	}
	if e.Field == "" {
		return fmt.Sprintf("module: replies %s: %s", at, e.Msg)
	}
	return fmt.Sprintf("module: replies %s: %s: %s", at, e.Field, e.Msg)
}

// LoadReplies reads a replies file (see ParseReplies).
func LoadReplies(path string) ([]Reply, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("module: replies: %w", err)
	}
	return ParseReplies(path, data)
}

// ParseReplies reads a replies file, JSON or a small subset of YAML, and
// returns its replies in order; file names it in errors. Either way it
// is a list of replies, alone or under the key "replies":
//
//	# atota module --replies replies.yaml
//	replies:
//	  - command: AT+QENG="servingcell"
//	    lines:
//	      - '+QENG: "servingcell","NOCONN","LTE","FDD",460,00,1A2B3C4,123'
//	  - command: AT+QLTS*          # '*' matches anything
//	    lines: ['+QLTS: "2026/06/01,04:00:00+32,0"']
//	  - command: AT+CGPADDR=1
//	    result: "+CME ERROR: 30"   # OK (default), ERROR, +CME ERROR: <n>
//	    delay: 300ms               # the module takes this long to answer
//	  - command: AT+QPOWD=1
//	    urcs: [POWERED DOWN]       # lines after the result
//
// A value holding ": " must be quoted, as YAML wants.
//
// The YAML subset: block lists and mappings, plain, 'single' and
// "double" quoted scalars, [flow, lists] of scalars and # comments;
// nothing else. JSON has the same shape: [{"command": "AT+X", "lines":
// ["+X: 1"]}] or {"replies": [...]}.
func ParseReplies(file string, data []byte) ([]Reply, error) {
	if len(data) > 1<<20 {
		return nil, &ReplyError{File: file, Msg: "larger than 1 MiB"}
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	var items []replyItem
	var err error
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		items, err = jsonReplies(file, data)
	} else {
		items, err = yamlReplies(file, data)
	}
	if err != nil {
		return nil, err
	}
	replies := make([]Reply, 0, len(items))
	for i, it := range items {
		r := it.reply
		r.at = fmt.Sprintf("%s:%d", file, it.line)
		if err := r.check(); err != nil {
			fe := err.(*fieldError)
			line := it.line
			if l, ok := it.fields[fe.field]; ok {
				line = l
			}
			return nil, &ReplyError{File: file, Line: line, Field: fmt.Sprintf("replies[%d].%s", i, fe.field), Msg: fe.msg}
		}
		replies = append(replies, r)
	}
	return replies, nil
}

// replyItem is a reply as read, with the line it starts on and, from
// YAML, the line of each field.
type replyItem struct {
	reply  Reply
	line   int
	fields map[string]int
}

// jsonReplies reads the JSON form.
func jsonReplies(file string, data []byte) ([]replyItem, error) {
	fail := func(off int64, field, msg string) error {
		l, _ := lineCol(data, off)
		return &ReplyError{File: file, Line: l, Field: field, Msg: msg}
	}
	var top any
	if err := json.Unmarshal(data, &top); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fail(se.Offset, "", se.Error())
		}
		return nil, &ReplyError{File: file, Msg: err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if obj, ok := top.(map[string]any); ok {
		if len(obj) != 1 || obj["replies"] == nil {
			return nil, fail(0, "", `want a list of replies, or {"replies": [...]}`)
		}
		// Walk to the list under "replies".
		dec.Token() // {
		dec.Token() // "replies"
	} else if _, ok := top.([]any); !ok {
		return nil, fail(0, "", `want a list of replies, or {"replies": [...]}`)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, fail(dec.InputOffset(), "replies", "want a list")
	}
	var items []replyItem
	for i := 0; dec.More(); i++ {
		off := skipSpace(data, dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fail(off, fmt.Sprintf("replies[%d]", i), err.Error())
		}
		rd := json.NewDecoder(bytes.NewReader(raw))
		rd.DisallowUnknownFields()
		var r Reply
		if err := rd.Decode(&r); err != nil {
			msg := err.Error()
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				msg = fmt.Sprintf("%s: want %v", te.Field, te.Type)
			}
			return nil, fail(off, fmt.Sprintf("replies[%d]", i), strings.TrimPrefix(msg, "json: "))
		}
		l, _ := lineCol(data, off)
		items = append(items, replyItem{reply: r, line: l})
	}
	return items, nil
}

// skipSpace returns the offset of the first byte at or after off that is
// not white space or a comma.
func skipSpace(data []byte, off int64) int64 {
	for off < int64(len(data)) && strings.IndexByte(" \t\r\n,", data[off]) >= 0 {
		off++
	}
	return off
}

// yamlReplies reads the YAML form.
func yamlReplies(file string, data []byte) ([]replyItem, error) {
	root, err := parseYAML(data)
	if err != nil {
		var ye *yamlError
		if errors.As(err, &ye) {
			return nil, &ReplyError{File: file, Line: ye.line, Msg: ye.msg}
		}
		return nil, &ReplyError{File: file, Msg: err.Error()}
	}
	if root == nil {
		return nil, nil
	}
	list := root
	if root.kind == yamlMap {
		if len(root.keys) != 1 || root.keys[0] != "replies" {
			return nil, &ReplyError{File: file, Line: root.line, Msg: "want a list of replies, or the key replies: with the list under it"}
		}
		list = root.vals["replies"]
		if list == nil {
			return nil, nil
		}
	}
	if list.kind != yamlSeq {
		return nil, &ReplyError{File: file, Line: list.line, Field: "replies", Msg: "want a list (lines starting with '- ')"}
	}
	var items []replyItem
	for i, n := range list.seq {
		field := fmt.Sprintf("replies[%d]", i)
		if n.kind != yamlMap {
			return nil, &ReplyError{File: file, Line: n.line, Field: field, Msg: "want a mapping such as: - command: AT+X"}
		}
		var r Reply
		fields := map[string]int{}
		for _, k := range n.keys {
			v := n.vals[k]
			line := n.at[k]
			fields[k] = line
			bad := func(msg string) error {
				return &ReplyError{File: file, Line: line, Field: field + "." + k, Msg: msg}
			}
			switch k {
			case "command", "result", "delay":
				s, ok := v.scalar()
				if !ok {
					return nil, bad("want a single value")
				}
				switch k {
				case "command":
					r.Command = s
				case "result":
					r.Result = s
				case "delay":
					d, err := time.ParseDuration(s)
					if err != nil || d < 0 {
						return nil, bad(fmt.Sprintf("%q: want a duration such as 300ms", s))
					}
					r.Delay = Duration(d)
				}
			case "lines", "urcs":
				l, ok := v.list()
				if !ok {
					return nil, bad("want a line or a list of lines")
				}
				if k == "lines" {
					r.Lines = l
				} else {
					r.URCs = l
				}
			default:
				return nil, bad("unknown field; a reply has command, lines, result, delay and urcs")
			}
		}
		items = append(items, replyItem{reply: r, line: n.line, fields: fields})
	}
	return items, nil
}

// reply answers r with the canned reply, after its delay. m.mu is not
// held.
func (m *Module) reply(ctx context.Context, w atcmd.ResponseWriter, rp *Reply) error {
	if d := time.Duration(rp.Delay); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	for _, l := range rp.Lines {
		if err := w.WriteLine(l); err != nil {
			return err
		}
	}
	if len(rp.URCs) > 0 {
		evs := make([]event, len(rp.URCs))
		for i, l := range rp.URCs {
			evs[i] = event{line: l}
		}
		m.mu.Lock()
		m.events(evs...)
		m.mu.Unlock()
	}
	return rp.err
}

// findReply returns the first reply of list that answers r, or nil.
func findReply(list []Reply, r *atcmd.Request) *Reply {
	if len(list) == 0 {
		return nil
	}
	cmd := strings.ToUpper(r.Command.String())
	for i := range list {
		if list[i].matches(cmd) {
			return &list[i]
		}
	}
	return nil
}
