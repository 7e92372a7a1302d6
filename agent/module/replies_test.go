package module_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/atcmd"
)

// replyString renders a reply for comparisons.
func replyString(r module.Reply) string {
	return fmt.Sprintf("%s %q %s %v %q @%s", r.Command, r.Lines, r.Result, time.Duration(r.Delay), r.URCs, r.Where())
}

func TestParseReplies(t *testing.T) {
	yaml := `# extra answers
replies:
  - command: AT+QENG="servingcell"   # a comment
    lines:
      - '+QENG: "servingcell","NOCONN","LTE","FDD",460,00'
      - "+QENG: \"second\", 'x' # not a comment"
  - command: AT+QLTS*
    lines: ['+QLTS: "2026/06/01,04:00:00+32,0"', plain, "d,q"]
  - command: AT+CGPADDR=1
    result: "+CME ERROR: 30"
    delay: 300ms

  - command: AT+QPOWD=1
    urcs: POWERED DOWN
`
	json := `{"replies": [
  {"command": "AT+QENG=\"servingcell\"", "lines": ["+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",460,00", "+QENG: \"second\", 'x' # not a comment"]},
  {"command": "AT+QLTS*", "lines": ["+QLTS: \"2026/06/01,04:00:00+32,0\"", "plain", "d,q"]},
  {"command": "AT+CGPADDR=1", "result": "+CME ERROR: 30", "delay": "300ms"},
  {"command": "AT+QPOWD=1", "urcs": ["POWERED DOWN"]}
]}`
	want := []string{
		`AT+QENG="servingcell" ["+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",460,00" "+QENG: \"second\", 'x' # not a comment"]  0s [] @F:3`,
		`AT+QLTS* ["+QLTS: \"2026/06/01,04:00:00+32,0\"" "plain" "d,q"]  0s [] @F:7`,
		`AT+CGPADDR=1 [] +CME ERROR: 30 300ms [] @F:9`,
		`AT+QPOWD=1 []  0s ["POWERED DOWN"] @F:13`,
	}
	for name, data := range map[string]string{"yaml": yaml, "json": json, "json list": json[len(`{"replies": `) : len(json)-1]} {
		t.Run(name, func(t *testing.T) {
			rs, err := module.ParseReplies("F", []byte(data))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rs {
				got = append(got, replyString(r))
			}
			for i := range want {
				w := want[i]
				if name != "yaml" { // JSON lines count differently
					w = w[:strings.LastIndex(w, "@")]
				}
				if i >= len(got) || !strings.HasPrefix(got[i], w) {
					t.Errorf("reply %d:\n got %v\nwant %s", i, got, w)
					return
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d replies, want %d", len(got), len(want))
			}
		})
	}
	for _, empty := range []string{"", "# nothing\n", "replies:\n", "[]", `{"replies": []}`, "---\n"} {
		if rs, err := module.ParseReplies("F", []byte(empty)); err != nil || len(rs) != 0 {
			t.Errorf("ParseReplies(%q) = %v, %v; want none", empty, rs, err)
		}
	}
}

// TestParseRepliesErrors checks that a broken replies file is an error
// naming the file, the line and the field.
func TestParseRepliesErrors(t *testing.T) {
	tests := []struct {
		name, data string
		line       int
		field      string
	}{
		{name: "no AT", data: "- command: QENG\n", line: 1, field: "replies[0].command"},
		{name: "no command", data: "- lines: [a]\n", line: 1, field: "replies[0].command"},
		{name: "bad result", data: "- command: AT+X\n  result: MAYBE\n", line: 2, field: "replies[0].result"},
		{name: "CME text", data: "- command: AT+X\n  result: '+CME ERROR: no'\n", line: 2, field: "replies[0].result"},
		{name: "bad delay", data: "- command: AT+X\n\n  delay: soon\n", line: 3, field: "replies[0].delay"},
		{name: "negative delay", data: "- command: AT+X\n  delay: -1s\n", line: 2, field: "replies[0].delay"},
		{name: "long delay", data: "- command: AT+X\n  delay: 2m\n", line: 2, field: "replies[0].delay"},
		{name: "unknown field", data: "- command: AT+X\n- command: AT+Y\n  colour: blue\n", line: 3, field: "replies[1].colour"},
		{name: "control char", data: "- command: AT+X\n  lines: [\"a\\rb\"]\n", line: 2, field: "replies[0].lines"},
		{name: "lines a mapping", data: "- command: AT+X\n  lines:\n    a: b\n", line: 2, field: "replies[0].lines"},
		{name: "unclosed quote", data: "- command: AT+X\n  lines: ['abc\n", line: 2},
		{name: "unclosed double", data: "- command: \"AT+X\n", line: 1},
		{name: "bad escape", data: "- command: \"AT\\q\"\n", line: 1},
		{name: "tab", data: "- command: AT+X\n\tlines: a\n", line: 2},
		{name: "block scalar", data: "- command: AT+X\n  lines: |\n    a\n", line: 2},
		{name: "anchor", data: "- command: &a AT+X\n", line: 1},
		{name: "flow mapping", data: "- {command: AT+X}\n", line: 1},
		{name: "bad indent", data: "replies:\n  - command: AT+X\n     lines: a\n", line: 3},
		{name: "duplicate key", data: "- command: AT+X\n  command: AT+Y\n", line: 2},
		{name: "not a list", data: "replies: AT+X\n", line: 1, field: "replies"},
		{name: "other key", data: "answers:\n  - command: AT\n", line: 1},
		{name: "item not a mapping", data: "- AT+X\n", line: 1, field: "replies[0]"},
		{name: "json syntax", data: "[\n {\"command\": \"AT\",\n}\n]", line: 3},
		{name: "json field", data: "[\n {\"command\": \"AT\"},\n {\"command\": \"AT\", \"lines\": 3}\n]", line: 3, field: "replies[1]"},
		{name: "json unknown", data: "[{\"command\": \"AT\", \"colour\": 1}]", line: 1, field: "replies[0]"},
		{name: "json check", data: "[\n{\"command\": \"AT\"},\n\n{\"command\": \"X\"}]", line: 4, field: "replies[1].command"},
		{name: "json object", data: `{"answers": []}`, line: 1},
		{name: "json number", data: `[1]`, line: 1, field: "replies[0]"},
		{name: "not UTF-8", data: "- command: AT\xff\n", line: 1},
		{name: "colon in plain", data: "- command: AT+X\n  lines: +X: 1\n", line: 2},
		{name: "colon in flow", data: "- command: AT+X\n  lines: [+X: 1]\n", line: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := module.ParseReplies("r.yaml", []byte(tt.data))
			var re *module.ReplyError
			if !errors.As(err, &re) {
				t.Fatalf("ParseReplies: %v, want a ReplyError", err)
			}
			if re.Line != tt.line || re.Field != tt.field || !strings.HasPrefix(err.Error(), fmt.Sprintf("module: replies r.yaml:%d: ", tt.line)) {
				t.Errorf("ParseReplies: %q (line %d, field %q), want line %d, field %q", err, re.Line, re.Field, tt.line, tt.field)
			}
		})
	}
}

// FuzzParseReplies checks that ParseReplies never panics, and that every
// reply it returns can answer.
func FuzzParseReplies(f *testing.F) {
	for _, s := range []string{
		"replies:\n  - command: AT+X\n    lines: [a, 'b', \"c\"]\n    result: ERROR\n    delay: 1ms\n",
		"- command: AT+Q*\n  urcs:\n    - URC\n",
		`[{"command": "AT+X", "lines": ["+X: 1"], "result": "+CME ERROR: 4"}]`,
		`{"replies": [{"command": "AT*"}]}`,
		"- command: 'it''s'\n", "- command: \"\\x41T\\u0041\"\n", "a:\n- b\n- c: [d, e]\n", "- - - a\n", "[", "{", "---\n...\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := module.ParseReplies("fuzz", data)
		if err != nil {
			var re *module.ReplyError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a ReplyError", err)
			}
			return
		}
		cfg := config(nil)
		cfg.Replies = rs
		m, err := module.New(cfg)
		if err != nil {
			t.Fatalf("New with replies ParseReplies accepted: %v", err)
		}
		m.Close()
	})
}

// logBuffer collects log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestReplies checks replies from a file: they come before the model and
// the built-in commands, match with '*' and without regard to case or
// spaces, take their delay, and send their URCs after the result.
func TestReplies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rs, err := module.ParseReplies("r.yaml", []byte(`
- command: AT+CSQ
  lines: ["+CSQ: 3,99"]
- command: AT+QENG="servingcell"
  lines: ['+QENG: "servingcell","NOCONN"']
- command: AT+QLTS*
  lines: ['+QLTS: 1']
  delay: 2s
- command: AT+QCFG="macrai", 1
  result: '+CME ERROR: 4'
- command: AT+QPOWD
  urcs: [POWERED DOWN]
`))
		if err != nil {
			t.Fatal(err)
		}
		cfg := config(nil)
		cfg.Replies = rs
		cfg.Model = mustLookup(t, "bc660k")
		cfg.EventDelay = 10 * time.Millisecond
		h := start(t, cfg)
		h.ok("ATE0")
		h.okLine("AT+CSQ", "+CSQ: 3,99") // over the built-in
		h.okLine(`at+qeng="SERVINGCELL"`, `+QENG: "servingcell","NOCONN"`)
		t0 := time.Now()
		h.okLine("AT+QLTS=2", "+QLTS: 1")
		at(t, "the answer of AT+QLTS=2", t0, 2*time.Second)
		h.fail(`AT+QCFG="MacRAI",1`) // over the model's setting; AT+CMEE=0
		h.ok("AT+CMEE=1")
		if _, err := h.do(`AT+QCFG="MacRAI",1`); !errors.Is(err, atcmd.CMEError(4)) {
			t.Errorf(`AT+QCFG="MacRAI",1 with AT+CMEE=1: %v, want +CME ERROR: 4`, err)
		}
		h.okLine(`AT+QCFG="MacRAI"`, `+QCFG: "MacRAI",0`) // the model's answer for the rest
		evs := h.c.Subscribe("POWERED")
		h.ok("AT+QPOWD")
		if l, err := evs.Next(t.Context()); err != nil || l != "POWERED DOWN" {
			t.Errorf("URC after AT+QPOWD: %q, %v", l, err)
		}
	})
}

// TestUnknownCommand checks that a command no one knows is answered
// ERROR and logged once, with the hint to add it to a replies file, or to
// use a model that knows it.
func TestUnknownCommand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logBuffer
		cfg := config(nil)
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		h := start(t, cfg) // the Cat-1 default
		h.ok("ATE0")
		h.fail("AT+QFOO=1")
		h.fail("AT+QFOO?")
		h.fail("AT+CNMPSD") // an NB-IoT command
		out := logs.String()
		if n := strings.Count(out, "AT+QFOO=1 is not a command") + strings.Count(out, "AT+QFOO? is not"); n != 1 || !strings.Contains(out, "--replies") {
			t.Errorf("log: AT+QFOO mentioned %d times, want once with the --replies hint:\n%s", n, out)
		}
		if !strings.Contains(out, "AT+CNMPSD is not a command of EC800M") || !strings.Contains(out, "bc660k-gl") {
			t.Errorf("log: want AT+CNMPSD named with the model that knows it:\n%s", out)
		}
	})
}

func mustLookup(t testing.TB, name string) *module.Model {
	t.Helper()
	md, err := module.LookupModel(name)
	if err != nil {
		t.Fatal(err)
	}
	return md
}
