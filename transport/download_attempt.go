package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxBadResponses is how many malformed 206 responses in a row make
// Download ask for the whole file without Range.
const maxBadResponses = 2

// attempt sends one request and stores what its response brings. It
// reports true when the file is complete.
func (d *download) attempt(ctx context.Context) (bool, error) {
	if d.meta.Size >= 0 && d.have == d.meta.Size && d.have > 0 {
		return true, nil // complete before a restart
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return false, &permanentError{fmt.Errorf("URL %q: %w", d.url, err)}
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return false, &permanentError{fmt.Errorf("URL %q: scheme %q: only http and https can be downloaded", d.url, req.URL.Scheme)}
	}
	for k, vs := range d.cfg.header {
		req.Header[k] = vs
	}
	ranged := d.bad < maxBadResponses // else the server's ranges are broken: whole files from now on
	if ranged {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", d.have))
		if d.have > 0 && d.meta.ETag != "" {
			req.Header.Set("If-Range", d.meta.ETag)
		}
	} else if d.have > 0 {
		if err := d.restart(); err != nil {
			return false, &permanentError{err}
		}
	}
	// A stalled response is dropped: the timer cancels the request
	// unless bytes keep coming.
	stall := errors.New("no data for " + d.cfg.idle.String())
	timer := time.AfterFunc(d.cfg.idle, func() { cancel(stall) })
	defer timer.Stop()

	resp, err := d.cfg.client.Do(req)
	if err != nil {
		return false, d.cause(ctx, err)
	}
	defer resp.Body.Close()
	start, length, err := d.check(resp, ranged)
	if err != nil {
		return false, err
	}
	if err := d.f.Truncate(start); err != nil {
		return false, &permanentError{fmt.Errorf("cache file: %w", err)}
	}
	d.have = start
	d.progress()
	if err := d.store(resp.Body, length, timer); err != nil {
		return false, d.cause(ctx, err)
	}
	if length >= 0 && d.have < start+length {
		return false, fmt.Errorf("response broke at byte %d of bytes %d-%d", d.have, start, start+length-1)
	}
	// A response that ends before the file does (a server that caps
	// ranges) is no error: the next request goes on at once.
	return d.have == d.meta.Size, nil
}

// cause returns the reason of a failed read: the stall timer's, or err.
func (d *download) cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) && !errors.Is(c, context.DeadlineExceeded) {
		return c
	}
	return err
}

// check validates a response and returns the offset its body starts at
// (already discounting the bytes of an early range it will skip) and how
// many bytes it brings (-1 until the end of the body).
func (d *download) check(resp *http.Response, ranged bool) (int64, int64, error) {
	etag := resp.Header.Get("ETag")
	switch resp.StatusCode {
	case http.StatusOK:
		total := resp.ContentLength
		if total < 0 {
			total = d.size // unknown: trust the declaration, if any
		}
		if err := d.checkTotal(total); err != nil {
			return 0, 0, err
		}
		if d.have > 0 {
			d.cfg.log.Info("server sent the whole file: starting over", "url", d.url, "had", d.have)
		}
		if err := d.saveMeta(etag, total); err != nil {
			return 0, 0, &permanentError{err}
		}
		return 0, total, nil
	case http.StatusPartialContent:
		if !ranged {
			return 0, 0, fmt.Errorf("206 Partial Content to a request without Range")
		}
		start, length, err := d.checkPartial(resp, etag)
		if err != nil {
			d.bad++
			return 0, 0, err
		}
		d.bad = 0
		return start, length, nil
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return 0, 0, fmt.Errorf("GET %s: %s", d.url, resp.Status)
	case http.StatusRequestedRangeNotSatisfiable:
		// The file shrank or changed: the whole file, next time.
		d.bad = maxBadResponses
		return 0, 0, fmt.Errorf("GET %s: %s for bytes %d-", d.url, resp.Status, d.have)
	}
	if resp.StatusCode >= 500 {
		return 0, 0, fmt.Errorf("GET %s: %s", d.url, resp.Status)
	}
	return 0, 0, &permanentError{&HTTPStatusError{URL: d.url, Status: resp.Status, Code: resp.StatusCode}}
}

// checkPartial validates a 206 response.
func (d *download) checkPartial(resp *http.Response, etag string) (int64, int64, error) {
	crs := resp.Header.Values("Content-Range")
	if len(crs) != 1 {
		return 0, 0, fmt.Errorf("206 with %d Content-Range headers, want 1", len(crs))
	}
	first, last, total, err := ParseContentRange(crs[0])
	if err != nil {
		return 0, 0, err
	}
	if total < 0 {
		total = d.size
	}
	if err := d.checkTotal(total); err != nil {
		return 0, 0, err
	}
	if d.meta.Size >= 0 && total != d.meta.Size {
		return 0, 0, fmt.Errorf("Content-Range total %d, the file was %d bytes: %w", total, d.meta.Size, ErrSizeMismatch)
	}
	if d.meta.ETag != "" && etag != "" && etag != d.meta.ETag {
		return 0, 0, fmt.Errorf("ETag changed from %s to %s in a 206", d.meta.ETag, etag)
	}
	if first > d.have {
		return 0, 0, fmt.Errorf("Content-Range %q starts after byte %d, the first one missing", crs[0], d.have)
	}
	if last < d.have {
		return 0, 0, fmt.Errorf("Content-Range %q ends before byte %d, the first one missing", crs[0], d.have)
	}
	length := last - first + 1
	if cl := resp.ContentLength; cl >= 0 && cl != length {
		return 0, 0, fmt.Errorf("Content-Length %d for Content-Range %q (%d bytes)", cl, crs[0], length)
	}
	if first < d.have {
		// An early start: skip what is already held.
		skip := d.have - first
		if _, err := io.CopyN(io.Discard, resp.Body, skip); err != nil {
			return 0, 0, fmt.Errorf("skipping %d bytes of an early range: %w", skip, err)
		}
		first, length = d.have, length-skip
	}
	if err := d.saveMeta(etag, total); err != nil {
		return 0, 0, &permanentError{err}
	}
	return first, length, nil
}

// checkTotal checks a served size against the declaration and the limit.
func (d *download) checkTotal(total int64) error {
	switch {
	case total > d.cfg.maxSize:
		return &permanentError{fmt.Errorf("served size %d bytes: %w (at most %d)", total, ErrTooLarge, d.cfg.maxSize)}
	case d.size >= 0 && total >= 0 && total != d.size:
		return &permanentError{fmt.Errorf("served size %d bytes, declared %d: %w", total, d.size, ErrSizeMismatch)}
	case total < 0:
		return &permanentError{fmt.Errorf("the server gives no size (no Content-Length) and none was declared")}
	}
	return nil
}

// store copies up to length bytes of body (all of it for -1) to the end
// of the cache file, resetting the stall timer as bytes arrive.
func (d *download) store(body io.Reader, length int64, timer *time.Timer) error {
	if length >= 0 {
		body = io.LimitReader(body, length)
	}
	buf := make([]byte, 256<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			timer.Reset(d.cfg.idle)
			if d.have+int64(n) > d.meta.Size {
				return &permanentError{fmt.Errorf("the server sent more than %d bytes: %w", d.meta.Size, ErrSizeMismatch)}
			}
			if _, werr := d.f.WriteAt(buf[:n], d.have); werr != nil {
				return &permanentError{fmt.Errorf("cache file: %w", werr)}
			}
			d.have += int64(n)
			d.progress()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (d *download) progress() {
	if d.cfg.progress != nil {
		d.cfg.progress(d.have, d.meta.Size)
	}
}

// ParseContentRange parses a Content-Range header value of a 206 response,
// "bytes FIRST-LAST/TOTAL" with TOTAL a number or "*" (returned as -1).
// It refuses anything else: other units, a missing or reversed range, a
// range beyond TOTAL, several ranges.
func ParseContentRange(s string) (first, last, total int64, err error) {
	bad := func(why string) (int64, int64, int64, error) {
		return 0, 0, 0, fmt.Errorf("transport: Content-Range %q: %s", s, why)
	}
	rest, ok := cutPrefixFold(s, "bytes ")
	if !ok {
		return bad(`want "bytes FIRST-LAST/TOTAL"`)
	}
	rng, tot, ok := cut(rest, '/')
	if !ok {
		return bad("no /TOTAL")
	}
	a, b, ok := cut(rng, '-')
	if !ok {
		return bad("no FIRST-LAST")
	}
	if first, err = parseUint(a); err != nil {
		return bad("FIRST is not a number")
	}
	if last, err = parseUint(b); err != nil {
		return bad("LAST is not a number")
	}
	if last < first {
		return bad("LAST before FIRST")
	}
	total = -1
	if tot != "*" {
		if total, err = parseUint(tot); err != nil {
			return bad("TOTAL is not a number")
		}
		if last >= total {
			return bad("range beyond TOTAL")
		}
	}
	return first, last, total, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) {
		return s, false
	}
	for i := range len(prefix) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return s, false
		}
	}
	return s[len(prefix):], true
}

func cut(s string, sep byte) (string, string, bool) {
	for i := range len(s) {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// parseUint parses a decimal number of digits only (no sign, no spaces).
func parseUint(s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, strconv.ErrSyntax
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
