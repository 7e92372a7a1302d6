package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// peerPoll is how often a pty whose slave nobody has open is checked for a
// new opener. Linux gives no event for "the slave was opened": the master
// only stops reporting POLLHUP.
const peerPoll = 20 * time.Millisecond

// errPeerGone is returned by ptyDev.write when no process has the slave open.
var errPeerGone = errors.New("no process has the pty slave open")

// ptyDev is a pty: its master, in the runtime poller, and the slave's
// symlink.
//
// Linux facts it builds on (checked on 6.x):
//   - while no process has the slave open, the master polls POLLHUP and a
//     read returns EIO once the bytes already written by the slave are read;
//   - a write on the master still succeeds then, into the slave's input
//     queue, until a few KiB are queued, and then returns EAGAIN; those
//     bytes would greet the next opener, so write checks POLLHUP first and
//     flushStale discards what is left;
//   - slave termios survive the slave being closed and reopened;
//   - TCFLSH on the master does not reach what is already queued on the
//     slave's side, so flushStale opens the slave itself to flush it;
//   - there is no event for "the slave was opened": waitPeer polls for
//     POLLHUP to clear. A peer that closes and reopens before the reader
//     sees EIO is taken for the same peer (nothing is flushed).
type ptyDev struct {
	master *os.File // non-blocking, so Close unblocks Read and Write
	slave  string   // /dev/pts/N
	link   string   // where the slave is symlinked
	log    *slog.Logger

	// mu is held by flushStale while it has the slave open (which hides
	// POLLHUP) and by write between its POLLHUP check and the write.
	mu        sync.Mutex
	flushes   atomic.Int64 // how often flushStale ran, for tests
	closeOnce sync.Once
	closeErr  error
}

// newPTY creates a pty, puts its slave in raw mode and symlinks it at link.
func newPTY(link string, cfg config) (*ptyDev, error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("transport: pty:%s: open /dev/ptmx: %w", link, err)
	}
	slave, err := ptsName(fd)
	if err == nil {
		err = makeRaw(slave, cfg.baud)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("transport: pty:%s: %w", link, err)
	}
	d := &ptyDev{master: os.NewFile(uintptr(fd), slave+" (master)"), slave: slave, link: link, log: cfg.logger}
	if err := d.createLink(); err != nil {
		d.master.Close()
		return nil, err
	}
	cfg.logger.Debug("transport: pty created", "link", link, "slave", slave)
	return d, nil
}

// ptsName unlocks the slave of master fd and returns its path.
func ptsName(fd int) (string, error) {
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return "", fmt.Errorf("unlock pty slave: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		return "", fmt.Errorf("get pty number: %w", err)
	}
	return "/dev/pts/" + strconv.FormatUint(uint64(n), 10), nil
}

// makeRaw sets the slave to raw mode (cfmakeraw: no echo, no line editing,
// no CR/LF translation, 8 bits) with the given nominal baud rate. Closing
// it afterwards leaves the master reporting POLLHUP: nobody is connected.
func makeRaw(slave string, baud int) error {
	fd, err := unix.Open(slave, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open pty slave: %w", err)
	}
	defer unix.Close(fd)
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("get pty slave termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if b, ok := baudConst[baud]; ok {
		t.Cflag = t.Cflag&^unix.CBAUD | b
		t.Ispeed, t.Ospeed = b, b
	}
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("set pty slave raw: %w", err)
	}
	return nil
}

// baudConst maps the usual baud rates to their termios constants. A pty
// only stores the rate; others are left at the default.
var baudConst = map[int]uint32{
	1200: unix.B1200, 2400: unix.B2400, 4800: unix.B4800, 9600: unix.B9600,
	19200: unix.B19200, 38400: unix.B38400, 57600: unix.B57600, 115200: unix.B115200,
	230400: unix.B230400, 460800: unix.B460800, 921600: unix.B921600,
	1000000: unix.B1000000, 2000000: unix.B2000000, 3000000: unix.B3000000, 4000000: unix.B4000000,
}

// createLink symlinks the slave at d.link. A symlink already there that
// points at a pty no longer open is left from a run that crashed and is
// replaced; a link to an open pty, or anything else, is refused.
func (d *ptyDev) createLink() error {
	fi, err := os.Lstat(d.link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = os.Symlink(d.slave, d.link)
	case err != nil:
	case fi.Mode()&fs.ModeSymlink == 0:
		return fmt.Errorf("transport: pty:%s: %w and is not a symlink; remove it or choose another path",
			d.link, fs.ErrExist)
	default:
		old, _ := os.Readlink(d.link)
		if inUse(old) {
			return fmt.Errorf("transport: pty:%s: %w: the link points at %s, a pty that is open: another program (an atota module or vport?) serves it; to talk to it use the path without pty: (%s), or stop that program first; if none does (the pty number was reused after a crash), remove the link",
				d.link, fs.ErrExist, old, d.link)
		}
		d.log.Warn("transport: replacing an existing symlink", "link", d.link, "old_target", old, "new_target", d.slave)
		tmp := d.link + ".atota-" + strconv.Itoa(os.Getpid())
		os.Remove(tmp)
		if err = os.Symlink(d.slave, tmp); err == nil {
			if err = os.Rename(tmp, d.link); err != nil {
				os.Remove(tmp)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("transport: pty:%s: symlink the pty slave: %w; check that the directory exists and is writable",
			d.link, err)
	}
	return nil
}

// inUse reports whether target, where a pty link points, is a pty whose
// master is still open: the node of /dev/pts goes away when its master
// closes, so a link left by a crashed run points at nothing.
func inUse(target string) bool {
	if !strings.HasPrefix(target, "/dev/pts/") {
		return false
	}
	_, err := os.Stat(target)
	return err == nil
}

// control runs f on f's descriptor; it fails once f is closed.
func control(f *os.File, fn func(fd int)) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { fn(int(fd)) })
}

// pollHUP reports whether the master fd reports POLLHUP: no process has the
// slave open.
func pollHUP(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd)}}
	for {
		_, err := unix.Poll(fds, 0)
		if err != unix.EINTR {
			return err == nil && fds[0].Revents&unix.POLLHUP != 0
		}
	}
}

// peerGone reports whether no process has the slave open.
func (d *ptyDev) peerGone() (bool, error) {
	var hup bool
	err := control(d.master, func(fd int) { hup = pollHUP(fd) })
	return hup, err
}

// waitPeer waits until a process has the slave open, ctx is done or done
// is closed.
func (d *ptyDev) waitPeer(ctx context.Context, done <-chan struct{}) error {
	var t *time.Ticker
	for {
		gone, err := d.peerGone()
		if err != nil {
			return err
		}
		if !gone {
			return nil
		}
		if t == nil {
			t = time.NewTicker(peerPoll)
			defer t.Stop()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return os.ErrClosed
		case <-t.C:
		}
	}
}

// flushStale discards what the last peer left behind: bytes it wrote that
// were not read, and bytes written towards it that it did not read. Call it
// as soon as the peer is seen gone, before a new one can open the slave.
func (d *ptyDev) flushStale() {
	d.mu.Lock()
	defer d.mu.Unlock()
	control(d.master, func(fd int) { unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH) })
	fd, err := unix.Open(d.slave, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		// A peer holds it exclusively (so it is not stale) or the pty
		// is being closed: nothing to flush.
		d.flushes.Add(1)
		return
	}
	unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIOFLUSH)
	unix.Close(fd)
	d.flushes.Add(1)
}

// dup returns a new File on the master, so that closing it ends one
// connection without destroying the pty.
func (d *ptyDev) dup() (*os.File, error) {
	nfd := -1
	var derr error
	err := control(d.master, func(fd int) { nfd, derr = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) })
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, fmt.Errorf("transport: pty:%s: %w", d.link, err)
	}
	return os.NewFile(uintptr(nfd), d.master.Name()), nil
}

// read reads from f, a File on the master. It returns io.EOF when no
// process has the slave open.
func (d *ptyDev) read(f *os.File, b []byte) (int, error) {
	n, err := f.Read(b)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, syscall.EIO):
		return n, io.EOF
	}
	return n, fmt.Errorf("transport: pty:%s: read: %w", d.link, err)
}

// write writes all of b to f, a File on the master. If no process has the
// slave open it returns errPeerGone instead of queuing bytes for the next
// one. It waits while the slave's input queue is full and returns when f is
// closed.
func (d *ptyDev) write(f *os.File, b []byte) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	written := 0
	for len(b) > 0 {
		var werr error
		err := rc.Write(func(fd uintptr) bool {
			d.mu.Lock()
			defer d.mu.Unlock()
			if pollHUP(int(fd)) {
				werr = errPeerGone
				return true
			}
			for {
				n, err := unix.Write(int(fd), b)
				if n > 0 {
					written += n
					b = b[n:]
				}
				switch err {
				case unix.EINTR:
					continue
				case unix.EAGAIN:
					return false // wait until the slave reads, or goes away
				}
				werr = err
				return true
			}
		})
		if err == nil {
			err = werr
		}
		if errors.Is(err, syscall.EIO) {
			err = errPeerGone
		}
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// Close destroys the pty and removes the symlink if it still points at
// this pty's slave.
func (d *ptyDev) Close() error {
	d.closeOnce.Do(func() {
		d.closeErr = d.master.Close()
		if target, err := os.Readlink(d.link); err == nil && target == d.slave {
			if err := os.Remove(d.link); err != nil && d.closeErr == nil {
				d.closeErr = err
			}
		}
		if d.closeErr != nil {
			d.closeErr = fmt.Errorf("transport: pty:%s: close: %w", d.link, d.closeErr)
		}
	})
	return d.closeErr
}
