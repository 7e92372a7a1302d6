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

// phase is where an OTA cycle stands after AT+QIOTOTAREQ.
type phase int

const (
	waitPlan    phase = iota // waiting for the first 7,10700
	idle                     // plans confirmed; waiting for 7,10701 of the next component
	downloading              // reading the pieces of the current component
	updating                 // verified, AT+QIOTUPDATE=3 sent; waiting for 7,10704 before flashing
	reporting                // the current component is committed and reported; waiting for 7,10705
	done                     // every confirmed component is updated
	numPhases
)

var phaseNames = [numPhases]string{"waitPlan", "idle", "downloading", "updating", "reporting", "done"}

func (p phase) String() string { return phaseNames[p] }

// evKind is what the transfer makes of an event.
type evKind int

const (
	evPlan        evKind = iota // 7,10700
	evDownload                  // 7,10701
	evDownloading               // 7,10702
	evPiece                     // 7,10703
	evUpdating                  // 7,10704
	evSuccess                   // 7,10705
	evFailed                    // 7,10706
	evOther                     // any other event: 7,10707, 7,10708, other types
	numEvKinds
)

var evNames = [numEvKinds]string{"10700", "10701", "10702", "10703", "10704", "10705", "10706", "other"}

func (k evKind) String() string { return evNames[k] }

func kindOf(e Event) evKind {
	if e.Type != evtOTA {
		return evOther
	}
	switch e.Code {
	case EvtPlan:
		return evPlan
	case EvtDownload:
		return evDownload
	case EvtDownloading:
		return evDownloading
	case EvtPiece:
		return evPiece
	case EvtUpdating:
		return evUpdating
	case EvtSuccess:
		return evSuccess
	case EvtFailed:
		return evFailed
	}
	return evOther
}

// A transition is what an event does in a phase: act (nil: the event is
// ignored) and the phases the transfer may be in after it. With one
// phase listed, step moves there; with several, act chooses.
type transition struct {
	act func(s *session, ctx context.Context, e Event) error
	to  []phase
}

func to(p ...phase) []phase { return p }

// table is the transfer's state machine: table[phase][event]. Every
// entry is exercised by TestTransitions.
var table = [numPhases][numEvKinds]transition{
	waitPlan: {
		evPlan: {(*session).onPlan, to(idle, waitPlan)},
		// Left from before the request (a transfer the module started
		// over, a report of an earlier run): the plan comes next.
		evDownload:    {nil, to(waitPlan)},
		evDownloading: {nil, to(waitPlan)},
		evPiece:       {nil, to(waitPlan)},
		evUpdating:    {nil, to(waitPlan)},
		evSuccess:     {nil, to(waitPlan)},
		evFailed:      {nil, to(waitPlan)},
		evOther:       {nil, to(waitPlan)},
	},
	idle: {
		evPlan:        {(*session).onPlan, to(idle)},
		evDownload:    {(*session).onDownload, to(downloading)},
		evDownloading: {nil, to(idle)},
		evPiece:       {(*session).pieceWithoutDownload, nil},
		evUpdating:    {nil, to(idle)},
		evSuccess:     {nil, to(idle)},
		evFailed:      {(*session).onFailed, nil},
		evOther:       {nil, to(idle)},
	},
	downloading: {
		evPlan:        {(*session).planDuringTransfer, to(downloading)},
		evDownload:    {(*session).downloadDuringTransfer, nil},
		evDownloading: {nil, to(downloading)},
		evPiece:       {(*session).onPiece, to(downloading, updating, reporting)},
		evUpdating:    {(*session).updatingEarly, to(downloading)},
		evSuccess:     {nil, to(downloading)},
		evFailed:      {(*session).onFailed, nil},
		evOther:       {nil, to(downloading)},
	},
	updating: {
		evPlan:        {(*session).planDuringTransfer, to(updating)},
		evDownload:    {(*session).downloadDuringTransfer, nil},
		evDownloading: {nil, to(updating)},
		evPiece:       {(*session).pieceWithoutDownload, nil},
		evUpdating:    {(*session).onUpdating, to(reporting)},
		evSuccess:     {nil, to(updating)},
		evFailed:      {(*session).onFailed, nil},
		evOther:       {nil, to(updating)},
	},
	reporting: {
		evPlan:        {(*session).planDuringTransfer, to(reporting)},
		evDownload:    {(*session).downloadAfterReport, to(downloading)},
		evDownloading: {nil, to(reporting)},
		evPiece:       {(*session).pieceWithoutDownload, nil},
		evUpdating:    {nil, to(reporting)},
		evSuccess:     {(*session).onSuccess, to(idle, done)},
		evFailed:      {(*session).onFailed, nil},
		evOther:       {nil, to(reporting)},
	},
}

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
// or until PlanTimeout passes with no plan (Result.NoPlan). On an error,
// an image not committed is kept for a resume or aborted (cleanup).
func (s *session) run(ctx context.Context) (err error) {
	defer func() {
		if s.cur != nil && !s.cur.committed {
			s.cleanup(err)
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
				return fmt.Errorf("mcu: %s: nothing came within %v; is the module still connected to the platform? %w", s.waitingFor(), timeout, ErrLink)
			}
			return fmt.Errorf("mcu: %s: %w", s.waitingFor(), linkErr(ctx, err))
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

// step takes one event through the table.
func (s *session) step(ctx context.Context, e Event) error {
	from, k := s.phase, kindOf(e)
	tr := table[from][k]
	if tr.act == nil {
		s.log.Debug("event ignored", "line", e.Line, "phase", from)
		if len(tr.to) == 1 {
			s.phase = tr.to[0]
		}
		return nil
	}
	if err := tr.act(s, ctx, e); err != nil {
		return err
	}
	if len(tr.to) == 1 {
		s.phase = tr.to[0]
	}
	if !slices.Contains(tr.to, s.phase) {
		panic(fmt.Sprintf("mcu: event %v in phase %v ended in phase %v, not one of %v", k, from, s.phase, tr.to))
	}
	return nil
}

// onPlan checks a 7,10700 plan against the policy and confirms it with
// AT+QIOTUPDATE=1 or refuses it with AT+QIOTUPDATE=0.
func (s *session) onPlan(ctx context.Context, e Event) error {
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

// planDuringTransfer ignores a 7,10700 while a component is in flight.
func (s *session) planDuringTransfer(ctx context.Context, e Event) error {
	s.log.Warn("plan offered during a transfer; ignored", "event", e.Line)
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

// downloadDuringTransfer fails a 7,10701 that comes before the current
// component is done.
func (s *session) downloadDuringTransfer(ctx context.Context, e Event) error {
	return fmt.Errorf("mcu: %s while %s is incomplete (%d of %d bytes); the old image stays", e.Line, s.cur.start.Component, s.cur.read, s.cur.start.Size)
}

// downloadAfterReport takes a 7,10701 of the next component that came
// without 7,10705 for the reported one.
//
// [INF] spec §12.6: whether 10705 comes per component is open; a
// download of the next component means the module took the report.
func (s *session) downloadAfterReport(ctx context.Context, e Event) error {
	s.log.Info("next download without 7,10705; the version report counts as taken", "component", s.cur.start.Component)
	s.onSuccess(ctx, e)
	return s.onDownload(ctx, e)
}

// pieceWithoutDownload fails a 7,10703 with no download in progress.
func (s *session) pieceWithoutDownload(ctx context.Context, e Event) error {
	return fmt.Errorf("mcu: %s with no download in progress (7,10701 first)", e.Line)
}

// onPiece reads a piece announced by 7,10703; after the last one it
// verifies the image and announces the update with AT+QIOTUPDATE=3.
func (s *session) onPiece(ctx context.Context, e Event) error {
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

// updatingEarly notes a 7,10704 during the download.
//
// On cellular modules 7,10704 answers AT+QIOTUPDATE=3 and the image is
// flashed and reported after it, so the module has taken the update
// before the MCU reboots into it; NB-IoT and Wi-Fi transcripts show it
// before the reads (spec §11.11), so one that comes during the download
// counts when the download is done.
func (s *session) updatingEarly(ctx context.Context, e Event) error {
	s.cur.sawUpdating = true
	return nil
}

// onUpdating takes 7,10704 after AT+QIOTUPDATE=3: the image is committed
// and reported.
func (s *session) onUpdating(ctx context.Context, e Event) error { return s.report(ctx) }

// onSuccess takes 7,10705: the module accepted the version report.
func (s *session) onSuccess(ctx context.Context, e Event) error {
	s.log.Info("update confirmed by the module", "component", s.cur.start.Component, "version", s.cur.offer.Target)
	s.finished = append(s.finished, s.cur.start.Component)
	s.cur = nil
	s.phase = idle
	if len(s.finished) == len(s.offers) {
		s.phase = done
	}
	return nil
}

// onFailed takes 7,10706: the module gave the update up.
func (s *session) onFailed(ctx context.Context, e Event) error {
	switch s.phase {
	case downloading:
		return fmt.Errorf("mcu: the module reported the update failed (7,10706) while %s was downloading (%d of %d bytes); the old image stays", s.cur.start.Component, s.cur.read, s.cur.start.Size)
	case updating:
		return fmt.Errorf("mcu: the module reported the update failed (7,10706) after %s %s was verified; it was not flashed and the old image stays", s.cur.start.Component, s.cur.offer.Target)
	case reporting:
		return fmt.Errorf("mcu: the module reported the update failed (7,10706) after %s %s was written to %s and reported", s.cur.start.Component, s.cur.offer.Target, s.cfg.Target)
	}
	return errors.New("mcu: the module reported the update failed (7,10706)")
}

// progress reports the current download's progress.
func (s *session) progress() {
	if s.cfg.Progress != nil && s.cur != nil {
		s.cfg.Progress(Progress{Component: s.cur.start.Component, Done: s.cur.read, Total: s.cur.start.Size})
	}
}
