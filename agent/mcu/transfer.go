package mcu

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atota/atota/atcmd"
)

// phase is where an OTA cycle stands after AT+QIOTOTAREQ. The transfer is
// a state machine: step takes one OTA event and moves the phase on.
type phase int

const (
	waitPlan    phase = iota // waiting for the first 7,10700
	idle                     // plans confirmed; waiting for 7,10701 of the next component
	downloading              // reading the pieces of the current component
	updating                 // verified, AT+QIOTUPDATE=3 sent; waiting for 7,10704 before flashing
	reporting                // the current component is written and reported; waiting for 7,10705
	done                     // every confirmed component is updated
)

// transfer is the state of the OTA events of one cycle.
type transfer struct {
	phase    phase
	offers   []Offer   // confirmed plans, in the order offered
	cur      *download // the component being read or reported
	finished []string  // components the module confirmed
}

// waitingFor says what the transfer waits for, for error messages.
func (t *transfer) waitingFor() string {
	switch t.phase {
	case waitPlan:
		return "waiting for a plan (+QIOTEVT: 7,10700)"
	case idle:
		return "waiting for the next download (+QIOTEVT: 7,10701)"
	case downloading:
		return fmt.Sprintf("waiting for the next piece of %s (+QIOTEVT: 7,10703) at byte %d of %d", t.cur.start.Component, t.cur.read, t.cur.start.Size)
	case updating:
		return fmt.Sprintf("waiting for the module to take the update of %s (+QIOTEVT: 7,10704)", t.cur.start.Component)
	case reporting:
		return fmt.Sprintf("waiting for the module to confirm %s %s (+QIOTEVT: 7,10705)", t.cur.start.Component, t.cur.offer.Target)
	}
	return "done"
}

// run handles the OTA events until every confirmed component is updated,
// or until PlanTimeout passes with no plan (Result.NoPlan). An image not
// committed when it returns is aborted.
func (s *session) run(ctx context.Context) error {
	defer func() {
		if s.cur != nil {
			s.cur.abort()
		}
	}()
	// The plan must come within PlanTimeout; after it, each OTA event
	// within EventTimeout of the last one's handling.
	timeout := s.cfg.PlanTimeout
	deadline := time.Now().Add(timeout)
	for s.phase != done {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		e, err := s.nextEvent(wctx)
		cancel()
		if err != nil {
			if s.phase == waitPlan && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				s.log.Info("no plan offered", "waited", timeout)
				s.res.NoPlan = true
				return nil
			}
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("mcu: %s: nothing came within %v; is the module still connected to the platform?", s.waitingFor(), timeout)
			}
			return fmt.Errorf("mcu: %s: %w", s.waitingFor(), err)
		}
		if err := s.step(ctx, e); err != nil {
			return err
		}
		if e.Type == evtOTA && s.phase != waitPlan {
			timeout = s.cfg.EventTimeout
			deadline = time.Now().Add(timeout)
		}
	}
	return nil
}

// step takes one event.
func (s *session) step(ctx context.Context, e Event) error {
	if e.Type != evtOTA {
		s.log.Debug("event", "line", e.Line)
		return nil
	}
	switch e.Code {
	case EvtPlan:
		return s.onPlan(ctx, e)
	case EvtDownload:
		return s.onDownload(ctx, e)
	case EvtPiece:
		return s.onPiece(ctx, e)
	case EvtUpdating:
		return s.onUpdating(ctx)
	case EvtSuccess:
		s.onSuccess()
		return nil
	case EvtFailed:
		return s.onFailed()
	}
	s.log.Debug("event", "line", e.Line) // 10702, 10707, 10708
	return nil
}

// onPlan checks a 7,10700 plan against the policy and confirms it with
// AT+QIOTUPDATE=1 or refuses it with AT+QIOTUPDATE=0.
func (s *session) onPlan(ctx context.Context, e Event) error {
	if s.phase == downloading || s.phase == updating || s.phase == reporting {
		s.log.Warn("plan offered during a transfer; ignored", "event", e.Line)
		return nil
	}
	o, err := e.Offer()
	if err != nil {
		return err
	}
	s.log.Info("plan offered", "component", o.Component, "from", o.Source, "to", o.Target, "size", o.Size)
	if slices.Contains(s.finished, o.Component) {
		s.log.Warn("plan for a component updated in this cycle; ignored", "component", o.Component)
		return nil
	}
	if _, ok := s.component(o.Component); !ok {
		err := fmt.Errorf("mcu: plan for component %q, which this MCU does not have (it has %s); refused: check the components the module knows (AT+QIOTMCUVER?)", o.Component, s.componentIDs())
		return s.refuse(ctx, err)
	}
	if err := s.checkPolicy(ctx, o); err != nil {
		var pe *PolicyError
		if errors.As(err, &pe) {
			s.log.Warn("plan refused", "component", o.Component, "reason", pe.Error())
			return s.refuse(ctx, err)
		}
		return err
	}
	if _, err := s.do(ctx, set("+QIOTUPDATE", atcmd.Int(1))); err != nil {
		return err
	}
	if i := slices.IndexFunc(s.offers, func(p Offer) bool { return p.Component == o.Component }); i >= 0 {
		s.offers[i] = o
	} else {
		s.offers = append(s.offers, o)
	}
	s.phase = idle
	return nil
}

// refuse answers the plan with AT+QIOTUPDATE=0 and returns why.
func (s *session) refuse(ctx context.Context, why error) error {
	if _, err := s.do(ctx, set("+QIOTUPDATE", atcmd.Int(0))); err != nil {
		return errors.Join(why, err)
	}
	return why
}

// component returns the configured component with that ID.
func (s *session) component(id string) (Component, bool) {
	for _, c := range s.cfg.Components {
		if c.ID == id {
			return c, true
		}
	}
	return Component{}, false
}

func (s *session) componentIDs() string {
	ids := make([]string, len(s.cfg.Components))
	for i, c := range s.cfg.Components {
		ids[i] = c.ID
	}
	return strings.Join(ids, ", ")
}

// onDownload takes a 7,10701 event: it opens the target for the image.
func (s *session) onDownload(ctx context.Context, e Event) error {
	switch s.phase {
	case downloading, updating:
		return fmt.Errorf("mcu: %s while %s is incomplete (%d of %d bytes); the old image stays", e.Line, s.cur.start.Component, s.cur.read, s.cur.start.Size)
	case reporting:
		// [INF] spec §12.6: whether 10705 comes per component is open; a
		// download of the next component means the module took the report.
		s.log.Info("next download without 7,10705; the version report counts as taken", "component", s.cur.start.Component)
		s.onSuccess()
	}
	st, err := e.Start()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(s.offers, func(o Offer) bool { return o.Component == st.Component })
	switch {
	case i < 0:
		return fmt.Errorf("mcu: %s: download of %s, which was not offered with 7,10700 or not confirmed", e.Line, st.Component)
	case slices.Contains(s.finished, st.Component):
		return fmt.Errorf("mcu: %s: download of %s, which is already updated in this cycle", e.Line, st.Component)
	}
	if s.cfg.SHA256 && st.SHA256 == "" {
		s.log.Warn("SHA-256 asked for but not sent; verifying MD5 and CRC only", "component", st.Component)
	}
	img, err := s.cfg.Target.Open(ctx, st.Component, st.Size)
	if err != nil {
		return err
	}
	from, _ := s.component(st.Component)
	s.cur = &download{s: s, start: st, offer: s.offers[i], from: from.Version, img: img, began: time.Now()}
	s.phase = downloading
	s.log.Info("download starts", "component", st.Component, "size", st.Size, "md5", st.MD5, "crc", st.CRC, "sha256", st.SHA256 != "")
	s.progress()
	return nil
}

// onPiece reads a piece announced by 7,10703; after the last one it
// verifies the image and announces the update with AT+QIOTUPDATE=3.
func (s *session) onPiece(ctx context.Context, e Event) error {
	if s.phase != downloading {
		return fmt.Errorf("mcu: %s with no download in progress (7,10701 first)", e.Line)
	}
	complete, err := s.cur.piece(ctx, e)
	if err != nil || !complete {
		return err
	}
	if err := s.finish(ctx); err != nil {
		return err
	}
	s.phase = updating
	if s.cur.sawUpdating {
		return s.report(ctx)
	}
	return nil
}

// onUpdating takes 7,10704. On cellular modules it answers
// AT+QIOTUPDATE=3 and the image is flashed and reported after it, so the
// module has taken the update before the MCU reboots into it; NB-IoT and
// Wi-Fi transcripts show it before the reads (spec §11.11), so one that
// comes during the download counts when the download is done.
func (s *session) onUpdating(ctx context.Context) error {
	switch s.phase {
	case downloading:
		s.cur.sawUpdating = true
	case updating:
		return s.report(ctx)
	default:
		s.log.Debug("7,10704 with no update pending; ignored")
	}
	return nil
}

// onSuccess takes 7,10705: the module accepted the version report.
func (s *session) onSuccess() {
	if s.phase != reporting {
		s.log.Debug("7,10705 with no version report pending; ignored")
		return
	}
	s.log.Info("update confirmed by the module", "component", s.cur.start.Component, "version", s.cur.offer.Target)
	s.finished = append(s.finished, s.cur.start.Component)
	s.cur = nil
	s.phase = idle
	if len(s.finished) == len(s.offers) {
		s.phase = done
	}
}

// onFailed takes 7,10706: the module gave the update up.
func (s *session) onFailed() error {
	switch s.phase {
	case downloading:
		return fmt.Errorf("mcu: the module reported the update failed (7,10706) while %s was downloading (%d of %d bytes); the old image stays", s.cur.start.Component, s.cur.read, s.cur.start.Size)
	case updating:
		return fmt.Errorf("mcu: the module reported the update failed (7,10706) after %s %s was verified; it was not flashed and the old image stays", s.cur.start.Component, s.cur.offer.Target)
	case reporting:
		return fmt.Errorf("mcu: the module reported the update failed (7,10706) after %s %s was written to %s", s.cur.start.Component, s.cur.offer.Target, s.cfg.Target)
	}
	return errors.New("mcu: the module reported the update failed (7,10706)")
}

// progress reports the current download's progress.
func (s *session) progress() {
	if s.cfg.Progress != nil && s.cur != nil {
		s.cfg.Progress(Progress{Component: s.cur.start.Component, Done: s.cur.read, Total: s.cur.start.Size})
	}
}
