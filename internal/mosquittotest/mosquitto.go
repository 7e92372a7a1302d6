package mosquittotest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Mosquitto is a mosquitto broker on a free loopback port, with
// persistence, started by [Start] and stopped when the test ends.
type Mosquitto struct {
	t    testing.TB
	bin  string
	conf string
	addr string
	cmd  *exec.Cmd
}

// Start starts mosquitto (from PATH or /usr/sbin) with a generated
// configuration on a free 127.0.0.1 port; extra holds more lines for its
// listener (TLS files, for example). Without mosquitto the test is
// skipped, or fails when ATOTA_INTEGRATION=1.
func Start(t testing.TB, extra string) *Mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("ATOTA_INTEGRATION") == "1" {
				t.Fatal("mosquitto is not installed (apt-get install mosquitto); ATOTA_INTEGRATION=1 needs it")
			}
			t.Skip("mosquitto is not installed (apt-get install mosquitto)")
		}
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	text := fmt.Sprintf("listener %d 127.0.0.1\n%sallow_anonymous true\npersistence true\npersistence_location %s/\n", port, extra, dir)
	if os.Geteuid() == 0 {
		// Started as root, mosquitto would run as the user mosquitto,
		// who cannot write its database into the test's directory.
		text += "user root\n"
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &Mosquitto{t: t, bin: bin, conf: conf, addr: "127.0.0.1:" + strconv.Itoa(port)}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// URL returns the broker's mqtt:// URL.
func (m *Mosquitto) URL() string { return "mqtt://" + m.addr }

// Addr returns the broker's HOST:PORT.
func (m *Mosquitto) Addr() string { return m.addr }

// Start starts the broker again after Stop, on the same port, and waits
// until it accepts connections.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	if os.Getenv("ATOTA_TEST_LOG") != "" {
		m.cmd.Args = append(m.cmd.Args, "-v")
		m.cmd.Stdout, m.cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	for range 500 {
		if c, err := net.Dial("tcp", m.addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	m.t.Fatalf("mosquitto did not listen on %s", m.addr)
}

// Stop stops the broker (it saves its sessions first).
func (m *Mosquitto) Stop() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	m.cmd.Wait()
	m.cmd = nil
}
