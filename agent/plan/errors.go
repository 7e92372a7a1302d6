package plan

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one broken rule of a plan file. Its message has the form
//
//	plans/x.json: components[1].specified_versions: 9 versions, at most 8
//
// and, for a JSON syntax error, names the line and column instead of a
// field:
//
//	plans/x.json:3:17: invalid JSON: invalid character '}' looking for beginning of value
//
// The file is the message's prefix, so Error carries no "plan:" prefix.
type Error struct {
	File  string // the plan file, as given to Parse
	Field string // JSON field path, such as "window.start" or "components[1].file"; "" for the whole file
	Rule  string // the rule that was broken

	// Line and Column locate a JSON syntax error (1-based; Column counts
	// bytes); both are 0 for other errors.
	Line, Column int
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Rule)
	return b.String()
}

// Errors returns every [*Error] in err's tree, in order: the broken rules
// of an error returned by [Parse], [Plan.Validate] or [Dir.Load].
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *Error:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// maxErrors bounds how many broken rules one file reports.
const maxErrors = 25

// join returns nil, the single error, or an errors.Join of errs, cut to
// maxErrors with a last entry saying how many were left out.
func join(errs []*Error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	n := min(len(errs), maxErrors)
	out := make([]error, 0, n+1)
	for _, e := range errs[:n] {
		out = append(out, e)
	}
	if len(errs) > n {
		out = append(out, &Error{File: errs[0].File, Rule: fmt.Sprintf("and %d more errors", len(errs)-n)})
	}
	return errors.Join(out...)
}

// Reasons a device is not offered a plan. [Plan.Next] returns them wrapped
// in a [*NotEligible]; test with errors.Is.
var (
	ErrNotActivated   = errors.New("plan not activated")
	ErrOtherProduct   = errors.New("plan is for another product")
	ErrBeforeWindow   = errors.New("plan window not started")
	ErrAfterWindow    = errors.New("plan window over")
	ErrBlacklisted    = errors.New("device blacklisted")
	ErrNotWhitelisted = errors.New("device not whitelisted")
	ErrSourceMismatch = errors.New("delta source version mismatch")
	ErrNotSpecified   = errors.New("version not in specified_versions")
	ErrRetriesUsedUp  = errors.New("retries used up")
	ErrDone           = errors.New("all components at target version")
)

// NotEligible says why a device is not offered a plan now.
type NotEligible struct {
	Plan      string // plan name
	Device    string // device key
	Reason    error  // one of the Err* reasons above
	Component int    // index of the component concerned, or -1
	Detail    string // the values that decided, for people
}

func (e *NotEligible) Error() string {
	s := fmt.Sprintf("plan: %s: device %s: %v", e.Plan, e.Device, e.Reason)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the reason, so that errors.Is(err, ErrDone) works.
func (e *NotEligible) Unwrap() error { return e.Reason }
