package module

import (
	"maps"
	"sync"
)

// notifier calls an Observer from a goroutine of its own, in the order the
// module queued the calls, so that the module never calls out with a lock
// held and a slow observer never holds up the MCU. With no Observer it
// drops everything and starts no goroutine.
type notifier struct {
	o Observer

	mu     sync.Mutex
	cond   sync.Cond
	queue  []func(Observer)
	closed bool
	done   chan struct{}
}

func newNotifier(o Observer) *notifier {
	n := &notifier{o: o, done: make(chan struct{})}
	n.cond.L = &n.mu
	if o == nil {
		close(n.done)
		return n
	}
	go n.run()
	return n
}

// versions queues a VersionsReported call with a copy of v.
func (n *notifier) versions(v map[string]string) {
	v = maps.Clone(v)
	n.push(func(o Observer) { o.VersionsReported(v) })
}

// progress queues a TaskProgress call.
func (n *notifier) progress(p TaskProgress) {
	n.push(func(o Observer) { o.TaskProgress(p) })
}

func (n *notifier) push(f func(Observer)) {
	if n.o == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.queue = append(n.queue, f)
	n.cond.Signal()
}

func (n *notifier) run() {
	defer close(n.done)
	for {
		n.mu.Lock()
		for len(n.queue) == 0 && !n.closed {
			n.cond.Wait()
		}
		q := n.queue
		n.queue = nil
		closed := n.closed
		n.mu.Unlock()
		for _, f := range q {
			f(n.o)
		}
		if closed {
			return
		}
	}
}

// close delivers what is queued, stops the goroutine and waits for it.
func (n *notifier) close() {
	n.mu.Lock()
	n.closed = true
	n.cond.Signal()
	n.mu.Unlock()
	<-n.done
}
