package mcu

import "golang.org/x/sys/unix"

// freeSpace returns the bytes an unprivileged user may still write to
// the file system holding dir.
func freeSpace(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	free := st.Bavail * uint64(st.Bsize)
	if free > capacityUnknown {
		return capacityUnknown, nil
	}
	return int64(free), nil
}
