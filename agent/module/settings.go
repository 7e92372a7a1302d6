package module

import (
	"context"
	"slices"
	"strings"

	"github.com/atota/atota/atcmd"
)

// handleSetting answers a model's setting command (AT+QSCLK, AT+QCFG, ...):
// a set stores the values, a read shows them, the test form shows the
// range, the exec form is OK. The values live until a reboot.
func (m *Module) handleSetting(s *Setting) handlerFunc {
	return func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		prefix := s.Command + ": "
		switch r.Kind {
		case atcmd.Test:
			if s.Range != "" {
				return w.WriteLine(prefix + s.Range)
			}
			return nil
		case atcmd.Exec:
			return nil
		case atcmd.Read:
			if s.Keys == nil {
				return w.WriteLine(prefix + m.setting(s, ""))
			}
			keys := make([]string, 0, len(s.Keys))
			for k := range s.Keys {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				if err := w.WriteLine(prefix + k + "," + m.setting(s, k)); err != nil {
					return err
				}
			}
			return nil
		}
		if len(r.Args) == 0 {
			return atcmd.CMEIncorrectParameters
		}
		if s.Keys == nil {
			m.settings[s.Command] = joinArgs(r.Args)
			return nil
		}
		key, ok := findKey(s.Keys, r.Args[0].String())
		if !ok {
			return atcmd.CMEIncorrectParameters
		}
		if len(r.Args) == 1 {
			return w.WriteLine(prefix + key + "," + m.setting(s, key))
		}
		m.settings[s.Command+" "+key] = joinArgs(r.Args[1:])
		return nil
	}
}

// setting returns the values of a setting (key "" for a plain one), or
// its default. m.mu is held.
func (m *Module) setting(s *Setting, key string) string {
	if key == "" {
		if v, ok := m.settings[s.Command]; ok {
			return v
		}
		return s.Default
	}
	if v, ok := m.settings[s.Command+" "+key]; ok {
		return v
	}
	return s.Keys[key]
}

// findKey finds a key as written, without regard to case.
func findKey(keys map[string]string, arg string) (string, bool) {
	for k := range keys {
		if strings.EqualFold(k, arg) {
			return k, true
		}
	}
	return "", false
}

// joinArgs writes arguments back as they were given: "10,36000".
func joinArgs(args []atcmd.Arg) string {
	s := make([]string, len(args))
	for i, a := range args {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}
