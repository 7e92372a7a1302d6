package platform

// Task events, the +QIOTEVT codes of the module's OTA task (spec
// quecthing-at.md).
const (
	EventOffered   = 10700
	EventStarted   = 10701
	EventPiece     = 10703
	EventUpdating  = 10704
	EventSucceeded = 10705
	EventFailed    = 10706
	EventRefused   = 0 // AT+QIOTUPDATE=0
)

// TaskEvent is one step of the module's OTA task for a plan that came
// from a job (the module's observer calls, converted by the caller).
type TaskEvent struct {
	Plan      string // the plan name, Job.Name
	Component string
	Event     int   // one of the Event constants
	Done      int64 // bytes of the component the MCU has read
	Total     int64 // the component's size
	Reason    string
}

// TaskEvent reports a step of the MCU's upgrade on the job's scale (spec
// §6): the module's download took 1 to 50, the MCU's reads take 51 to
// 99, 100 when the MCU reports the target version; a failure is step -4
// (the MCU's update failed) and a refusal step -1 with a description
// starting "refused". Events for plans that did not come from a job are
// ignored.
func (d *Device) TaskEvent(e TaskEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.st.jobByName(e.Plan)
	if r == nil {
		return
	}
	comps := len(r.Job.Files)
	idx := 0
	for i := range r.Job.Files {
		if r.Job.componentID(i) == e.Component || r.Job.Module == "" {
			idx = i
			break
		}
	}
	// Each component gets an equal share of 51 to 99.
	share := func(frac float64) int { return 51 + int(48*(float64(idx)+frac)/float64(comps)) }
	switch e.Event {
	case EventOffered:
		d.log.Info("platform job offered to the MCU", "job", e.Plan, "component", e.Component)
	case EventStarted:
		r.Status = statusActive
		d.report(r, share(0), "MCU reading "+e.Component)
	case EventPiece:
		if e.Total > 0 {
			d.report(r, min(share(float64(e.Done)/float64(e.Total)), 98), "MCU reading "+e.Component)
		}
	case EventUpdating:
		d.report(r, min(share(1), 99), "MCU updating "+e.Component)
	case EventSucceeded:
		if idx == comps-1 {
			d.report(r, 100, "updated to "+r.Job.Version)
			d.endJob(r, statusDone)
			d.log.Info("platform job done", "job", e.Plan)
		} else {
			d.report(r, share(1), e.Component+" updated")
		}
	case EventFailed:
		d.report(r, StepBurn, "the MCU's update failed: "+orUnknown(e.Reason))
		d.endJob(r, statusFailed)
	case EventRefused:
		r.Status = statusRefused
		d.report(r, StepFailed, "refused by the MCU: "+orUnknown(e.Reason))
		d.save()
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}
