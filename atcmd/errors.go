package atcmd

import (
	"errors"
	"strconv"
	"strings"
)

// Errors a Handler or a Client returns.
var (
	// ErrError is a plain ERROR final result.
	ErrError = errors.New("atcmd: ERROR")
	// ErrUnknownCommand is returned by a Mux for a command it has no
	// handler for; it is answered with ERROR.
	ErrUnknownCommand = errors.New("atcmd: unknown command")
	// ErrLineTooLong is returned by a LineReader for a line longer than
	// its limit; the line has been discarded up to its terminator.
	ErrLineTooLong = errors.New("atcmd: line too long")
	// ErrClosed is returned by a Client whose link has closed.
	ErrClosed = errors.New("atcmd: link closed")
)

// CMEError is a mobile equipment error (3GPP TS 27.007 §9.2). A Handler
// that returns one is answered "+CME ERROR: <n>" or "+CME ERROR: <text>"
// as AT+CMEE selects, or plain ERROR when AT+CMEE=0.
type CMEError int

// Common CME error codes.
const (
	CMEOperationNotAllowed   CMEError = 3
	CMEOperationNotSupported CMEError = 4
	CMESIMNotInserted        CMEError = 10
	CMEIncorrectParameters   CMEError = 50
	CMEUnknown               CMEError = 100
)

var cmeText = map[CMEError]string{
	0:                        "phone failure",
	CMEOperationNotAllowed:   "operation not allowed",
	CMEOperationNotSupported: "operation not supported",
	CMESIMNotInserted:        "SIM not inserted",
	CMEIncorrectParameters:   "incorrect parameters",
	CMEUnknown:               "unknown",
}

// Text returns the verbose text of the error (AT+CMEE=2).
func (e CMEError) Text() string {
	if t, ok := cmeText[e]; ok {
		return t
	}
	return "error " + strconv.Itoa(int(e))
}

func (e CMEError) Error() string {
	return "atcmd: +CME ERROR: " + strconv.Itoa(int(e)) + " (" + e.Text() + ")"
}

// parseCME parses the value of a "+CME ERROR: " line, numeric or text.
func parseCME(v string) CMEError {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil {
		return CMEError(n)
	}
	for code, text := range cmeText {
		if strings.EqualFold(text, v) {
			return code
		}
	}
	return CMEUnknown
}
