package platform

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atota/atota/transport"
)

// rawPlatform is a test's view of the broker as the platform: it
// publishes raw payloads and collects what the device reports.
type rawPlatform struct {
	broker string
	c      *transport.MQTTClient
	mu     sync.Mutex
	got    []string // "topic payload"
}

func newRawPlatform(t *testing.T) *rawPlatform {
	t.Helper()
	b, err := startBroker("127.0.0.1:0", func(pk, dn string) string { return "" }, true, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	return connectRaw(t, b.url(), platformUser, b.password)
}

func connectRaw(t *testing.T, broker, user, pass string) *rawPlatform {
	t.Helper()
	r := &rawPlatform{broker: broker}
	c, err := transport.NewMQTTClient(transport.MQTTConfig{Broker: broker, ClientID: "raw-" + t.Name(), Username: user, Password: pass, MaxReconnectInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, f := range []string{"/ota/device/+/+/+", "/sys/+/+/thing/ota/firmware/get", "$oc/devices/+/sys/events/up"} {
		c.Subscribe(ctx, f, func(topic string, p []byte) {
			r.mu.Lock()
			r.got = append(r.got, topic+" "+string(p))
			r.mu.Unlock()
		})
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r.c = c
	return r
}

func (r *rawPlatform) publish(t *testing.T, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.c.Publish(ctx, topic, []byte(payload)); err != nil {
		t.Fatal(err)
	}
}

// waitFor returns the first message after from whose text contains all
// of want, and its index.
func (r *rawPlatform) waitFor(t *testing.T, from int, want ...string) (string, int) {
	t.Helper()
	var msg string
	var at int
	eventually(t, fmt.Sprintf("a message with %q", want), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i := from; i < len(r.got); i++ {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(r.got[i], w)
			}
			if ok {
				msg, at = r.got[i], i
				return true
			}
		}
		return false
	})
	return msg, at
}

func (r *rawPlatform) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// pkgServer serves data at /fw.bin; the first cuts requests send chunk
// bytes and drop the connection; stall, when set, holds the first
// response after chunk bytes until it is closed.
type pkgServer struct {
	*httptest.Server
	data   []byte
	chunk  int
	cuts   int32
	starts []int64
	mu     sync.Mutex
	n      atomic.Int32
	stall  chan struct{}
}

func newPkgServer(t *testing.T, data []byte, chunk int, cuts int32) *pkgServer {
	s := &pkgServer{data: data, chunk: chunk, cuts: cuts}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *pkgServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/fw.bin" {
		http.NotFound(w, r)
		return
	}
	n := s.n.Add(1)
	var start int64
	if v, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes="); ok {
		start, _ = strconv.ParseInt(strings.TrimSuffix(v, "-"), 10, 64)
	}
	s.mu.Lock()
	s.starts = append(s.starts, start)
	s.mu.Unlock()
	size := int64(len(s.data))
	w.Header().Set("ETag", `"e1"`)
	w.Header().Set("Content-Length", strconv.FormatInt(size-start, 10))
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, size-1, size))
	w.WriteHeader(http.StatusPartialContent)
	body := s.data[start:]
	if n <= s.cuts || n == 1 && s.stall != nil {
		w.Write(body[:min(len(body), s.chunk)])
		w.(http.Flusher).Flush()
		if n == 1 && s.stall != nil {
			<-s.stall
		}
		panic(http.ErrAbortHandler)
	}
	w.Write(body)
}

func jobPayload(url string, size int, sign string) string {
	return fmt.Sprintf(`{"code":"1000","id":1,"message":"success","data":{"version":"2_0_0","module":"STM32","size":%d,"url":%q,"signMethod":"Md5","sign":%q}}`, size, url, sign)
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// TestDeviceBadInput sends the jobs of the bad-input list: each
// is reported with a negative step and a description naming the field,
// nothing is offered, and the link keeps serving the next, good job.
func TestDeviceBadInput(t *testing.T) {
	data := []byte(strings.Repeat("firmware", 2000))
	srv := newPkgServer(t, data, 0, 0)
	good, url := md5hex(data), srv.URL+"/fw.bin"
	raw := newRawPlatform(t)
	d := startDevice(t, raw.broker, "dev1", t.TempDir(), nil)
	d.VersionsReported(map[string]string{"STM32": "1_0_0"})
	topic := upgradeTopic("p1demo", "dev1")
	tests := []struct {
		name     string
		payload  string
		wantStep string
		wantDesc string
	}{
		{name: "malformed JSON", payload: `{"code":"1000","data":{"version":`, wantStep: "-1", wantDesc: "malformed"},
		{name: "unknown field", payload: strings.Replace(jobPayload(url, len(data), good), `"module"`, `"colour":"red","module"`, 1), wantStep: "-1", wantDesc: "colour"},
		{name: "missing field", payload: strings.Replace(jobPayload(url, len(data), good), `"signMethod":"Md5","sign":"`+good+`"`, `"signMethod":"Md5"`, 1), wantStep: "-1", wantDesc: "sign: missing"},
		{name: "wrong MD5", payload: jobPayload(url, len(data), strings.Repeat("0", 32)), wantStep: "-3", wantDesc: "sign: the md5"},
		{name: "404", payload: jobPayload(srv.URL+"/nothing.bin", len(data), good), wantStep: "-2", wantDesc: "404"},
		{name: "non-HTTP scheme", payload: jobPayload("ftp://127.0.0.1/fw.bin", len(data), good), wantStep: "-2", wantDesc: "url"},
		{name: "size that does not match", payload: jobPayload(url, len(data)+5, good), wantStep: "-2", wantDesc: "size"},
		{name: "huge declared size", payload: jobPayload(url, 1<<40, good), wantStep: "-2", wantDesc: "size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := raw.count()
			raw.publish(t, topic, tt.payload)
			msg, _ := raw.waitFor(t, from, "/ota/device/progress/p1demo/dev1", `"step":"-`)
			var m progressMsg
			json.Unmarshal([]byte(msg[strings.IndexByte(msg, ' ')+1:]), &m)
			if string(m.Params.Step) != tt.wantStep || !strings.Contains(m.Params.Desc, tt.wantDesc) || len(m.Params.Desc) > 128 {
				t.Errorf("progress step %s desc %q; want step %s, desc with %q (at most 128 characters)", m.Params.Step, m.Params.Desc, tt.wantStep, tt.wantDesc)
			}
			if ps, _ := d.Load(); len(ps) != 0 {
				t.Errorf("%d plans offered after a bad job", len(ps))
			}
		})
	}
	// Still serving: a good job becomes a plan.
	raw.publish(t, topic, jobPayload(url, len(data), good))
	eventually(t, "the good job's plan", func() bool { ps, _ := d.Load(); return len(ps) == 1 })
}

// TestDeviceDownloadCutThreeTimes: a download cut three times still
// completes, resuming each time.
func TestDeviceDownloadCutThreeTimes(t *testing.T) {
	data := []byte(strings.Repeat("0123456789abcdef", 20000))
	srv := newPkgServer(t, data, 50_000, 3)
	raw := newRawPlatform(t)
	d := startDevice(t, raw.broker, "dev1", t.TempDir(), nil)
	raw.publish(t, upgradeTopic("p1demo", "dev1"), jobPayload(srv.URL+"/fw.bin", len(data), md5hex(data)))
	eventually(t, "the plan", func() bool { ps, _ := d.Load(); return len(ps) == 1 })
	srv.mu.Lock()
	defer srv.mu.Unlock()
	want := []int64{0, 50_000, 100_000, 150_000}
	if fmt.Sprint(srv.starts) != fmt.Sprint(want) {
		t.Errorf("Range starts %v, want %v", srv.starts, want)
	}
}

// TestDeviceRestartResumes stops the link in the middle of a download; a
// new link on the same cache directory resumes from the cache file.
func TestDeviceRestartResumes(t *testing.T) {
	data := []byte(strings.Repeat("abcdefgh", 40000))
	srv := newPkgServer(t, data, 100_000, 0)
	srv.stall = make(chan struct{})
	raw := newRawPlatform(t)
	cache := t.TempDir()
	d := startDevice(t, raw.broker, "dev1", cache, nil)
	raw.publish(t, upgradeTopic("p1demo", "dev1"), jobPayload(srv.URL+"/fw.bin", len(data), md5hex(data)))
	raw.waitFor(t, 0, "/ota/device/progress/p1demo/dev1", `"step":"1"`)
	eventually(t, "the first request", func() bool { return srv.n.Load() == 1 })
	time.Sleep(100 * time.Millisecond) // let the first 100,000 bytes reach the cache file
	d.Close()
	close(srv.stall)

	d2 := startDevice(t, raw.broker, "dev1", cache, nil)
	eventually(t, "the plan after the restart", func() bool { ps, _ := d2.Load(); return len(ps) == 1 })
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.starts) != 2 || srv.starts[1] != 100_000 {
		t.Errorf("Range starts %v, want [0 100000]", srv.starts)
	}
}
