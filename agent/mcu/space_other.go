//go:build !linux

package mcu

// freeSpace is not measured on this system: no limit.
func freeSpace(string) (int64, error) { return capacityUnknown, nil }
