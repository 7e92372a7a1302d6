package atcmd

import (
	"context"
	"strings"
	"sync"
)

// Mux is a Handler that dispatches commands by name, like http.ServeMux
// dispatches requests by path. Names are matched without regard to case:
// "" is a bare AT, "I" is ATI, "+CSQ" is AT+CSQ.
type Mux struct {
	mu       sync.RWMutex
	handlers map[string]Handler
	fallback Handler
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{handlers: make(map[string]Handler)} }

// Handle registers h for the command name. A later registration for the
// same name replaces the earlier one.
func (m *Mux) Handle(name string, h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handlers[strings.ToUpper(name)] = h
}

// HandleFunc registers f for the command name.
func (m *Mux) HandleFunc(name string, f func(ctx context.Context, w ResponseWriter, r *Request) error) {
	m.Handle(name, HandlerFunc(f))
}

// Fallback sets the handler for commands no name matches; without one they
// get ErrUnknownCommand, which the Server answers with ERROR.
func (m *Mux) Fallback(h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fallback = h
}

// Handler returns the handler registered for name, or nil.
func (m *Mux) Handler(name string) Handler {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.handlers[strings.ToUpper(name)]
}

// ServeAT dispatches r to the handler registered for its name.
func (m *Mux) ServeAT(ctx context.Context, w ResponseWriter, r *Request) error {
	m.mu.RLock()
	h, ok := m.handlers[strings.ToUpper(r.Name)]
	if !ok {
		h = m.fallback
	}
	m.mu.RUnlock()
	if h == nil {
		return ErrUnknownCommand
	}
	return h.ServeAT(ctx, w, r)
}
