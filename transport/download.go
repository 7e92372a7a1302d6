package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"time"

	"github.com/atota/atota/internal/atomicfile"
)

// Download defaults.
const (
	// DefaultDownloadMaxTime bounds a whole Download, all attempts included.
	DefaultDownloadMaxTime = 30 * time.Minute
	// DefaultDownloadIdle is how long a response may send nothing before
	// the attempt is dropped and the download resumes with a new request.
	DefaultDownloadIdle = 30 * time.Second
	// DefaultDownloadMaxSize is the largest file Download accepts: the
	// Alink platform's limit for one package file, 1000 MB.
	DefaultDownloadMaxSize = 1000 << 20
)

// Download errors a caller decides on.
var (
	// ErrTooLarge: the declared or served size is above the limit.
	ErrTooLarge = errors.New("file too large")
	// ErrSizeMismatch: the server serves a file of another size than the
	// one declared.
	ErrSizeMismatch = errors.New("size does not match")
)

// HTTPStatusError is a response status that retrying will not change
// (404 Not Found, 403 Forbidden, ...).
type HTTPStatusError struct {
	URL    string
	Status string // as in the response, "404 Not Found"
	Code   int
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("GET %s: %s", e.URL, e.Status)
}

// DownloadError is a Download that gave up. Err is the last attempt's
// error (or the reason it stopped: [ErrTooLarge], [ErrSizeMismatch], an
// [*HTTPStatusError], context.DeadlineExceeded for the time bound).
type DownloadError struct {
	URL      string
	Path     string // the cache file, which keeps what was received
	Offset   int64  // bytes in the cache file when it gave up
	Attempts int
	Err      error
}

func (e *DownloadError) Error() string {
	return fmt.Sprintf("transport: download %s to %s: gave up at byte %d after %d attempts: %v", e.URL, e.Path, e.Offset, e.Attempts, e.Err)
}

func (e *DownloadError) Unwrap() error { return e.Err }

// downloadConfig holds what the DownloadOptions set.
type downloadConfig struct {
	client     *http.Client
	header     http.Header
	maxTime    time.Duration
	idle       time.Duration
	maxSize    int64
	minBackoff time.Duration
	maxBackoff time.Duration
	log        *slog.Logger
	progress   func(done, total int64)
}

// DownloadOption configures [Download].
type DownloadOption func(*downloadConfig)

// WithHTTPClient sets the HTTP client (for TLS settings or a proxy); the
// default is a client with no overall timeout, since Download bounds
// each attempt itself.
func WithHTTPClient(c *http.Client) DownloadOption {
	return func(d *downloadConfig) { d.client = c }
}

// WithHeader adds a request header to every attempt, such as
// "Authorization: Bearer <token>" for an IoTDA package.
func WithHeader(key, value string) DownloadOption {
	return func(d *downloadConfig) { d.header.Add(key, value) }
}

// WithMaxTime bounds the whole download, every attempt and backoff
// included (default [DefaultDownloadMaxTime]).
func WithMaxTime(t time.Duration) DownloadOption {
	return func(d *downloadConfig) { d.maxTime = t }
}

// WithIdleTimeout sets how long a response may stall before the attempt
// is dropped (default [DefaultDownloadIdle]).
func WithIdleTimeout(t time.Duration) DownloadOption {
	return func(d *downloadConfig) { d.idle = t }
}

// WithMaxSize sets the largest file accepted (default
// [DefaultDownloadMaxSize]).
func WithMaxSize(n int64) DownloadOption {
	return func(d *downloadConfig) { d.maxSize = n }
}

// WithBackoff sets the delay before the first retry and the most it grows
// to; each delay is the doubled one before, with jitter (default 500 ms and
// 30 s). The delay starts small again after an attempt that made progress.
func WithBackoff(first, max time.Duration) DownloadOption {
	return func(d *downloadConfig) { d.minBackoff, d.maxBackoff = first, max }
}

// WithDownloadLogger logs each retry and restart at info level.
func WithDownloadLogger(l *slog.Logger) DownloadOption {
	return func(d *downloadConfig) { d.log = l }
}

// WithProgress calls f as bytes arrive, with the bytes in the cache file
// and the total (-1 while unknown). It is called from Download's
// goroutine and should return quickly.
func WithProgress(f func(done, total int64)) DownloadOption {
	return func(d *downloadConfig) { d.progress = f }
}

// downloadMeta is what a cache file's sidecar remembers about the file
// being downloaded, so that a later Download resumes only the same file.
type downloadMeta struct {
	URL  string `json:"url"`
	ETag string `json:"etag,omitempty"`
	Size int64  `json:"size"`
}

// metaPath returns the sidecar of a cache file.
func metaPath(path string) string { return path + ".meta" }

// RemoveDownload removes a cache file and its sidecar.
func RemoveDownload(path string) error {
	err := os.Remove(path)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if e := os.Remove(metaPath(path)); e != nil && !errors.Is(e, os.ErrNotExist) && err == nil {
		err = e
	}
	return err
}

// Download fetches url (http or https) into the cache file at path and
// returns its size. size is the size the caller expects, or -1 if it does
// not know.
//
// It resumes: the bytes already in path are kept when the sidecar file
// path+".meta" says they are the beginning of the same file (same URL and
// size) and the server confirms it with a 206 to a Range request carrying
// If-Range with the remembered ETag. A 200 instead starts over from byte
// 0. Each 206 must carry one well-formed Content-Range for the requested
// offset or earlier (an earlier start skips the bytes already held), the
// file's total size, and a Content-Length equal to the range's length when
// it has one; the ETag must not change. A response that breaks these rules
// is dropped and retried; after two such responses in a row Download asks
// for the whole file without Range.
//
// A dropped connection, a stalled response, a 5xx, a 408 or 429 and a
// refused connection are retried after an exponential backoff with jitter,
// until the time bound (WithMaxTime) or ctx ends it. Other statuses
// (404, 403, ...) end it at once with an [*HTTPStatusError]. A declared or
// served size above the limit ends it with [ErrTooLarge], a served size
// other than size with [ErrSizeMismatch]. On failure the error is a
// [*DownloadError], and path keeps what was received, for the next
// Download to resume.
//
// Download checks no digest: the caller verifies the finished file.
func Download(ctx context.Context, url, path string, size int64, opts ...DownloadOption) (int64, error) {
	cfg := downloadConfig{
		client:     &http.Client{},
		header:     http.Header{},
		maxTime:    DefaultDownloadMaxTime,
		idle:       DefaultDownloadIdle,
		maxSize:    DefaultDownloadMaxSize,
		minBackoff: 500 * time.Millisecond,
		maxBackoff: 30 * time.Second,
		log:        slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}
	d := &download{cfg: cfg, url: url, path: path, size: size}
	n, err := d.run(ctx)
	if err != nil {
		return n, &DownloadError{URL: url, Path: path, Offset: n, Attempts: d.attempts, Err: err}
	}
	return n, nil
}

// download is one Download in progress.
type download struct {
	cfg      downloadConfig
	url      string
	path     string
	size     int64 // as declared, -1 unknown
	attempts int

	f    *os.File
	meta downloadMeta
	have int64 // bytes in f that belong to the file
	bad  int   // malformed responses in a row
}

func (d *download) run(ctx context.Context) (int64, error) {
	if d.size > d.cfg.maxSize {
		return 0, fmt.Errorf("declared size %d bytes: %w (at most %d)", d.size, ErrTooLarge, d.cfg.maxSize)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.maxTime)
	defer cancel()
	if err := d.open(); err != nil {
		return 0, err
	}
	defer d.f.Close()

	backoff := d.cfg.minBackoff
	var last error
	gaveUp := func() error {
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			return fmt.Errorf("not complete within %v (WithMaxTime): %w; last error: %v", d.cfg.maxTime, context.DeadlineExceeded, last)
		}
		return fmt.Errorf("%w; last error: %v", context.Cause(ctx), last)
	}
	for {
		before := d.have
		d.attempts++
		done, err := d.attempt(ctx)
		switch {
		case done:
			return d.have, d.f.Sync()
		case err != nil:
			last = err
		case d.have == before:
			err = errors.New("a response with no bytes")
			last = err
		}
		var permanent *permanentError
		if errors.As(err, &permanent) {
			return d.have, permanent.err
		}
		if ctx.Err() != nil {
			return d.have, gaveUp()
		}
		if d.have > before {
			backoff = d.cfg.minBackoff
		}
		if err == nil && d.have > before {
			continue // a short range, complete: the next one at once
		}
		wait := jitter(backoff)
		d.cfg.log.Info("download interrupted; retrying", "url", d.url, "offset", d.have, "attempt", d.attempts, "in", wait.Round(time.Millisecond), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return d.have, gaveUp()
		case <-t.C:
		}
		backoff = min(backoff*2, d.cfg.maxBackoff)
	}
}

// jitter returns a delay between half of d and d.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// permanentError ends a download without retries.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

// open opens the cache file and decides how much of it to keep.
func (d *download) open() error {
	f, err := os.OpenFile(d.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open cache file: %w", err)
	}
	d.f = f
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cache file: %w", err)
	}
	var m downloadMeta
	data, err := os.ReadFile(metaPath(d.path))
	if err == nil && json.Unmarshal(data, &m) == nil && m.URL == d.url && (d.size < 0 || m.Size == d.size) && fi.Size() <= m.Size {
		d.meta, d.have = m, fi.Size()
		if d.have > 0 {
			d.cfg.log.Info("download resumes from the cache file", "url", d.url, "path", d.path, "offset", d.have)
		}
		return nil
	}
	d.meta = downloadMeta{URL: d.url, Size: -1}
	return d.restart()
}

// restart throws away what the cache file holds.
func (d *download) restart() error {
	d.have = 0
	if err := d.f.Truncate(0); err != nil {
		return fmt.Errorf("cache file: %w", err)
	}
	return nil
}

// saveMeta remembers the file's identity once a response gave it.
func (d *download) saveMeta(etag string, total int64) error {
	m := downloadMeta{URL: d.url, ETag: etag, Size: total}
	if m == d.meta {
		return nil
	}
	d.meta = m
	data, _ := json.Marshal(m)
	if err := atomicfile.WriteFile(metaPath(d.path), data, 0o644); err != nil {
		return fmt.Errorf("cache file sidecar: %w", err)
	}
	return nil
}
