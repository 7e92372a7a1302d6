package module

import (
	"sync"
	"time"
)

// event is one unsolicited result code due at a time; apply, when set,
// changes the module's state just before the line goes out, so that a
// query never sees a state the MCU was not told about yet.
type event struct {
	due   time.Time
	line  string
	apply func()
}

// emitter sends events in order, each no earlier than its due time. Real
// modules answer a command first and raise the events it causes tens to
// hundreds of milliseconds later (spec §13.7); MCU firmware depends on
// that gap. The emitter owns one goroutine, stopped by close.
type emitter struct {
	notify func(line string)

	mu    sync.Mutex
	queue []event
	last  time.Time // due time of the last event queued
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

func newEmitter(notify func(string)) *emitter {
	e := &emitter{notify: notify, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go e.run()
	return e
}

// after queues lines: the first delay after now (and never before an
// event queued earlier), each further one gap after the one before.
func (e *emitter) after(delay, gap time.Duration, evs ...event) {
	e.mu.Lock()
	due := time.Now().Add(delay)
	for _, ev := range evs {
		if due.Before(e.last) {
			due = e.last
		}
		ev.due = due
		e.queue = append(e.queue, ev)
		e.last = due
		due = due.Add(gap)
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// cancel drops every queued event.
func (e *emitter) cancel() {
	e.mu.Lock()
	e.queue = nil
	e.mu.Unlock()
}

func (e *emitter) run() {
	defer close(e.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		e.mu.Lock()
		var wait time.Duration = -1
		var ev *event
		if len(e.queue) > 0 {
			if d := time.Until(e.queue[0].due); d > 0 {
				wait = d
			} else {
				ev = &e.queue[0]
				e.queue = e.queue[1:]
			}
		}
		e.mu.Unlock()
		if ev != nil {
			if ev.apply != nil {
				ev.apply()
			}
			if ev.line != "" {
				e.notify(ev.line)
			}
			continue
		}
		var tc <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-tc:
		case <-e.wake:
			timer.Stop()
		case <-e.stop:
			timer.Stop()
			return
		}
	}
}

// close stops the emitter; queued events are dropped.
func (e *emitter) close() {
	close(e.stop)
	<-e.done
}
