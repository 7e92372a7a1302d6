package mcu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/flashsim"
)

// Resets at the awkward moments of a package update on the targets that
// program a device (stm32:) and with a key required.

// stm32Running returns the flash of an STM32F103C8 whose program is old,
// and a work directory for its stm32: targets.
func stm32Running(t *testing.T, old []byte) (*flashsim.Flash, string) {
	t.Helper()
	p, _ := flashsim.LookupPart("stm32f103c8")
	f := flashsim.New(p)
	if _, err := f.WriteAt(old, 0); err != nil {
		t.Fatal(err)
	}
	return f, t.TempDir()
}

// deviceHolds checks that the STM32's flash holds img as its program.
func deviceHolds(t *testing.T, f *flashsim.Flash, img []byte) {
	t.Helper()
	got := make([]byte, len(img))
	f.ReadAt(got, 0)
	if !bytes.Equal(got, img) {
		t.Fatal("the device does not hold the new image")
	}
}

// stm32At opens an stm32: target in dir over the bootloader of f.
func stm32At(t *testing.T, f *flashsim.Flash, dir string) *stm32Target {
	t.Helper()
	dial, _ := bootloaderLink(t, f)
	tgt, err := OpenTarget("stm32:/dev/ttyUSB9?go=false", WithWorkDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	st := tgt.(*stm32Target)
	st.dialer = dial
	return st
}

// tornProgram is an stm32: target whose first programming of the device
// is cut by a reset after it erased the first page.
type tornProgram struct {
	*stm32Target
	f    *flashsim.Flash
	done bool
}

type tornProgramImage struct {
	Image
	t *tornProgram
}

func (t *tornProgram) Open(ctx context.Context, spec ImageSpec) (Image, error) {
	im, err := t.stm32Target.Open(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &tornProgramImage{Image: im, t: t}, nil
}

func (im *tornProgramImage) Complete(ctx context.Context) error {
	if !im.t.done {
		im.t.done = true
		im.t.f.Erase(0, im.t.f.Part().Sectors[0])
		return flashsim.ErrPowerCut
	}
	return complete(ctx, im.Image)
}

// TestSTM32ResetWhileProgramming cuts the power while the device is
// programmed, for a raw image and a delta: the restart finds the staged
// image from the journal and programs it again, although the delta's
// source, the old program, is gone by then.
func TestSTM32ResetWhileProgramming(t *testing.T) {
	old := image(95, 9000)
	img := newBuild(old, 96)
	pkg, _ := buildPackage(t, old, img)
	for _, tc := range []struct {
		name string
		data []byte
	}{{"raw", img}, {"delta", pkg}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, dir := stm32Running(t, old)
				st := stm32At(t, f, dir)
				m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: tc.data})
				cfg := testConfig(&tornProgram{stm32Target: st, f: f})
				cfg.Journal = filepath.Join(dir, "journal.json")
				if _, err := Run(t.Context(), m.client(t), cfg); !powerLost(err) {
					t.Fatalf("first run: %v, want the power cut", err)
				}
				st.Close()
				st2 := stm32At(t, f, dir)
				defer st2.Close()
				cfg.Target = st2
				res, err := Run(t.Context(), m.client(t), cfg)
				if err != nil || len(res.Updated) != 1 {
					t.Fatalf("restart: %+v, %v; want the update finished", res, err)
				}
				deviceHolds(t, f, img)
			})
		})
	}
}

// TestSTM32DeltaResume resets the MCU in the middle of a delta applied
// to an stm32: target: the restart reads the chunks back from the staged
// image and goes on.
func TestSTM32DeltaResume(t *testing.T) {
	old := image(97, 20000)
	img := newBuild(old, 98)
	pkg, _ := buildPackage(t, old, img)
	synctest.Test(t, func(t *testing.T) {
		f, dir := stm32Running(t, old)
		st := stm32At(t, f, dir)
		m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: pkg})
		cfg := testConfig(&dyingTarget{Target: st, failAt: 3})
		cfg.Journal = filepath.Join(dir, "journal.json")
		if _, err := Run(t.Context(), m.client(t), cfg); !powerLost(err) {
			t.Fatalf("first run: %v, want the reset", err)
		}
		if j := readJournal(t, cfg.Journal); j.Transfer == nil || j.Transfer.Package.Chunks != 2 {
			t.Fatalf("journal after the reset: %+v, want 2 chunks applied", j.Transfer)
		}
		st.Close()
		st2 := stm32At(t, f, dir)
		defer st2.Close()
		cfg.Target = st2
		res, err := Run(t.Context(), m.client(t), cfg)
		if err != nil || len(res.Updated) != 1 || res.Updated[0].Resumed == 0 {
			t.Fatalf("restart: %+v, %v; want the apply resumed", res, err)
		}
		deviceHolds(t, f, img)
	})
}

// TestSTM32PackageDigestsFirst: a package whose bytes do not match the
// module's digests is refused before the device is programmed.
func TestSTM32PackageDigestsFirst(t *testing.T) {
	old := image(95, 9000)
	img := newBuild(old, 96)
	pkg, _ := buildPackage(t, old, img)
	synctest.Test(t, func(t *testing.T) {
		f, dir := stm32Running(t, old)
		st := stm32At(t, f, dir)
		defer st.Close()
		d, _ := plan.Digest(bytes.NewReader(pkg))
		start := Start{Component: "STM32", Size: d.Size, MD5: "00000000000000000000000000000000", CRC: d.CRC}
		m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: pkg, Start: &start})
		cfg := testConfig(st)
		cfg.Journal = filepath.Join(dir, "journal.json")
		if _, err := Run(t.Context(), m.client(t), cfg); err == nil {
			t.Fatal("Run succeeded with a wrong MD5")
		}
		got := make([]byte, len(old))
		f.ReadAt(got, 0)
		if !bytes.Equal(got, old) {
			t.Error("the device was programmed although the package did not match its digests")
		}
	})
}

// cancelSource cancels the run as the source image is first read.
type cancelSource struct {
	*dyingTarget
	cancel context.CancelFunc
}

func (t *cancelSource) RunningImage(ctx context.Context) (sourceImage, int64, error) {
	src, n, err := t.dyingTarget.RunningImage(ctx)
	if err != nil {
		return nil, 0, err
	}
	return cancelOnRead{src, t.cancel}, n, nil
}

type cancelOnRead struct {
	sourceImage
	cancel context.CancelFunc
}

func (c cancelOnRead) ReadAt(p []byte, off int64) (int, error) {
	c.cancel()
	return c.sourceImage.ReadAt(p, off)
}

// TestStopDuringSourceCheck stops a resumed delta while it checks its
// source: not a refusal, so the journal keeps the chunks applied.
func TestStopDuringSourceCheck(t *testing.T) {
	old := image(40, 30000)
	img := newBuild(old, 41)
	pkg, _ := buildPackage(t, old, img)
	synctest.Test(t, func(t *testing.T) {
		tg, path := seedFlash(t, "stm32f103c8", old)
		journal := filepath.Join(t.TempDir(), "journal.json")
		m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: pkg})
		cfg := testConfig(&dyingTarget{Target: tg, failAt: 3})
		cfg.Journal = journal
		Run(t.Context(), m.client(t), cfg)
		tg.Close()
		before := readJournal(t, journal).Transfer
		if before == nil || before.Package == nil || before.Package.Chunks == 0 {
			t.Fatalf("journal after the reset: %+v, want chunks applied", before)
		}
		tg2, err := OpenTarget("flashsim:" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer tg2.Close()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		cfg.Target = &cancelSource{dyingTarget: &dyingTarget{Target: tg2}, cancel: cancel}
		_, err = Run(ctx, m.client(t), cfg)
		if err == nil || errors.Is(err, ErrVerify) {
			t.Errorf("Run stopped during the source check = %v, want a plain error, not a refusal", err)
		}
		after := readJournal(t, journal).Transfer
		if after == nil || after.Package == nil || after.Package.Chunks != before.Package.Chunks {
			t.Errorf("journal after the stop: %+v, want the %d chunks kept", after, before.Package.Chunks)
		}
	})
}

// TestEmptyImageHeader: a module serving a header that claims an empty
// image is refused and leaves a journal the next start can load.
func TestEmptyImageHeader(t *testing.T) {
	pkg, _ := buildPackage(t, nil, []byte{1})
	copy(pkg[24:28], []byte{0, 0, 0, 0}) // target size 0
	synctest.Test(t, func(t *testing.T) {
		tg, _ := seedFlash(t, "stm32f103c8", image(40, 3000))
		journal := filepath.Join(t.TempDir(), "journal.json")
		m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: pkg})
		cfg := testConfig(tg)
		cfg.Journal = journal
		if _, err := Run(t.Context(), m.client(t), cfg); !errors.Is(err, ErrVerify) {
			t.Fatalf("Run = %v, want a refusal", err)
		}
		if _, err := os.Stat(journal); err == nil {
			if _, err := loadJournal(journal, targetID(tg)); err != nil {
				t.Errorf("the journal left cannot be loaded: %v", err)
			}
		}
	})
}

// TestKeyAppliesToResumes: a raw image journaled by a run without a key
// is not resumed, nor a verified one put in place, by a run that
// requires one.
func TestKeyAppliesToResumes(t *testing.T) {
	old, img := image(40, 3000), image(41, 9000)
	t.Run("downloading", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tg, path := seedFlash(t, "stm32f103c8", old)
			journal := filepath.Join(t.TempDir(), "journal.json")
			m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: img})
			cfg := testConfig(&dyingTarget{Target: tg, failAt: 3})
			cfg.Journal = journal
			Run(t.Context(), m.client(t), cfg)
			tg.Close()
			tg2, err := OpenTarget("flashsim:" + path)
			if err != nil {
				t.Fatal(err)
			}
			defer tg2.Close()
			cfg.Target = tg2
			cfg.VerifyKey = pubKey(trustedKey)
			if res, err := Run(t.Context(), m.client(t), cfg); !errors.Is(err, ErrVerify) {
				t.Errorf("with a key, the unsigned raw image: %+v, %v; want a refusal", res, err)
			}
			checkActive(t, path, 'B', old)
		})
	})
	for _, phase := range []string{recVerified, recCommitted} {
		t.Run(phase, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "flash.bin")
				f := baseFlash(t, "stm32f103c8", old) // old runs from slot B
				d := device(t, f)
				if err := d.WriteInactive(img); err != nil {
					t.Fatal(err)
				}
				if phase == recCommitted { // on trial
					if err := d.SetPending(int64(len(img)), sha256.Sum256(img)); err != nil {
						t.Fatal(err)
					}
				}
				if err := f.Save(path); err != nil {
					t.Fatal(err)
				}
				tg, err := OpenTarget("flashsim:" + path)
				if err != nil {
					t.Fatal(err)
				}
				defer tg.Close()
				dg := digest(t, img)
				journal := filepath.Join(dir, "journal.json")
				j, _ := loadJournal(journal, targetID(tg))
				if err := j.setTransfer(&record{Component: "STM32", From: "1_0_0", To: "2_0_0", Size: dg.Size, MD5: dg.MD5, CRC: dg.CRC,
					CRCVariant: "CRC-32/MPEG-2", Committed: dg.Size, Phase: phase, Image: "slot=A size=9000"}); err != nil {
					t.Fatal(err)
				}
				m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img})
				m.noOffer = true
				cfg := testConfig(tg)
				cfg.Journal = journal
				cfg.VerifyKey = pubKey(trustedKey)
				if _, err := Run(t.Context(), m.client(t), cfg); err != nil {
					t.Fatalf("restart with a key: %v", err)
				}
				if st := readJournal(t, journal); st.Transfer != nil || st.Installed["STM32"] != "" {
					t.Errorf("journal after the restart: %+v, want the unsigned image dropped", st)
				}
				if m.sent(`AT+QIOTMCUVER="STM32","2_0_0"`) {
					t.Error("the unsigned image's version was reported")
				}
				checkActive(t, path, 'B', old)
				if r := loadDevice(t, path).Record(); r.Pending.Name != 0 {
					t.Errorf("boot record %+v: the unsigned image is still on trial", r)
				}
			})
		})
	}
}

// TestPackageTooLarge: the plan's space minimum is checked against the
// package; the image a small delta builds may still not fit, which the
// header tells before anything is written.
func TestPackageTooLarge(t *testing.T) {
	old := image(99, 20000)
	img := append(bytes.Clone(old), old...) // 40000 bytes: more than the F103C8's 31 KiB slot
	pkg, _ := buildPackage(t, old, img)
	synctest.Test(t, func(t *testing.T) {
		f := baseFlash(t, "stm32f103c8", old)
		tg, err := NewFlashTarget(f)
		if err != nil {
			t.Fatal(err)
		}
		ops := f.Ops()
		m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: pkg})
		_, err = Run(t.Context(), m.client(t), testConfig(tg))
		var pe *PolicyError
		if !errors.As(err, &pe) || pe.What != "space" || pe.Need != int64(len(img)) {
			t.Fatalf("Run = %v, want a space PolicyError for the %d-byte image", err, len(img))
		}
		if f.Ops() != ops {
			t.Error("the flash was touched")
		}
	})
}

// TestFileDeltaResume resets the MCU in the middle of a delta applied to
// a file: target: the file keeps the old image until the commit, the
// restart reads the applied chunks back from the partial file and goes
// on, and the file ends as the new image.
func TestFileDeltaResume(t *testing.T) {
	old := image(101, 30000)
	img := newBuild(old, 102)
	pkg, _ := buildPackage(t, old, img)
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "app.bin")
		if err := os.WriteFile(path, old, 0o644); err != nil {
			t.Fatal(err)
		}
		tg, err := OpenTarget("file:" + path)
		if err != nil {
			t.Fatal(err)
		}
		m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: pkg})
		cfg := testConfig(&dyingTarget{Target: tg, failAt: 4})
		cfg.Journal = filepath.Join(dir, "journal.json")
		if _, err := Run(t.Context(), m.client(t), cfg); !powerLost(err) {
			t.Fatalf("first run: %v, want the reset", err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
			t.Fatal("the file changed before the commit")
		}
		cfg.Target = tg
		res, err := Run(t.Context(), m.client(t), cfg)
		if err != nil || len(res.Updated) != 1 || res.Updated[0].Resumed == 0 {
			t.Fatalf("restart: %+v, %v; want the apply resumed", res, err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, img) {
			t.Fatal("the file does not hold the new image")
		}
	})
}
