package mcu

import (
	"testing"
	"testing/synctest"

	"github.com/atota/atota/atcmd"
)

// TestTransitionTable checks the table's shape: every entry either acts
// or names the one phase it stays in.
func TestTransitionTable(t *testing.T) {
	for p := waitPlan; p < done; p++ {
		for k := evPlan; k < numEvKinds; k++ {
			tr := table[p][k]
			if tr.act == nil && len(tr.to) != 1 {
				t.Errorf("table[%v][%v] ignores the event but lists phases %v", p, k, tr.to)
			}
		}
	}
}

// TestTransitions takes every (phase, event) entry of the table once: the
// session is brought to the phase by the events that lead there, then
// given the event.
func TestTransitions(t *testing.T) {
	a, b := image(40, 2000), image(41, 1000)
	da, db := digest(t, a), digest(t, b)
	ev := map[evKind]string{
		evPlan:        Offer{Component: "A", Target: "2", MinSignalDBm: -113, Size: 2000}.line(),
		evDownload:    Start{Component: "A", Size: 2000, MD5: da.MD5, CRC: da.CRC}.line(),
		evDownloading: "+QIOTEVT: 7,10702",
		evPiece:       Piece{Component: "A", Size: 2000, Start: 0, Len: 2000}.line(),
		evUpdating:    "+QIOTEVT: 7,10704",
		evSuccess:     "+QIOTEVT: 7,10705",
		evFailed:      "+QIOTEVT: 7,10706",
		evOther:       "+QIOTEVT: 7,10707",
	}
	planB := Offer{Component: "B", Target: "3", MinSignalDBm: -113, Size: 1000}.line()
	startB := Start{Component: "B", Size: 1000, MD5: db.MD5, CRC: db.CRC}.line()
	// The events that lead to each phase from waitPlan.
	lead := map[phase][]string{
		waitPlan:    nil,
		idle:        {ev[evPlan], planB},
		downloading: {ev[evPlan], planB, ev[evDownload]},
		updating:    {ev[evPlan], planB, ev[evDownload], ev[evPiece]},
		reporting:   {ev[evPlan], planB, ev[evDownload], ev[evPiece], ev[evUpdating]},
	}
	const fail = phase(-1)
	want := map[phase][numEvKinds]phase{
		//            10700        10701        10702        10703     10704        10705        10706 other
		waitPlan:    {idle, waitPlan, waitPlan, waitPlan, waitPlan, waitPlan, waitPlan, waitPlan},
		idle:        {idle, downloading, idle, fail, idle, idle, fail, idle},
		downloading: {downloading, fail, downloading, updating, downloading, downloading, fail, downloading},
		updating:    {updating, fail, updating, fail, reporting, updating, fail, updating},
		reporting:   {reporting, downloading, reporting, fail, reporting, idle, fail, reporting},
	}
	for from := waitPlan; from < done; from++ {
		for k := evPlan; k < numEvKinds; k++ {
			t.Run(from.String()+"/"+k.String(), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					m := newFake(fakeComp{ID: "A", Target: "2", Data: a}, fakeComp{ID: "B", Target: "3", Data: b})
					tg, _ := flashAt(t, "stm32f103c8")
					cfg := testConfig(tg)
					cfg.Components = []Component{{ID: "A", Version: "1"}, {ID: "B", Version: "1"}}
					cfg, err := cfg.check()
					if err != nil {
						t.Fatal(err)
					}
					j, _ := loadJournal("", targetID(tg))
					s := &session{cfg: cfg, c: m.client(t), log: cfg.Logger, j: j}
					if _, err := s.do(t.Context(), atcmd.Command{Name: "+QIOTOTAREQ"}); err != nil {
						t.Fatal(err)
					}
					for _, l := range lead[from] {
						if err := s.step(t.Context(), mustEvent(t, l)); err != nil {
							t.Fatalf("leading to %v with %q: %v", from, l, err)
						}
					}
					if s.phase != from {
						t.Fatalf("the events led to phase %v, want %v", s.phase, from)
					}
					line := ev[k]
					if from == reporting && k == evDownload {
						line = startB // the next component
					}
					err = s.step(t.Context(), mustEvent(t, line))
					switch w := want[from][k]; {
					case w == fail && err == nil:
						t.Fatalf("%q in phase %v: no error, phase %v; want an error", line, from, s.phase)
					case w != fail && err != nil:
						t.Fatalf("%q in phase %v: %v", line, from, err)
					case w != fail && s.phase != w:
						t.Fatalf("%q in phase %v: phase %v, want %v", line, from, s.phase, w)
					}
				})
			})
		}
	}
}
