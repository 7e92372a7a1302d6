package platform

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestBrokerRestart stops the embedded broker and starts it again: no
// connection is taken while it is down, the address stays, the device
// link notices, reconnects and subscribes again, so the version it
// reported while the broker was down reaches the platform and the job
// the platform sends back reaches the device.
func TestBrokerRestart(t *testing.T) {
	plans, _ := writePlans(t, 1000, nil)
	p := startPlatform(t, plans, nil)
	d := startDevice(t, p.BrokerURL(), "dev1", t.TempDir(), nil)
	url := p.BrokerURL()

	if err := p.StopBroker(); err != nil {
		t.Fatal(err)
	}
	if err := p.StopBroker(); err != nil {
		t.Fatalf("StopBroker of a stopped broker = %v, want nil", err)
	}
	eventually(t, "the link to notice the broker is gone", func() bool { return !d.Connected() })
	if c, err := net.Dial("tcp", strings.TrimPrefix(url, "mqtt://")); err == nil {
		c.Close()
		t.Errorf("a connection to the stopped broker at %s was accepted", url)
	}
	d.VersionsReported(map[string]string{"STM32": "1_0_0"})
	if err := p.StartBroker(); err != nil {
		t.Fatal(err)
	}
	if err := p.StartBroker(); err != nil {
		t.Fatalf("StartBroker of a running broker = %v, want nil", err)
	}
	if got := p.BrokerURL(); got != url {
		t.Errorf("BrokerURL after the restart = %s, want %s", got, url)
	}
	eventually(t, "the job after the restart", func() bool { ps, _ := d.Load(); return len(ps) == 1 })
	if !d.Connected() {
		t.Error("Connected() = false after the job came")
	}
}

// TestWrapPackages: Config.WrapPackages sees every package request; a
// wrapper that cuts the first response makes the device resume with
// Range from where the cut fell, and the package arrives whole.
func TestWrapPackages(t *testing.T) {
	const cutAfter = 1000
	var (
		mu     sync.Mutex
		ranges []string
	)
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			ranges = append(ranges, r.Header.Get("Range"))
			first := len(ranges) == 1
			mu.Unlock()
			if first {
				w = &cutWriter{ResponseWriter: w, left: cutAfter}
			}
			h.ServeHTTP(w, r)
		})
	}
	plans, pkg := writePlans(t, 5000, nil)
	p := startPlatform(t, plans, func(c *Config) { c.WrapPackages = wrap })
	d := startDevice(t, p.BrokerURL(), "dev1", t.TempDir(), nil)
	d.VersionsReported(map[string]string{"STM32": "1_0_0"})
	var dir, file string
	eventually(t, "the job's plan", func() bool {
		ps, _ := d.Load()
		if len(ps) == 1 {
			dir, file = ps[0].Dir, ps[0].Components[0].File
		}
		return len(ps) == 1
	})
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil || !bytes.Equal(data, pkg) {
		t.Fatalf("cached package: %v, equal %v", err, bytes.Equal(data, pkg))
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"bytes=0-", "bytes=1000-"}; len(ranges) != 2 || ranges[0] != want[0] || ranges[1] != want[1] {
		t.Errorf("package requests with Range %q, want %q", ranges, want)
	}
}

// cutWriter passes on left bytes of a response, then drops the
// connection.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (w *cutWriter) Write(p []byte) (int, error) {
	if len(p) <= w.left {
		w.left -= len(p)
		return w.ResponseWriter.Write(p)
	}
	w.ResponseWriter.Write(p[:w.left])
	http.NewResponseController(w.ResponseWriter).Flush()
	panic(http.ErrAbortHandler)
}
