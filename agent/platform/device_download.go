package platform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/transport"
)

// downloader downloads the packages of queued jobs, one job at a time,
// in the order they came.
func (d *Device) downloader() {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		var r *jobRecord
		for _, j := range d.st.Jobs {
			if j.Status == statusDownloading {
				r = j
				break
			}
		}
		var ctx context.Context
		if r != nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(d.ctx)
			d.dlCancel, d.dlKey = cancel, r.Key
		}
		d.mu.Unlock()
		if r == nil {
			select {
			case <-d.ctx.Done():
				return
			case <-d.fetch:
			}
			continue
		}
		err := d.downloadJob(ctx, r)
		d.mu.Lock()
		d.dlCancel()
		d.dlCancel, d.dlKey = nil, ""
		switch {
		case d.ctx.Err() != nil:
			// Closing: the job stays queued, the cache keeps what came.
			d.mu.Unlock()
			return
		case r.Status != statusDownloading:
			// Replaced while downloading.
		case err != nil:
			var je *JobError
			if !errors.As(err, &je) {
				je = &JobError{Job: r.Job.Name(), Step: StepDownload, Reason: err.Error()}
			}
			d.log.Error("platform job failed before the MCU heard of it", "job", r.Job.Name(), "field", je.Field, "err", je.Reason)
			d.report(r, je.Step, je.Desc())
			d.endJob(r, statusFailed)
		default:
			r.Status = statusReady
			d.log.Info("platform job ready: package downloaded and verified", "job", r.Job.Name())
			d.report(r, 50, "package downloaded and verified")
			if f := d.cfg.OnJobReady; f != nil {
				d.mu.Unlock()
				f(r.Job.Name())
				continue
			}
		}
		d.mu.Unlock()
	}
}

// downloadJob downloads and verifies every file of job r into its cache
// directory; the files stay there for the module to serve.
func (d *Device) downloadJob(ctx context.Context, r *jobRecord) error {
	dir := filepath.Join(d.cfg.CacheDir, "jobs", r.Dir)
	total := r.size()
	var before int64
	for i, f := range r.Job.Files {
		path := filepath.Join(dir, localName(i, f))
		opts := append([]transport.DownloadOption{
			transport.WithMaxSize(d.cfg.MaxSize),
			transport.WithDownloadLogger(d.log.With("job", r.Job.Name())),
			transport.WithProgress(d.progressFunc(r, before, total)),
		}, d.cfg.Download...)
		if f.Token != "" {
			opts = append(opts, transport.WithHeader("Authorization", "Bearer "+f.Token))
		}
		if err := mkdir(dir); err != nil {
			return err
		}
		if _, err := transport.Download(ctx, f.URL, path, f.Size, opts...); err != nil {
			field := "url"
			if errors.Is(err, transport.ErrSizeMismatch) || errors.Is(err, transport.ErrTooLarge) {
				field = "size"
			}
			if ctx.Err() == nil && (errors.Is(err, transport.ErrSizeMismatch) || errors.Is(err, transport.ErrTooLarge) || isPermanent(err)) {
				// What came cannot be resumed into the right file.
				transport.RemoveDownload(path)
			}
			d.log.Warn("platform job download failed", "job", r.Job.Name(), "err", err)
			reason := err.Error()
			if de := (*transport.DownloadError)(nil); errors.As(err, &de) {
				reason = fmt.Sprintf("%v (%d of %d bytes, %d attempts)", de.Err, de.Offset, f.Size, de.Attempts)
			}
			return &JobError{Job: r.Job.Name(), Field: fileField(r, i, field), Step: StepDownload, Reason: reason}
		}
		got, err := plan.DigestFile(path)
		if err != nil {
			return &JobError{Job: r.Job.Name(), Field: fileField(r, i, "url"), Step: StepDownload, Reason: err.Error()}
		}
		want := got.MD5
		if f.Algo == SHA256 {
			want = got.SHA256
		}
		if want != f.Digest {
			transport.RemoveDownload(path)
			return &JobError{Job: r.Job.Name(), Field: fileField(r, i, "sign"), Step: StepChecksum,
				Reason: fmt.Sprintf("the %s of the %d bytes downloaded is %s, the job says %s", f.Algo, got.Size, want, f.Digest)}
		}
		before += f.Size
	}
	return nil
}

// isPermanent reports a download error that a retry of the job would
// meet again from the same cache file (an HTTP status such as 404).
func isPermanent(err error) bool {
	var hse *transport.HTTPStatusError
	return errors.As(err, &hse)
}

func fileField(r *jobRecord, i int, field string) string {
	if len(r.Job.Files) == 1 {
		return field
	}
	return fmt.Sprintf("files[%d].%s", i, field)
}

// progressFunc reports the download on the scale 1 to 50, in steps of
// at least 5 and at most one a second.
func (d *Device) progressFunc(r *jobRecord, before, total int64) func(done, _ int64) {
	var last time.Time
	return func(done, _ int64) {
		if total <= 0 {
			return
		}
		step := 1 + int(49*float64(before+done)/float64(total))
		now := time.Now()
		d.mu.Lock()
		defer d.mu.Unlock()
		if step < 50 && (step < r.Step+5 || now.Sub(last) < time.Second) {
			return
		}
		last = now
		if step >= 50 {
			step = 49 // 50 is "downloaded and verified"
		}
		d.report(r, step, "downloading")
	}
}

// dirName is a job's cache directory name.
func dirName(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:8])
}
