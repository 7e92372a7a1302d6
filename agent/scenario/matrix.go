package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Matrix is a scenario run over many seeds.
type Matrix struct {
	Scenario string
	File     string
	Results  []*Result // in seed order
}

// RunMatrix runs sc once per seed, up to parallel runs at a time (0:
// GOMAXPROCS), each in its own work directory. opts.OnEvent is not
// called; progress, when set, is called after each run. It stops early
// only when ctx ends or a run cannot be made at all (the error).
func RunMatrix(ctx context.Context, sc *Scenario, seeds []uint64, parallel int, opts Options, progress func(*Result)) (*Matrix, error) {
	if err := sc.unsupported(); err != nil {
		return nil, err
	}
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	opts.OnEvent = nil
	base := opts.WorkDir
	m := &Matrix{Scenario: sc.Name, File: sc.File, Results: make([]*Result, len(seeds))}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := make(chan int)
	for range min(parallel, len(seeds)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				o := opts
				if base != "" {
					o.WorkDir = fmt.Sprintf("%s/seed-%d", base, seeds[i])
				}
				res, err := Run(ctx, sc, seeds[i], o)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				m.Results[i] = res
				if res != nil && progress != nil {
					progress(res)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range seeds {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	m.Results = slices.DeleteFunc(m.Results, func(r *Result) bool { return r == nil })
	if firstErr != nil {
		return m, firstErr
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return m, err
	}
	return m, nil
}

// MatrixCounts are the figures of a matrix.
type MatrixCounts struct {
	Runs    int
	Updated int // successes
	Refused int
	Failed  int
	NoPlan  int
	// Corrupt counts runs with an image reported good that is not:
	// must be 0.
	Corrupt int
	Passed  int // runs whose expectations all held
	Mean    time.Duration
	Worst   time.Duration
	// Reread is the package bytes read again over all runs, as a
	// fraction of the package sizes downloaded.
	Reread float64
}

// Counts returns the matrix's figures.
func (m *Matrix) Counts() MatrixCounts {
	var c MatrixCounts
	var total time.Duration
	var reread, size int64
	for _, r := range m.Results {
		c.Runs++
		switch r.Outcome {
		case Updated:
			c.Updated++
		case Refused:
			c.Refused++
		case NoPlan:
			c.NoPlan++
		default:
			c.Failed++
		}
		if len(r.Corrupt) > 0 {
			c.Corrupt++
		}
		if r.Passed() {
			c.Passed++
		}
		total += r.Duration
		c.Worst = max(c.Worst, r.Duration)
		reread += r.Reread
		size += r.PackageBytes
	}
	if c.Runs > 0 {
		c.Mean = total / time.Duration(c.Runs)
	}
	if size > 0 {
		c.Reread = float64(reread) / float64(size)
	}
	return c
}

// Passed reports whether every run passed.
func (m *Matrix) Passed() bool {
	c := m.Counts()
	return c.Runs > 0 && c.Passed == c.Runs && c.Corrupt == 0
}

// WriteTable writes the matrix's figures as a table, and the seeds that
// failed with the command that replays each.
func (m *Matrix) WriteTable(w io.Writer) error {
	c := m.Counts()
	var b strings.Builder
	seeds := ""
	if n := len(m.Results); n > 0 {
		seeds = fmt.Sprintf(", seeds %d to %d", m.Results[0].Seed, m.Results[n-1].Seed)
	}
	fmt.Fprintf(&b, "matrix %s%s\n", m.Scenario, seeds)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  runs\tupdated\trefused\tfailed\tno plan\tcorrupt reported good\tpassed\tmean\tworst\treread/size")
	fmt.Fprintf(tw, "  %d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%.3f\n", c.Runs, c.Updated, c.Refused, c.Failed, c.NoPlan, c.Corrupt, c.Passed,
		seconds(c.Mean), seconds(c.Worst), c.Reread)
	tw.Flush()
	var failed []string
	for _, r := range m.Results {
		if !r.Passed() {
			failed = append(failed, fmt.Sprintf("  seed %d: %s\n    replay: atota run %s --seed %d\n", r.Seed, strings.Join(r.Failures(), "; "), cmp(r.File, r.Scenario), r.Seed))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "%d of %d runs failed:\n%s", len(failed), c.Runs, strings.Join(failed, ""))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
