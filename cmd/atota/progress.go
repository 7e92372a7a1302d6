package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// progressBar shows how far a transfer has come: a bar redrawn in place on
// a terminal, a plain line every tenth otherwise (logs, CI).
type progressBar struct {
	w     io.Writer
	tty   bool
	start time.Time
	last  time.Time
	step  int64 // last tenth printed, plain mode
	label string
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progressBar{w: w, tty: tty, step: -1}
}

// update shows done of total bytes for label.
func (p *progressBar) update(label string, done, total int64) {
	now := time.Now()
	if label != p.label {
		p.finish()
		p.label, p.start, p.step = label, now, -1
	}
	if total <= 0 {
		return
	}
	if !p.tty {
		if tenth := done * 10 / total; tenth > p.step {
			p.step = tenth
			fmt.Fprintf(p.w, "%s: %3d%%  %s of %s  %s\n", label, done*100/total, sizeOf(done), sizeOf(total), p.rate(done, now))
		}
		return
	}
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	const width = 30
	fill := int(done * width / total)
	bar := strings.Repeat("█", fill) + strings.Repeat("░", width-fill)
	fmt.Fprintf(p.w, "\r%s [%s] %3d%%  %s/%s  %s\x1b[K", label, bar, done*100/total, sizeOf(done), sizeOf(total), p.rate(done, now))
	p.drawn = true
}

func (p *progressBar) rate(done int64, now time.Time) string {
	d := now.Sub(p.start).Seconds()
	if d <= 0 {
		return ""
	}
	return sizeOf(int64(float64(done)/d)) + "/s"
}

// finish ends the bar's line.
func (p *progressBar) finish() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
	p.drawn = false
}

// sizeOf formats a byte count for people.
func sizeOf(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
