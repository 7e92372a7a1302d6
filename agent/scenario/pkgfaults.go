package scenario

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// packageFaults wraps the package server of a run's platform
// (platform.Config.WrapPackages): it counts the package requests and the
// bytes sent, and applies the download_cut and download_rate faults in
// force.
type packageFaults struct {
	seed uint64
	stop <-chan struct{} // closed when the run ends
	emit func(Event)

	mu    sync.Mutex
	cuts  []*pendingCut // download_cut faults started, with cuts left
	rates []*Fault      // download_rate faults in force
	drawn uint64        // cut points drawn from the seed so far
	st    PlatformResult
}

// pendingCut is a download_cut fault that has started.
type pendingCut struct {
	f    *Fault
	left int // responses still to cut
}

// cutStream keeps the cut points drawn from the seed apart from the
// other draws of a run.
const cutStream = 0xc0de << 32

func newPackageFaults(seed uint64, stop <-chan struct{}, emit func(Event)) *packageFaults {
	return &packageFaults{seed: seed, stop: stop, emit: emit}
}

// startCut starts a download_cut fault: the next f.Count responses that
// reach its byte are cut there.
func (pf *packageFaults) startCut(f *Fault) {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	pf.cuts = append(pf.cuts, &pendingCut{f: f, left: f.Count})
}

// setRate puts a download_rate fault in force, or ends it.
func (pf *packageFaults) setRate(f *Fault, on bool) {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	pf.rates = slices.DeleteFunc(pf.rates, func(g *Fault) bool { return g == f })
	if on {
		pf.rates = append(pf.rates, f)
	}
}

// rate returns the lowest rate in force, in bytes per second; 0 for
// none.
func (pf *packageFaults) rate() int {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	rate := 0
	for _, f := range pf.rates {
		if rate == 0 || f.BytesPerSecond < rate {
			rate = f.BytesPerSecond
		}
	}
	return rate
}

// takeCut returns the byte of a response of length bytes (-1: unknown),
// written of them sent, at which a started download_cut falls, and
// counts the cut as taken; -1 when none falls inside it. A cut that
// started past its byte falls at once.
func (pf *packageFaults) takeCut(written, length int64) int64 {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	for _, c := range pf.cuts {
		if c.left == 0 {
			continue
		}
		at := int64(c.f.After)
		if at == 0 {
			if length < 2 {
				continue
			}
			rng := rand.New(rand.NewPCG(pf.seed, cutStream+pf.drawn))
			pf.drawn++
			at = 1 + rng.Int64N(length-1)
		}
		if length >= 0 && at >= length {
			continue // the response ends first: the next one is cut
		}
		c.left--
		return max(at, written)
	}
	return -1
}

// sent counts n bytes sent, paced at rate (0: not paced).
func (pf *packageFaults) sent(n int, rate int) {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	pf.st.Sent += int64(n)
	if rate > 0 {
		pf.st.Paced += int64(n)
		pf.st.PacedTime += paceTime(n, rate)
	}
}

// paceTime is how long n bytes take at rate bytes per second.
func paceTime(n, rate int) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(rate)
}

// paceChunk is how many bytes go out at once at rate: a tenth of a
// second's worth, at least one.
func paceChunk(rate int) int { return max(rate/10, 1) }

// stats returns the package server's counts.
func (pf *packageFaults) stats() PlatformResult {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	return pf.st
}

// errCut is what a cut response's Write returns: the handler stops, and
// the server, short of the Content-Length it declared, drops the
// connection.
var errCut = errors.New("scenario: download_cut: response cut")

// errStopped ends a paced response when the run or the request ends.
var errStopped = errors.New("scenario: download_rate: the run or the request ended")

// wrap wraps the package handler h.
func (pf *packageFaults) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fw := &faultWriter{ResponseWriter: w, pf: pf, ctx: req.Context(), length: -1, cutAt: -1}
		h.ServeHTTP(fw, req)
		pf.done(req, fw)
	})
}

// done counts a package request answered and reports it.
func (pf *packageFaults) done(req *http.Request, fw *faultWriter) {
	from := rangeStart(req.Header.Get("Range"))
	pf.mu.Lock()
	pf.st.Requests++
	if from > 0 {
		pf.st.Resumed++
	}
	if fw.cut {
		pf.st.Cuts++
	}
	pf.mu.Unlock()
	text := req.Method + " " + req.URL.Path
	if r := req.Header.Get("Range"); r != "" {
		text += ", Range " + r
	}
	text += fmt.Sprintf(": %d, %d bytes sent", cmpInt(fw.status, http.StatusOK), fw.written)
	if fw.cut {
		pf.emit(Event{Kind: "platform", Name: "platform:download_cut",
			Text: fmt.Sprintf("the package server dropped the connection after %d bytes of its response (byte %d of the package)", fw.written, max(from, 0)+fw.written)})
		text += ", cut"
	}
	pf.emit(Event{Kind: "platform", Name: "platform:request", Text: text})
}

func cmpInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// rangeStart returns the first byte of a "bytes=N-" Range header, or -1.
func rangeStart(h string) int64 {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return -1
	}
	first, _, ok := strings.Cut(spec, "-")
	n, err := strconv.ParseInt(first, 10, 64)
	if !ok || err != nil {
		return -1
	}
	return n
}

// faultWriter is the ResponseWriter of one package response: it paces
// the body at the rate in force and cuts it where a download_cut falls.
type faultWriter struct {
	http.ResponseWriter
	pf  *packageFaults
	ctx context.Context // the request's

	status  int
	length  int64 // the declared Content-Length, -1 unknown
	written int64
	cutAt   int64 // the byte of the response the cut falls at; -1 none yet
	cut     bool
	started bool
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (w *faultWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WriteHeader records the status.
func (w *faultWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write sends p, in chunks at the rate in force, up to the byte where a
// cut falls.
func (w *faultWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		if n, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64); err == nil {
			w.length = n
		}
	}
	var n int
	for {
		if w.cut {
			return n, errCut
		}
		if w.cutAt < 0 {
			w.cutAt = w.pf.takeCut(w.written, w.length)
		}
		if w.cutAt >= 0 && w.written >= w.cutAt {
			w.cut = true
			return n, errCut
		}
		if len(p) == 0 {
			return n, nil
		}
		chunk := len(p)
		if w.cutAt >= 0 {
			chunk = min(chunk, int(w.cutAt-w.written))
		}
		rate := w.pf.rate()
		if rate > 0 {
			chunk = min(chunk, paceChunk(rate))
		}
		// At a rate, each chunk goes out after the time it takes.
		if rate > 0 && !w.pause(paceTime(chunk, rate)) {
			return n, errStopped
		}
		m, err := w.ResponseWriter.Write(p[:chunk])
		w.written += int64(m)
		n += m
		p = p[m:]
		w.pf.sent(m, rate)
		if err != nil {
			return n, err
		}
		if rate > 0 {
			http.NewResponseController(w.ResponseWriter).Flush()
		}
	}
}

// pause waits d, or less when the request or the run ends.
func (w *faultWriter) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.ctx.Done():
	case <-w.pf.stop:
	}
	return false
}
