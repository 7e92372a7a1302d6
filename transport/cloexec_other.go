//go:build !linux

package transport

import "go.bug.st/serial"

// openSerial opens a serial port. Outside Linux the descriptors
// go.bug.st/serial opens may be inherited by child processes.
func openSerial(path string, mode *serial.Mode) (serial.Port, error) {
	return serial.Open(path, mode)
}
