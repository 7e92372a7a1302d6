package plan

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// LoadZone loads a plan time zone: an IANA name such as "Asia/Shanghai"
// or a fixed offset such as "+08:00" or "-05:30". "Local", whose meaning
// depends on the machine, is refused.
func LoadZone(name string) (*time.Location, error) {
	loc, rule := loadZone(name)
	if rule != "" {
		return nil, fmt.Errorf("plan: time zone %q: %s", name, rule)
	}
	return loc, nil
}

// loadZone returns the location, or the broken rule.
func loadZone(name string) (*time.Location, string) {
	const hint = "use an IANA name such as \"Asia/Shanghai\" or a fixed offset such as \"+08:00\""
	if name == "" {
		return nil, "empty: " + hint
	}
	if name[0] == '+' || name[0] == '-' {
		if len(name) != 6 || name[3] != ':' || !digits(name[1:3]) || !digits(name[4:6]) {
			return nil, fmt.Sprintf("%q is not a fixed offset of the form +hh:mm: %s", name, hint)
		}
		h := int(name[1]-'0')*10 + int(name[2]-'0')
		m := int(name[4]-'0')*10 + int(name[5]-'0')
		if h > 14 || m > 59 || h == 14 && m > 0 {
			return nil, fmt.Sprintf("offset %s is out of range -14:00 to +14:00", name)
		}
		secs := (h*60 + m) * 60
		if name[0] == '-' {
			secs = -secs
		}
		return time.FixedZone(name, secs), ""
	}
	if name == "Local" {
		return nil, "\"Local\" depends on the machine: " + hint
	}
	if len(name) > 64 || !zoneName(name) {
		return nil, fmt.Sprintf("%q is not a time zone name: %s", name, hint)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Sprintf("unknown time zone %q: %s", name, hint)
	}
	return loc, ""
}

// zoneName reports whether s looks like an IANA zone name. This keeps
// arbitrary strings away from the zoneinfo lookup in the file system.
func zoneName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == '+':
		case c == '/' && i > 0 && i < len(s)-1 && s[i-1] != '/':
		default:
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseWallTime parses "YYYY-MM-DD hh:mm" in loc, returning the instant or
// the broken rule.
func parseWallTime(s string, loc *time.Location) (time.Time, string) {
	if len(s) != len(windowTimeLayout) || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' ||
		!digits(s[0:4]) || !digits(s[5:7]) || !digits(s[8:10]) || !digits(s[11:13]) || !digits(s[14:16]) {
		return time.Time{}, fmt.Sprintf("%q is not of the form \"YYYY-MM-DD hh:mm\"", s)
	}
	t, err := time.ParseInLocation(windowTimeLayout, s, loc)
	if err != nil {
		why := err.Error()
		var pe *time.ParseError
		if errors.As(err, &pe) && pe.Message != "" {
			why = strings.TrimPrefix(pe.Message, ": ")
		}
		return time.Time{}, fmt.Sprintf("%q is not a valid time: %s", s, why)
	}
	return t, ""
}

// formatWallTime is the inverse of parseWallTime.
func formatWallTime(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(windowTimeLayout)
}
