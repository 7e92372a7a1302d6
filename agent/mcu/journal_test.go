package mcu

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/flashsim"
)

func TestLoadJournal(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, wantErr string
	}{
		{name: "missing", path: filepath.Join(dir, "none.json")},
		{name: "good", path: write("good.json", `{"format":1,"target":"file:/x","installed":{"A":"2"}}`)},
		{name: "not JSON", path: write("bad.json", `{"format":`), wantErr: "not a journal this program wrote"},
		{name: "format", path: write("v9.json", `{"format":9,"target":"file:/x"}`), wantErr: "format 9"},
		{name: "other target", path: write("other.json", `{"format":1,"target":"file:/y"}`), wantErr: "belongs to target file:/y"},
		{name: "impossible", path: write("imp.json", `{"format":1,"target":"file:/x","transfer":{"component":"A","size":10,"committed":11}}`), wantErr: "impossible"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := loadJournal(tt.path, "file:/x")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "mcu: journal") {
					t.Fatalf("loadJournal = %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "good" {
				if v, ok := j.installedVersion("A"); !ok || v != "2" {
					t.Errorf("installed A = %q, %v; want 2", v, ok)
				}
			}
		})
	}
	t.Run("round trip", func(t *testing.T) {
		p := filepath.Join(dir, "rt.json")
		j, _ := loadJournal(p, "file:/x")
		r := record{Component: "A", From: "1", To: "2", Size: 9, MD5: md5Hex, CRC: 7, Committed: 4, Phase: recDownloading, Image: "x"}
		if err := j.setTransfer(&r); err != nil {
			t.Fatal(err)
		}
		k, err := loadJournal(p, "file:/x")
		if err != nil || k.transfer() == nil || *k.transfer() != r {
			t.Fatalf("reloaded %+v, %v; want %+v", k.transfer(), err, r)
		}
		if err := k.finish("A", "2"); err != nil {
			t.Fatal(err)
		}
		k, _ = loadJournal(p, "file:/x")
		if v, _ := k.installedVersion("A"); v != "2" || k.transfer() != nil {
			t.Fatalf("after finish: installed %q, transfer %+v", v, k.transfer())
		}
	})
}

// readJournal returns the journal file's state.
func readJournal(t *testing.T, path string) journalState {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st journalState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// dyingTarget wraps a Target: from its failAt-th WriteAt on, the bytes
// are written and then the "MCU" dies (the error reads as a power cut,
// so Run stops without cleaning up), as under SIGKILL.
type dyingTarget struct {
	Target
	failAt int
	writes int
}

type dyingImage struct {
	Image
	t *dyingTarget
}

func (t *dyingTarget) Open(ctx context.Context, spec ImageSpec) (Image, error) {
	im, err := t.Target.Open(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &dyingImage{Image: im, t: t}, nil
}

func (t *dyingTarget) Spec() string { return targetID(t.Target) }

// RunningImage and Complete pass the optional interfaces through.
func (t *dyingTarget) RunningImage(ctx context.Context) (sourceImage, int64, error) {
	rt, ok := t.Target.(runningTarget)
	if !ok {
		return nil, 0, fmt.Errorf("%s cannot read its running image", t.Target)
	}
	return rt.RunningImage(ctx)
}

func (im *dyingImage) Complete(ctx context.Context) error { return complete(ctx, im.Image) }

func (im *dyingImage) WriteAt(p []byte, off int64) (int, error) {
	n, err := im.Image.WriteAt(p, off)
	if im.t.writes++; im.t.writes == im.t.failAt {
		return n, flashsim.ErrPowerCut
	}
	return n, err
}

// TestResumeAfterKill kills the MCU in the middle of a block write, for
// each target kind, and checks that the restart reads from the block
// that was being written, and nothing before it.
func TestResumeAfterKill(t *testing.T) {
	img := image(50, 10000)
	tests := []struct {
		name   string
		target func(t *testing.T, dir string) Target
		check  func(t *testing.T, dir string)
	}{
		{name: "flashsim", target: func(t *testing.T, dir string) Target {
			tg, err := OpenTarget("flashsim:" + filepath.Join(dir, "flash.bin") + "?part=stm32f407vg")
			if err != nil {
				t.Fatal(err)
			}
			return tg
		}, check: func(t *testing.T, dir string) { checkActive(t, filepath.Join(dir, "flash.bin"), 'B', img) }},
		{name: "file", target: func(t *testing.T, dir string) Target {
			tg, err := OpenTarget("file:" + filepath.Join(dir, "app.bin"))
			if err != nil {
				t.Fatal(err)
			}
			return tg
		}, check: func(t *testing.T, dir string) { checkFile(t, filepath.Join(dir, "app.bin"), true, img) }},
	}
	for _, tt := range tests {
		for _, killAt := range []int{1, 4, 7, 10} {
			t.Run(fmt.Sprintf("%s/block-%d", tt.name, killAt), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					dir := t.TempDir()
					journal := filepath.Join(dir, "journal.json")
					m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img})
					tg := &dyingTarget{Target: tt.target(t, dir), failAt: killAt}
					cfg := testConfig(tg)
					cfg.Journal = journal
					if _, err := Run(t.Context(), m.client(t), cfg); !errors.Is(err, flashsim.ErrPowerCut) {
						t.Fatalf("first run = %v, want it killed", err)
					}
					tg.Target.Close()
					committed := readJournal(t, journal).Transfer.Committed
					if want := int64(killAt-1) * 1024; committed != want {
						t.Errorf("journal after a kill in block %d says %d bytes committed, want %d", killAt, committed, want)
					}
					readBefore := m.readBytes()

					tg2 := tt.target(t, dir)
					defer tg2.Close()
					cfg.Target = tg2
					res, err := Run(t.Context(), m.client(t), cfg)
					if err != nil {
						t.Fatal(err)
					}
					if len(res.Updated) != 1 || res.Updated[0].Resumed != committed {
						t.Fatalf("Updated = %+v, want one resumed at %d", res.Updated, committed)
					}
					reread := readBefore + (m.readBytes() - readBefore) - int64(len(img))
					if reread > 1024 || reread < 0 {
						t.Errorf("%d bytes read again, want at most one block (1024)", reread)
					}
					st := readJournal(t, journal)
					if st.Transfer != nil || st.Installed["STM32"] != "2_0_0" {
						t.Errorf("journal after the update = %+v, want no transfer and STM32 2_0_0 installed", st)
					}
					tt.check(t, dir)
				})
			})
		}
	}
}

// TestResumeOtherImage checks that a journal for another package is not
// resumed: the image starts over and nothing mixes.
func TestResumeOtherImage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		journal := filepath.Join(dir, "journal.json")
		first, second := image(51, 9000), image(52, 9000)
		m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: first})
		tg, path := flashAt(t, "stm32f103c8")
		dt := &dyingTarget{Target: tg, failAt: 5}
		cfg := testConfig(dt)
		cfg.Journal = journal
		if _, err := Run(t.Context(), m.client(t), cfg); !errors.Is(err, flashsim.ErrPowerCut) {
			t.Fatalf("first run = %v, want it killed", err)
		}
		tg.Close()
		m2 := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: second}) // the package changed
		tg2, err := OpenTarget("flashsim:" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer tg2.Close()
		cfg.Target = tg2
		res, err := Run(t.Context(), m2.client(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.Updated[0].Resumed != 0 || m2.readBytes() != int64(len(second)) {
			t.Errorf("Resumed %d, read %d; want a fresh download of %d bytes", res.Updated[0].Resumed, m2.readBytes(), len(second))
		}
		checkActive(t, path, 'B', second)
	})
}

// recoverCase prepares a flash and a journal as a reset would leave them.
type recoverCase struct {
	name  string
	setup func(t *testing.T, d *flashsim.Device, img []byte) *record
	// want
	newRuns  bool // the new image runs at the end
	commands []string
	noCmd    string // must not be sent
}

func TestRecover(t *testing.T) {
	old, img := image(60, 3000), image(61, 5000)
	dg := digest(t, img)
	rec := func(phase string) *record {
		return &record{Component: "STM32", From: "1_0_0", To: "2_0_0", Size: dg.Size, MD5: dg.MD5, CRC: dg.CRC,
			CRCVariant: "CRC-32/MPEG-2", Committed: dg.Size, Phase: phase, Image: "slot=A size=5000"}
	}
	written := func(t *testing.T, d *flashsim.Device, img []byte) {
		if err := d.WriteInactive(img); err != nil {
			t.Fatal(err)
		}
	}
	pendingImg := func(t *testing.T, d *flashsim.Device, img []byte) {
		written(t, d, img)
		if err := d.SetPending(int64(len(img)), sha256.Sum256(img)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Boot(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []recoverCase{
		{name: "verified", setup: func(t *testing.T, d *flashsim.Device, img []byte) *record {
			written(t, d, img)
			return rec(recVerified)
		}, newRuns: true, commands: []string{"AT+QIOTUPDATE=3", `AT+QIOTMCUVER="STM32","2_0_0"`}},
		{name: "committing, not yet pending", setup: func(t *testing.T, d *flashsim.Device, img []byte) *record {
			written(t, d, img)
			return rec(recCommitting)
		}, newRuns: true, commands: []string{"AT+QIOTUPDATE=3", `AT+QIOTMCUVER="STM32","2_0_0"`}},
		{name: "committing, pending", setup: func(t *testing.T, d *flashsim.Device, img []byte) *record {
			pendingImg(t, d, img)
			return rec(recCommitting)
		}, newRuns: true, commands: []string{`AT+QIOTMCUVER="STM32","2_0_0"`}, noCmd: "AT+QIOTUPDATE=3"},
		{name: "committed", setup: func(t *testing.T, d *flashsim.Device, img []byte) *record {
			pendingImg(t, d, img)
			return rec(recCommitted)
		}, newRuns: true, commands: []string{`AT+QIOTMCUVER="STM32","2_0_0"`}, noCmd: "AT+QIOTUPDATE=3"},
		{name: "committed, confirmed, journal behind", setup: func(t *testing.T, d *flashsim.Device, img []byte) *record {
			pendingImg(t, d, img)
			if err := d.Confirm(); err != nil {
				t.Fatal(err)
			}
			return rec(recCommitted)
		}, newRuns: true, commands: []string{`AT+QIOTMCUVER="STM32","2_0_0"`}},
		{name: "committed, tries used up", setup: func(t *testing.T, d *flashsim.Device, img []byte) *record {
			pendingImg(t, d, img)
			for range flashsim.DefaultMaxTries {
				if _, err := d.Boot(); err != nil {
					t.Fatal(err)
				}
			}
			return rec(recCommitted)
		}, commands: []string{`AT+QIOTMCUVER="STM32","1_0_0"`}},
		{name: "pending without a journal", setup: func(t *testing.T, d *flashsim.Device, img []byte) *record {
			pendingImg(t, d, img)
			return nil
		}, commands: []string{`AT+QIOTMCUVER="STM32","1_0_0"`}},
		{name: "verified, then changed", setup: func(t *testing.T, d *flashsim.Device, img []byte) *record {
			bad := append([]byte(nil), img...)
			bad[100] ^= 1
			written(t, d, bad)
			return rec(recVerified)
		}, commands: []string{`AT+QIOTMCUVER="STM32","1_0_0"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "flash.bin")
				f := baseFlash(t, "stm32f103c8", old) // old runs from slot B
				d := device(t, f)
				r := tt.setup(t, d, img)
				if err := f.Save(path); err != nil {
					t.Fatal(err)
				}
				tg, err := OpenTarget("flashsim:" + path)
				if err != nil {
					t.Fatal(err)
				}
				defer tg.Close()
				journal := filepath.Join(dir, "journal.json")
				j, _ := loadJournal(journal, targetID(tg))
				if err := j.setTransfer(r); err != nil {
					t.Fatal(err)
				}
				m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img})
				m.updating = true // the module heard AT+QIOTUPDATE=3
				cfg := testConfig(tg)
				cfg.Journal = journal
				res, err := Run(t.Context(), m.client(t), cfg)
				if !tt.newRuns {
					// The module offers the update again; let it go through.
					if err != nil {
						t.Fatal(err)
					}
				} else if err != nil {
					t.Fatal(err)
				}
				checkOrder(t, m.commands(), tt.commands...)
				if tt.noCmd != "" && m.sent(tt.noCmd) {
					t.Errorf("%s sent", tt.noCmd)
				}
				st := readJournal(t, journal)
				if st.Transfer != nil || st.Installed["STM32"] != "2_0_0" {
					t.Errorf("journal %+v, want the update done", st)
				}
				// In the end the new image runs from slot A, confirmed: at
				// once, or after the module offered it again.
				checkActive(t, path, 'A', img)
				if tt.newRuns && (len(res.Updated) != 1 || res.Updated[0].Blocks != 0) {
					t.Errorf("Updated = %+v, want the update finished without a read", res.Updated)
				}
			})
		})
	}
}

// TestInstalledVersion checks that a version the journal recorded is the
// one reported.
func TestInstalledVersion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg, _ := flashAt(t, "stm32f103c8")
		journal := filepath.Join(t.TempDir(), "journal.json")
		j, _ := loadJournal(journal, targetID(tg))
		if err := j.finish("STM32", "2_0_0"); err != nil {
			t.Fatal(err)
		}
		m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: image(1, 100)})
		cfg := testConfig(tg)
		cfg.Journal = journal
		res, err := Run(t.Context(), m.client(t), cfg)
		if err != nil || !res.NoPlan {
			t.Fatalf("Run = %+v, %v; want no plan for a component at its target", res, err)
		}
		if !m.sent(`AT+QIOTMCUVER="STM32","2_0_0"`) {
			t.Errorf("the journal's version was not reported: %q", m.commands())
		}
	})
}
