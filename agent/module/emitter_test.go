package module

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestEmitterOrder checks that events go out in the order queued, none
// before its time nor before one queued earlier, and that cancel drops
// only its kind.
func TestEmitterOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type sent struct {
			line string
			at   time.Duration
		}
		var mu, gotMu sync.Mutex
		var got []sent
		t0 := time.Now()
		e := newEmitter(&mu, func(l string) {
			gotMu.Lock()
			got = append(got, sent{l, time.Since(t0)})
			gotMu.Unlock()
		})
		defer e.close()

		mu.Lock()
		e.after(100*time.Millisecond, 10*time.Millisecond, event{kind: kindReg, line: "r1"}, event{kind: kindReg, line: "r2"})
		e.after(0, 0, event{line: "a"}) // due now, but after r2
		e.after(time.Second, 0, event{kind: kindReg, line: "r3"}, event{line: "b"})
		mu.Unlock()
		time.Sleep(500 * time.Millisecond)
		mu.Lock()
		e.cancel(kindReg)               // drops r3
		e.after(0, 0, event{line: "c"}) // due now, but after b
		mu.Unlock()
		time.Sleep(2 * time.Second)

		want := []sent{{"r1", 100 * time.Millisecond}, {"r2", 110 * time.Millisecond}, {"a", 110 * time.Millisecond}, {"b", time.Second}, {"c", time.Second}}
		gotMu.Lock()
		defer gotMu.Unlock()
		if !slices.Equal(got, want) {
			t.Errorf("sent %v, want %v", got, want)
		}
	})
}

// TestEmitterClose checks that close drops queued events, may be called
// twice, and that apply runs with the lock held just before the line.
func TestEmitterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu, gotMu sync.Mutex
		var got []string
		applied := false
		e := newEmitter(&mu, func(l string) {
			gotMu.Lock()
			got = append(got, l)
			gotMu.Unlock()
		})
		mu.Lock()
		e.after(time.Millisecond, 0, event{line: "x", apply: func() {
			if mu.TryLock() {
				t.Error("apply ran without the lock held")
				mu.Unlock()
			}
			applied = true
		}})
		e.after(time.Hour, 0, event{line: "late"})
		mu.Unlock()
		time.Sleep(time.Second)
		e.close()
		e.close()
		time.Sleep(2 * time.Hour)
		mu.Lock()
		defer mu.Unlock()
		gotMu.Lock()
		defer gotMu.Unlock()
		if !applied || !slices.Equal(got, []string{"x"}) {
			t.Errorf("applied %v, sent %q; want applied and [x]", applied, got)
		}
	})
}
