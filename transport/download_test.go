package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dlReply is what the flaky server answers to one request.
type dlReply struct {
	status  int
	headers []string // raw "Name: value" lines
	body    []byte
	drop    int // bytes of body sent before the connection is dropped; -1 all
}

// dlRequest is what the flaky server saw of one request.
type dlRequest struct {
	n       int   // 1 for the first request
	start   int64 // the Range start, -1 without Range
	ifRange string
	etag    string // the server's current ETag
}

// flakyServer is an httptest server that writes raw HTTP responses, so
// that it can send what a correct server never would, and drop the
// connection part way through a body.
type flakyServer struct {
	*httptest.Server
	data  []byte
	etag  string
	reply func(s *flakyServer, r dlRequest) dlReply

	down atomic.Bool // while set, connections are closed at once
	mu   sync.Mutex
	seen []dlRequest
}

func newFlakyServer(t *testing.T, data []byte, reply func(*flakyServer, dlRequest) dlReply) *flakyServer {
	t.Helper()
	s := &flakyServer{data: data, etag: `"v1"`, reply: reply}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Listener = &downListener{Listener: s.Listener, down: &s.down}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *flakyServer) serve(w http.ResponseWriter, r *http.Request) {
	req := dlRequest{start: -1, ifRange: r.Header.Get("If-Range")}
	if v, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes="); ok {
		req.start, _ = strconv.ParseInt(strings.TrimSuffix(v, "-"), 10, 64)
	}
	s.mu.Lock()
	req.n = len(s.seen) + 1
	req.etag = s.etag
	s.seen = append(s.seen, req)
	reply := s.reply
	s.mu.Unlock()
	rep := reply(s, req)
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", rep.status, http.StatusText(rep.status))
	for _, h := range rep.headers {
		buf.WriteString(h + "\r\n")
	}
	buf.WriteString("Connection: close\r\n\r\n")
	body := rep.body
	if rep.drop >= 0 && rep.drop < len(body) {
		body = body[:rep.drop]
	}
	buf.Write(body)
	buf.Flush()
}

// set changes the file's ETag and the server's behaviour.
func (s *flakyServer) set(etag string, reply func(*flakyServer, dlRequest) dlReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.etag, s.reply = etag, reply
}

func (s *flakyServer) requests() []dlRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dlRequest(nil), s.seen...)
}

// downListener closes every connection while down is set, as a server
// that is not there.
type downListener struct {
	net.Listener
	down *atomic.Bool
}

func (l *downListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.down.Load() {
			return c, err
		}
		c.Close()
	}
}

// good is the reply of a correct server that drops each connection after
// chunk bytes of body.
func (s *flakyServer) good(r dlRequest, chunk int) dlReply {
	total := len(s.data)
	if r.start < 0 || r.ifRange != "" && r.ifRange != r.etag {
		return dlReply{status: 200, headers: []string{"ETag: " + r.etag, "Content-Length: " + strconv.Itoa(total)}, body: s.data, drop: chunk}
	}
	st := int(r.start)
	return dlReply{status: 206, headers: []string{
		"ETag: " + r.etag,
		fmt.Sprintf("Content-Range: bytes %d-%d/%d", st, total-1, total),
		"Content-Length: " + strconv.Itoa(total-st),
	}, body: s.data[st:], drop: chunk}
}

func dlData(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func dlOpts() []DownloadOption {
	return []DownloadOption{WithBackoff(5*time.Millisecond, 50*time.Millisecond), WithIdleTimeout(2 * time.Second), WithMaxTime(20 * time.Second)}
}

// TestDownloadResumes is the table of the issue: servers that serve part
// of the file per connection and then drop it, and misbehave on the way.
func TestDownloadResumes(t *testing.T) {
	const size, chunk = 10000, 3000
	data := dlData(size)
	// once misbehaves on the second request only.
	once := func(bad func(s *flakyServer, r dlRequest) dlReply) func(*flakyServer, dlRequest) dlReply {
		return func(s *flakyServer, r dlRequest) dlReply {
			if r.n == 2 {
				return bad(s, r)
			}
			return s.good(r, chunk)
		}
	}
	partial := func(s *flakyServer, r dlRequest, first int, headers ...string) dlReply {
		rep := s.good(r, chunk)
		rep.headers = append([]string{"ETag: " + r.etag}, headers...)
		rep.body = s.data[first:]
		return rep
	}
	tests := []struct {
		name      string
		reply     func(*flakyServer, dlRequest) dlReply
		downAfter int           // take the server down after this many requests; 0 never
		upAfter   time.Duration // bring it back after this long; 0 never
		maxTime   time.Duration
		wantErr   error // nil: the download completes
		wantFull  int   // requests without Range the server must have seen, at least
	}{
		{name: "part per connection", reply: func(s *flakyServer, r dlRequest) dlReply { return s.good(r, chunk) }},
		{name: "range starts early", reply: once(func(s *flakyServer, r dlRequest) dlReply {
			f := int(r.start) - 100
			return partial(s, r, f, fmt.Sprintf("Content-Range: bytes %d-%d/%d", f, size-1, size), "Content-Length: "+strconv.Itoa(size-f))
		})},
		{name: "range starts late", reply: once(func(s *flakyServer, r dlRequest) dlReply {
			f := int(r.start) + 100
			return partial(s, r, f, fmt.Sprintf("Content-Range: bytes %d-%d/%d", f, size-1, size), "Content-Length: "+strconv.Itoa(size-f))
		})},
		{name: "broken Content-Length", reply: once(func(s *flakyServer, r dlRequest) dlReply {
			f := int(r.start)
			return partial(s, r, f, fmt.Sprintf("Content-Range: bytes %d-%d/%d", f, size-1, size), "Content-Length: "+strconv.Itoa(size-f+7))
		})},
		{name: "missing Content-Length", reply: func(s *flakyServer, r dlRequest) dlReply {
			rep := s.good(r, chunk)
			rep.headers = slicesDelete(rep.headers, "Content-Length")
			return rep
		}},
		{name: "200 instead of 206", reply: once(func(s *flakyServer, r dlRequest) dlReply {
			return dlReply{status: 200, headers: []string{"ETag: " + r.etag, "Content-Length: " + strconv.Itoa(size)}, body: s.data, drop: chunk + 500}
		})},
		{name: "empty Content-Range", reply: func(s *flakyServer, r dlRequest) dlReply {
			if r.start > 0 {
				return partial(s, r, int(r.start), "Content-Range: ", "Content-Length: "+strconv.Itoa(size-int(r.start)))
			}
			if r.start < 0 {
				return s.good(r, -1) // the whole file works
			}
			return s.good(r, chunk)
		}, wantFull: 1},
		{name: "garbled Content-Range", reply: once(func(s *flakyServer, r dlRequest) dlReply {
			return partial(s, r, int(r.start), "Content-Range: bytes 3000/10000-x", "Content-Length: "+strconv.Itoa(size-int(r.start)))
		})},
		{name: "multi-valued Content-Range", reply: once(func(s *flakyServer, r dlRequest) dlReply {
			f := int(r.start)
			cr := fmt.Sprintf("Content-Range: bytes %d-%d/%d", f, size-1, size)
			return partial(s, r, f, cr, cr, "Content-Length: "+strconv.Itoa(size-f))
		})},
		{name: "break inside a short range", reply: func(s *flakyServer, r dlRequest) dlReply {
			f := max(int(r.start), 0)
			l := min(2000, size-f)
			drop := -1
			if r.n%2 == 1 {
				drop = 1500 // odd requests break inside their range
			}
			return dlReply{status: 206, headers: []string{"ETag: " + r.etag,
				fmt.Sprintf("Content-Range: bytes %d-%d/%d", f, f+l-1, size), "Content-Length: " + strconv.Itoa(l)},
				body: s.data[f : f+l], drop: drop}
		}},
		{name: "server goes down", reply: func(s *flakyServer, r dlRequest) dlReply { return s.good(r, chunk) },
			downAfter: 1, maxTime: 500 * time.Millisecond, wantErr: context.DeadlineExceeded},
		{name: "server goes down and comes back", reply: func(s *flakyServer, r dlRequest) dlReply { return s.good(r, chunk) },
			downAfter: 1, upAfter: 200 * time.Millisecond},
		{name: "404", reply: func(s *flakyServer, r dlRequest) dlReply {
			return dlReply{status: 404, headers: []string{"Content-Length: 0"}, drop: -1}
		}, wantErr: new(HTTPStatusError)},
		{name: "size other than declared", reply: func(s *flakyServer, r dlRequest) dlReply {
			rep := s.good(r, chunk)
			rep.headers[1] = fmt.Sprintf("Content-Range: bytes 0-%d/%d", size, size+1)
			rep.headers[2] = "Content-Length: " + strconv.Itoa(size+1)
			return rep
		}, wantErr: ErrSizeMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *flakyServer
			reply := tt.reply
			s = newFlakyServer(t, data, func(s *flakyServer, r dlRequest) dlReply {
				rep := reply(s, r)
				if tt.downAfter > 0 && r.n == tt.downAfter {
					s.down.Store(true)
					if tt.upAfter > 0 {
						time.AfterFunc(tt.upAfter, func() { s.down.Store(false) })
					}
				}
				return rep
			})
			path := filepath.Join(t.TempDir(), "pkg.bin")
			opts := dlOpts()
			if tt.maxTime > 0 {
				opts = append(opts, WithMaxTime(tt.maxTime))
			}
			n, err := Download(context.Background(), s.URL+"/pkg.bin", path, size, opts...)
			got, _ := os.ReadFile(path)
			if tt.wantErr != nil {
				var de *DownloadError
				if !errors.As(err, &de) {
					t.Fatalf("err = %v, want a *DownloadError", err)
				}
				var hse *HTTPStatusError
				if _, ok := tt.wantErr.(*HTTPStatusError); ok && !errors.As(err, &hse) || !ok && !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !bytes.Equal(got, data[:len(got)]) {
					t.Errorf("the cache file does not hold the start of the file")
				}
				return
			}
			if err != nil {
				t.Fatalf("Download: %v (%d requests)", err, len(s.requests()))
			}
			if n != size || !bytes.Equal(got, data) {
				t.Fatalf("got %d bytes (file %d), want the %d bytes served", n, len(got), size)
			}
			full := 0
			for _, r := range s.requests() {
				if r.start < 0 {
					full++
				}
			}
			if full < tt.wantFull {
				t.Errorf("%d requests without Range, want at least %d", full, tt.wantFull)
			}
		})
	}
}

func slicesDelete(headers []string, name string) []string {
	var out []string
	for _, h := range headers {
		if !strings.HasPrefix(h, name+":") {
			out = append(out, h)
		}
	}
	return out
}

// TestDownloadRestart checks that a second Download resumes from the cache
// file a first one left, and starts over when the file changed.
func TestDownloadRestart(t *testing.T) {
	const size, chunk = 8000, 3000
	data := dlData(size)
	for _, tt := range []struct {
		name      string
		newETag   string
		wantStart int64 // the Range of the second Download's first request
		wantFull  bool  // the server had to send the whole file again
	}{
		{name: "same file", newETag: `"v1"`, wantStart: chunk},
		{name: "file changed", newETag: `"v2"`, wantStart: chunk, wantFull: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The first run stops after one request: the server goes away.
			s := newFlakyServer(t, data, func(s *flakyServer, r dlRequest) dlReply { s.down.Store(true); return s.good(r, chunk) })
			path := filepath.Join(t.TempDir(), "pkg.bin")
			_, err := Download(context.Background(), s.URL+"/p", path, size, append(dlOpts(), WithMaxTime(200*time.Millisecond))...)
			if err == nil {
				t.Fatal("first Download completed; want it cut")
			}
			if fi, _ := os.Stat(path); fi == nil || fi.Size() != chunk {
				t.Fatalf("cache file after the cut: %v, want %d bytes", fi, chunk)
			}
			// The second run (a module restarted) finds the cache file.
			s.set(tt.newETag, func(s *flakyServer, r dlRequest) dlReply { return s.good(r, chunk) })
			s.down.Store(false)
			before := len(s.requests())
			n, err := Download(context.Background(), s.URL+"/p", path, size, dlOpts()...)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if n != size || !bytes.Equal(got, data) {
				t.Fatalf("got %d bytes, want the file", n)
			}
			first := s.requests()[before]
			if first.start != tt.wantStart || first.ifRange != `"v1"` {
				t.Errorf("first request after the restart: Range start %d, If-Range %q; want %d, %q", first.start, first.ifRange, tt.wantStart, `"v1"`)
			}
			full := false
			for _, r := range s.requests()[before:] {
				full = full || r.start >= 0 && r.ifRange != "" && r.ifRange != r.etag
			}
			if full != tt.wantFull {
				t.Errorf("whole file sent again: %v, want %v", full, tt.wantFull)
			}
		})
	}
}

func TestDownloadRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x")
	tests := []struct {
		name    string
		url     string
		size    int64
		wantErr error
	}{
		{name: "huge declared size", url: "http://127.0.0.1:1/x", size: 1 << 40, wantErr: ErrTooLarge},
		{name: "non-HTTP scheme", url: "ftp://127.0.0.1/x", size: 10},
		{name: "garbage URL", url: "http://[::1", size: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Download(context.Background(), tt.url, path, tt.size, dlOpts()...)
			var de *DownloadError
			if !errors.As(err, &de) || de.Attempts > 1 {
				t.Fatalf("err = %v, want a *DownloadError after at most one attempt", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestDownloadCancel(t *testing.T) {
	s := newFlakyServer(t, dlData(1000), func(s *flakyServer, r dlRequest) dlReply { return s.good(r, 10) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Download(ctx, s.URL, filepath.Join(t.TempDir(), "x"), 1000, dlOpts()...)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{in: "bytes 0-99/100", first: 0, last: 99, total: 100, ok: true},
		{in: "Bytes 10-19/*", first: 10, last: 19, total: -1, ok: true},
		{in: "", ok: false},
		{in: "bytes ", ok: false},
		{in: "bytes 5-4/100", ok: false},
		{in: "bytes 0-100/100", ok: false},
		{in: "bytes -1-5/100", ok: false},
		{in: "bytes 0-5/100, bytes 6-9/100", ok: false},
		{in: "items 0-5/100", ok: false},
		{in: "bytes */100", ok: false},
		{in: "bytes 0-5/ 100", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			f, l, n, err := ParseContentRange(tt.in)
			if (err == nil) != tt.ok || tt.ok && (f != tt.first || l != tt.last || n != tt.total) {
				t.Errorf("ParseContentRange(%q) = %d, %d, %d, %v; want %d, %d, %d, ok %v", tt.in, f, l, n, err, tt.first, tt.last, tt.total, tt.ok)
			}
		})
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 1-2/*", "bytes x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, err := ParseContentRange(s)
		if err != nil {
			return
		}
		if first < 0 || last < first || total >= 0 && last >= total {
			t.Errorf("ParseContentRange(%q) = %d, %d, %d: inconsistent", s, first, last, total)
		}
	})
}
