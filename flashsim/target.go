package flashsim

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// ParseTarget parses the flashsim TARGET form FILE[?part=NAME], with the
// "flashsim:" prefix already removed. It returns the file path and the
// part name as written in the parameter ("" when absent, which Open
// treats as DefaultPart for a new file). Everything after the last '?' is
// the query, so a path containing '?' must be followed by a query ("?"
// alone will do). The only parameter is part, and it must name a known
// part.
func ParseTarget(s string) (path, part string, err error) {
	path, query, hasQuery := s, "", false
	if i := strings.LastIndexByte(s, '?'); i >= 0 {
		path, query, hasQuery = s[:i], s[i+1:], true
	}
	if path == "" {
		return "", "", fmt.Errorf("flashsim: target %q: missing file name; use flashsim:FILE[?part=NAME]", s)
	}
	if !hasQuery || query == "" {
		return path, "", nil
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return "", "", fmt.Errorf("flashsim: target %q: bad parameters: %w", s, err)
	}
	for _, key := range slices.Sorted(maps.Keys(values)) {
		vs := values[key]
		if key != "part" {
			return "", "", fmt.Errorf("flashsim: target %q: unknown parameter %q; the only one is part=NAME", s, key)
		}
		if len(vs) != 1 {
			return "", "", fmt.Errorf("flashsim: target %q: part is given %d times; give it once", s, len(vs))
		}
	}
	part = values.Get("part")
	p, err := LookupPart(part)
	if err != nil {
		return "", "", fmt.Errorf("%w in target %q", err, s)
	}
	return path, p.Name, nil
}

// FormatTarget is the inverse of ParseTarget: it returns path, with
// "?part=NAME" appended when part is not empty.
func FormatTarget(path, part string) string {
	if part == "" {
		if strings.Contains(path, "?") {
			return path + "?"
		}
		return path
	}
	return path + "?" + url.Values{"part": {part}}.Encode()
}
