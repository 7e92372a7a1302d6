package platform

import (
	"encoding/json"
	"net/http"
)

// handler serves the packages under /p/ (through Config.WrapPackages)
// and a small loopback API: GET /api/status (the Status as JSON) and
// POST /api/confirm?plan=NAME&device=DN (the app confirmation of a
// manual plan).
func (p *Platform) handler() http.Handler {
	mux := http.NewServeMux()
	var files http.Handler = p.files
	if p.cfg.WrapPackages != nil {
		files = p.cfg.WrapPackages(files)
	}
	mux.Handle("/p/", files)
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p.Status())
	})
	mux.HandleFunc("POST /api/confirm", func(w http.ResponseWriter, r *http.Request) {
		if err := p.Confirm(r.FormValue("plan"), r.FormValue("device")); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}
