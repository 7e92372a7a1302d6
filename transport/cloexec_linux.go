package transport

import (
	"os"
	"strconv"
	"syscall"

	"go.bug.st/serial"
	"golang.org/x/sys/unix"
)

// openSerial opens a serial port and marks the descriptors serial.Open
// created close-on-exec. go.bug.st/serial opens the device and its
// signalling pipe without O_CLOEXEC, so a child started later (an exec:
// target, a vendor flasher) would inherit them and keep the line open. The
// fork lock keeps os/exec from forking in between.
func openSerial(path string, mode *serial.Mode) (serial.Port, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	before := openFDs()
	port, err := serial.Open(path, mode)
	if err != nil || before == nil {
		return port, err
	}
	for fd := range openFDs() {
		if !before[fd] {
			// A descriptor opened meanwhile by another goroutine is
			// close-on-exec already (the runtime opens all so).
			unix.CloseOnExec(fd)
		}
	}
	return port, nil
}

// openFDs returns the process's open descriptors, not counting the one
// used to list them, or nil if /proc is not mounted.
func openFDs() map[int]bool {
	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil
	}
	self := int(dir.Fd())
	fds := make(map[int]bool, len(names))
	for _, name := range names {
		if fd, err := strconv.Atoi(name); err == nil && fd != self {
			fds[fd] = true
		}
	}
	return fds
}
