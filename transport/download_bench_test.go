package transport

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// benchFile writes a file of n pseudo-random bytes and serves it over
// loopback HTTP with Range (http.ServeContent from the file, sendfile).
func benchFile(b *testing.B, n int64) (url, path string) {
	b.Helper()
	path = filepath.Join(b.TempDir(), "pkg.bin")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 1<<20)
	for left := n; left > 0; left -= int64(len(buf)) {
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		f.Write(buf[:min(left, int64(len(buf)))])
	}
	f.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		w.Header().Set("ETag", `"bench"`)
		http.ServeContent(w, r, "", time.Time{}, f)
	}))
	b.Cleanup(srv.Close)
	return srv.URL + "/pkg.bin", path
}

// BenchmarkDownloadVsCurl downloads 64 MiB from a loopback server with
// Download and with curl (the goal is at least 0.9 of curl's rate).
func BenchmarkDownloadVsCurl(b *testing.B) {
	const size = 64 << 20
	url, _ := benchFile(b, size)
	dst := filepath.Join(b.TempDir(), "out.bin")
	b.Run("atota", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			RemoveDownload(dst)
			if _, err := Download(context.Background(), url, dst, size); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("curl", func(b *testing.B) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			b.Skip("curl not installed")
		}
		b.SetBytes(size)
		for range b.N {
			os.Remove(dst)
			if out, err := exec.Command(curl, "-sS", "-o", dst, url).CombinedOutput(); err != nil {
				b.Fatalf("curl: %v: %s", err, out)
			}
		}
	})
}

// BenchmarkDownloadRSS downloads 100 MiB in a child process (this test
// binary, running TestDownloadRSSChild) and reports its peak resident set
// size (the goal is at most 32 MB).
func BenchmarkDownloadRSS(b *testing.B) {
	const size = 100 << 20
	url, _ := benchFile(b, size)
	var peak int64
	for range b.N {
		dst := filepath.Join(b.TempDir(), "out.bin")
		cmd := exec.Command(os.Args[0], "-test.run=^TestDownloadRSSChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "ATOTA_RSS_URL="+url, "ATOTA_RSS_DST="+dst, "ATOTA_RSS_SIZE="+strconv.Itoa(size))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("child: %v: %s", err, out)
		}
		if fi, err := os.Stat(dst); err != nil || fi.Size() != size {
			b.Fatalf("child downloaded %v, want %d bytes", fi, size)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		peak = max(peak, ru.Maxrss*1024) // Linux reports KiB
	}
	b.SetBytes(size)
	b.ReportMetric(float64(peak)/1e6, "peak-RSS-MB")
}

// TestDownloadRSSChild is the child of BenchmarkDownloadRSS; it does
// nothing in a normal test run.
func TestDownloadRSSChild(t *testing.T) {
	url := os.Getenv("ATOTA_RSS_URL")
	if url == "" {
		t.Skip("only run by BenchmarkDownloadRSS")
	}
	size, _ := strconv.ParseInt(os.Getenv("ATOTA_RSS_SIZE"), 10, 64)
	if _, err := Download(context.Background(), url, os.Getenv("ATOTA_RSS_DST"), size); err != nil {
		t.Fatal(err)
	}
}
