package module

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
)

// Status is a snapshot of the module, as GET /v1/status returns it.
type Status struct {
	ProductKey    string            `json:"product_key"`
	DeviceKey     string            `json:"device_key"`
	ModuleVersion string            `json:"module_version"`
	RegMode       int               `json:"reg_mode"`  // AT+QIOTREG?
	RegState      int               `json:"reg_state"` // AT+QIOTSTATE?: 8 is ready
	Registered    bool              `json:"registered"`
	Booting       bool              `json:"booting"`
	Link          bool              `json:"link"` // Serve has a link up
	CSQ           int               `json:"csq"`
	Battery       int               `json:"battery"`
	Components    map[string]string `json:"components"` // AT+QIOTMCUVER
	Task          *TaskStatus       `json:"task"`
	BytesServed   int64             `json:"bytes_served"` // AT+QIOTOTARD payload bytes since the start
	Reads         int64             `json:"reads"`        // AT+QIOTOTARD answered with data
	EventsSent    int64             `json:"events_sent"`  // +QIOTEVT and other lines the module raised
	Failures      map[string]int    `json:"failures,omitempty"`
}

// TaskStatus is the OTA task in progress.
type TaskStatus struct {
	Plan       string   `json:"plan"`
	Phase      string   `json:"phase"` // offered, downloading, updating
	Components []string `json:"components"`
	Component  string   `json:"component"` // the current one
	PieceStart int64    `json:"piece_start"`
	PieceLen   int64    `json:"piece_len"`
	Done       int64    `json:"done"`  // bytes of the current component read so far
	Total      int64    `json:"total"` // its size
}

// Status returns a snapshot of the module.
func (m *Module) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Status{
		ProductKey:    m.st.ProductKey,
		DeviceKey:     m.st.deviceKey(),
		ModuleVersion: m.st.ModuleVersion,
		RegMode:       m.st.RegMode,
		RegState:      m.regState,
		Registered:    m.regState == stateReady,
		Booting:       m.booting,
		Link:          m.linkUp,
		CSQ:           m.csq,
		Battery:       m.battery,
		Components:    m.st.versions(),
		BytesServed:   m.served,
		Reads:         m.reads,
		EventsSent:    m.emit.sent,
		Failures:      maps.Clone(m.st.Failures),
	}
	if t := m.task; t != nil {
		ts := &TaskStatus{Plan: t.Plan, Phase: t.Phase, Component: t.comp().ID, Total: t.comp().Digests.Size}
		for _, c := range t.Components {
			ts.Components = append(ts.Components, c.ID)
		}
		if t.Phase != phaseOffered {
			ts.PieceStart, ts.PieceLen, ts.Done = t.PieceStart, t.PieceLen, t.done
		}
		s.Task = ts
	}
	return s
}

// SetCSQ changes the simulated signal (AT+CSQ rssi 0-31, or 99).
func (m *Module) SetCSQ(csq int) error {
	if !validCSQ(csq) {
		return fmt.Errorf("module: csq %d: must be 0 to 31, or 99 for unknown", csq)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.csq = csq
	return nil
}

// SetBattery changes the simulated battery level in percent.
func (m *Module) SetBattery(percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("module: battery %d: must be 0 to 100 percent", percent)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.battery = percent
	return nil
}

// ControlHandler returns the control endpoint's HTTP handler, a JSON API:
//
//	GET  /v1/status                  the Status
//	POST /v1/signal   {"csq": N}     change the signal (AT+CSQ)
//	POST /v1/battery  {"battery": N} change the battery level (AT+CBC)
//	POST /v1/confirm  {"plan": NAME} the app confirmation of a manual plan;
//	                                 no plan (or no body) confirms every one waiting
//	POST /v1/push                    push the plans that can be offered now
//	POST /v1/reboot                  reboot: the link drops and comes back
//
// Errors are {"error": "..."} with a 4xx status. Serve it on loopback:
// it has no authentication.
func (m *Module) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, m.Status())
	})
	mux.HandleFunc("POST /v1/signal", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			CSQ *int `json:"csq"`
		}
		if !readJSON(w, r, &req, false) {
			return
		}
		if req.CSQ == nil {
			writeError(w, http.StatusBadRequest, errors.New(`want {"csq": N} with N 0 to 31, or 99`))
			return
		}
		if err := m.SetCSQ(*req.CSQ); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"csq": *req.CSQ})
	})
	mux.HandleFunc("POST /v1/battery", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Battery *int `json:"battery"`
		}
		if !readJSON(w, r, &req, false) {
			return
		}
		if req.Battery == nil {
			writeError(w, http.StatusBadRequest, errors.New(`want {"battery": N} with N 0 to 100`))
			return
		}
		if err := m.SetBattery(*req.Battery); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"battery": *req.Battery})
	})
	mux.HandleFunc("POST /v1/confirm", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Plan string `json:"plan"`
		}
		if !readJSON(w, r, &req, true) {
			return
		}
		names, err := m.Confirm(req.Plan)
		switch {
		case errors.Is(err, ErrNothingToConfirm):
			writeError(w, http.StatusNotFound, err)
		case err != nil:
			writeError(w, http.StatusConflict, err)
		default:
			writeJSON(w, http.StatusOK, map[string][]string{"confirmed": names})
		}
	})
	mux.HandleFunc("POST /v1/push", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string][]string{"pushing": nonNil(m.Push())})
	})
	mux.HandleFunc("POST /v1/reboot", func(w http.ResponseWriter, r *http.Request) {
		m.Reboot()
		writeJSON(w, http.StatusAccepted, map[string]string{"reboot": m.cfg.RebootDelay.String()})
	})
	return mux
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// readJSON decodes a small JSON body into v; an empty body is allowed
// when optional. It answers 400 itself and returns false on error.
func readJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return false
	}
	if len(data) == 0 && optional {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
