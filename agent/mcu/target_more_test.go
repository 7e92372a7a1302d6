package mcu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/flashsim"
	"github.com/atota/atota/transport"
)

func TestExecTarget(t *testing.T) {
	img := image(90, 5000)
	tests := []struct {
		name    string
		command string // DEST is replaced by a path in the test's directory
		wantErr string
		check   func(t *testing.T, dest string)
	}{
		{name: "placeholder", command: "cp {} DEST", check: func(t *testing.T, dest string) { checkFile(t, dest, true, img) }},
		{name: "appended", command: "test -s"},
		{name: "fails", command: "echo flasher says no >&2; exit 3", wantErr: "flasher says no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				dest := filepath.Join(dir, "out.bin")
				tg, err := OpenTarget("exec:"+strings.ReplaceAll(tt.command, "DEST", dest), WithWorkDir(dir))
				if err != nil {
					t.Fatal(err)
				}
				m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img})
				res, err := Run(t.Context(), m.client(t), testConfig(tg))
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("Run = %v, want an error with %q", err, tt.wantErr)
					}
					checkOrder(t, m.commands(), "AT+QIOTUPDATE=3", `AT+QIOTMCUVER="STM32","1_0_0"`)
					return
				}
				if err != nil || len(res.Updated) != 1 {
					t.Fatalf("Run = %+v, %v", res, err)
				}
				if tt.check != nil {
					tt.check(t, dest)
				}
				if left, _ := filepath.Glob(filepath.Join(dir, "*atota-exec*")); len(left) > 0 {
					t.Errorf("staged files left: %q", left)
				}
			})
		})
	}
}

func TestFileTargetResume(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.bin")
	img := image(91, 4000)
	tg, err := OpenTarget("file:" + path)
	if err != nil {
		t.Fatal(err)
	}
	im, err := tg.Open(ctx, ImageSpec{Component: "A", Size: 4000})
	if err != nil {
		t.Fatal(err)
	}
	im.WriteAt(img[:1500], 0)
	if n, err := im.Sync(); err != nil || n != 1500 {
		t.Fatalf("Sync = %d, %v", n, err)
	}
	im.WriteAt(img[1500:2000], 1500) // never synced: a kill comes
	state := im.State()
	im.Close()

	if _, err := tg.Open(ctx, ImageSpec{Component: "A", Size: 4000, Resume: "partial=/elsewhere", Done: 1500}); !errors.Is(err, ErrResume) {
		t.Errorf("Open with a foreign state = %v, want ErrResume", err)
	}
	im, err = tg.Open(ctx, ImageSpec{Component: "A", Size: 4000, Resume: state, Done: 1500})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.WriteAt(img[1500:], 1500); err != nil {
		t.Fatal(err)
	}
	if n, err := im.Sync(); err != nil || n != 4000 {
		t.Fatalf("Sync = %d, %v", n, err)
	}
	if _, err := im.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, true, img)
	// A commit that happened before a reset: the resume finds the file.
	im, err = tg.Open(ctx, ImageSpec{Component: "A", Size: 4000, Resume: state, Done: 4000})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, im, 4000); !bytes.Equal(got, img) {
		t.Error("the committed image reads back wrong")
	}
	if _, err := im.Commit(ctx); err != nil {
		t.Errorf("Commit again = %v, want nothing to do", err)
	}
	im.Close()
	if c, err := tg.Capacity(ctx); err != nil || c <= 0 {
		t.Errorf("Capacity = %d, %v; want the free space", c, err)
	}
}

// TestFlashTargetRepair tears a half-word in a page that already holds
// committed bytes (an F1 cannot program it again) and checks that the
// resume repairs the page, rewinding the journal first.
func TestFlashTargetRepair(t *testing.T) {
	ctx := context.Background()
	p, _ := flashsim.LookupPart("stm32f103c8")
	f := flashsim.New(p)
	tg, err := NewFlashTarget(f)
	if err != nil {
		t.Fatal(err)
	}
	img := image(92, 3000)
	im, err := tg.Open(ctx, ImageSpec{Component: "A", Size: 3000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.WriteAt(img[:1200], 0); err != nil {
		t.Fatal(err)
	}
	done, _ := im.Sync()
	state := im.State()
	// Tear the next write: units of it are left half programmed (the
	// operation number seeds the tear; this one leaves some).
	tg2, _ := NewFlashTarget(f)
	im2, _ := tg2.Open(ctx, ImageSpec{Component: "A", Size: 3000, Resume: state, Done: done})
	f.PowerCutAfter(1)
	if _, err := im2.WriteAt(img[1200:2000], 1200); !errors.Is(err, flashsim.ErrPowerCut) {
		t.Fatal("the write was not cut")
	}
	f.PowerOn()
	b := make([]byte, 800)
	f.ReadAt(b, tg2.(*flashTarget).dev.Inactive().Off+1200)
	half := false
	for i := 0; i < 800; i += 2 {
		if !bytes.Equal(b[i:i+2], []byte{0xFF, 0xFF}) && !bytes.Equal(b[i:i+2], img[1200+i:1202+i]) {
			half = true
		}
	}
	if !half {
		t.Fatal("the tear left no half-programmed unit; pick another cut")
	}
	var noted []string
	tg3, _ := NewFlashTarget(f)
	im3, err := tg3.Open(ctx, ImageSpec{Component: "A", Size: 3000, Resume: state, Done: done,
		Checkpoint: func(n int64, state string) error {
			noted = append(noted, state)
			if n != done || !strings.HasPrefix(state, "slot=B size=3000 repair=1024:") {
				t.Errorf("Checkpoint(%d, %.40q), want %d and a copy of the page from 1024", n, state, done)
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im3.WriteAt(img[1200:], 1200); err != nil {
		t.Fatalf("writing over the torn units: %v", err)
	}
	if n, err := im3.Sync(); err != nil || n != 3000 {
		t.Fatalf("Sync = %d, %v", n, err)
	}
	if got := readAll(t, im3, 3000); !bytes.Equal(got, img) {
		t.Fatal("the repaired image reads back wrong")
	}
	if len(noted) != 1 {
		t.Fatalf("%d checkpoints, want one before the repair", len(noted))
	}
	if im3.State() != "slot=B size=3000" {
		t.Errorf("State after the repair = %q, want no copy", im3.State())
	}
}

// TestFlashTargetRepairCut cuts the power during a repair.
func TestFlashTargetRepairCut(t *testing.T) {
	ctx := context.Background()
	p, _ := flashsim.LookupPart("stm32f103c8")
	img := image(92, 3000)
	for cut := 1; cut <= 3; cut++ { // the erase, the prefix, the block
		f := flashsim.New(p)
		tg, _ := NewFlashTarget(f)
		im, _ := tg.Open(ctx, ImageSpec{Component: "A", Size: 3000})
		im.WriteAt(img[:1200], 0)
		done, _ := im.Sync()
		state := im.State()
		tg2, _ := NewFlashTarget(f)
		im2, _ := tg2.Open(ctx, ImageSpec{Component: "A", Size: 3000, Resume: state, Done: done})
		f.PowerCutAfter(1)
		im2.WriteAt(img[1200:2000], 1200) // torn
		f.PowerOn()
		var journalState string
		journalDone := done
		tg3, _ := NewFlashTarget(f)
		im3, err := tg3.Open(ctx, ImageSpec{Component: "A", Size: 3000, Resume: state, Done: done,
			Checkpoint: func(n int64, s string) error { journalDone, journalState = n, s; return nil }})
		if err != nil {
			t.Fatal(err)
		}
		f.PowerCutAfter(cut)
		if _, err := im3.WriteAt(img[1200:2000], 1200); !errors.Is(err, flashsim.ErrPowerCut) {
			t.Fatalf("cut %d: the repair was not cut: %v", cut, err)
		}
		f.PowerOn()
		if journalState == "" {
			t.Fatalf("cut %d: no checkpoint before the repair", cut)
		}
		tg4, _ := NewFlashTarget(f)
		im4, err := tg4.Open(ctx, ImageSpec{Component: "A", Size: 3000, Resume: journalState, Done: journalDone})
		if err != nil {
			t.Fatalf("cut %d: resuming the repair: %v", cut, err)
		}
		if _, err := im4.WriteAt(img[journalDone:], journalDone); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if n, err := im4.Sync(); err != nil || n != 3000 {
			t.Fatalf("cut %d: Sync = %d, %v", cut, n, err)
		}
		if got := readAll(t, im4, 3000); !bytes.Equal(got, img) {
			t.Fatalf("cut %d: the image reads back wrong", cut)
		}
	}
}

func bootloaderLink(t *testing.T, f *flashsim.Flash) (dial func(context.Context) (io.ReadWriteCloser, error), bl *flashsim.Bootloader) {
	bl, err := flashsim.NewBootloader(f)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		a, b := transport.Pipe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer b.Close()
			mu.Lock()
			defer mu.Unlock()
			bl.Reset()
			bl.Serve(context.Background(), b)
		}()
		return a, nil
	}, bl
}

func TestSTM32Target(t *testing.T) {
	img := image(93, 9000)
	tests := []struct {
		name    string
		part    string
		query   string
		corrupt bool
		wantErr string
	}{
		{name: "F1, erase 0x43", part: "stm32f103c8"},
		{name: "F4, extended erase", part: "stm32f407vg", query: "?part=stm32f407vg"},
		{name: "at an offset, no go", part: "stm32f103c8", query: "?addr=0x08004000&go=false"},
		{name: "bad staged image", part: "stm32f103c8", corrupt: true, wantErr: "the device was not touched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, _ := flashsim.LookupPart(tt.part)
				f := flashsim.New(p)
				old := bytes.Repeat([]byte{0x5A}, 256)
				f.WriteAt(old, 0)
				dial, bl := bootloaderLink(t, f)
				tgt, err := OpenTarget("stm32:/dev/ttyUSB9"+tt.query, WithWorkDir(t.TempDir()))
				if err != nil {
					t.Fatal(err)
				}
				st := tgt.(*stm32Target)
				st.dialer = dial
				defer st.Close()
				m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img})
				if tt.corrupt {
					m.otard = func(i int, a *otardAnswer) {
						if i == 2 {
							a.Data[0] ^= 1
						}
					}
				}
				res, err := Run(t.Context(), m.client(t), testConfig(tgt))
				if tt.wantErr != "" {
					if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("Run = %v, want ErrVerify with %q", err, tt.wantErr)
					}
					got := make([]byte, 256)
					f.ReadAt(got, 0)
					if !bytes.Equal(got, old) {
						t.Error("the device's old program was touched")
					}
					return
				}
				if err != nil || len(res.Updated) != 1 {
					t.Fatalf("Run = %+v, %v", res, err)
				}
				off := int64(st.addr - p.Base)
				got := make([]byte, len(img))
				f.ReadAt(got, off)
				if !bytes.Equal(got, img) {
					t.Fatal("the flash does not hold the image")
				}
				if st.start != (bl.Started() == st.addr) {
					t.Errorf("Started() = %#x, go=%v", bl.Started(), st.start)
				}
				if left, _ := filepath.Glob(filepath.Join(st.dir, "*atota-stm32*")); len(left) > 0 {
					t.Errorf("staged files left: %q", left)
				}
			})
		})
	}
}

func TestSTM32Capacity(t *testing.T) {
	p, _ := flashsim.LookupPart("stm32f103c8")
	dial, _ := bootloaderLink(t, flashsim.New(p))
	tg, err := OpenTarget("stm32:/dev/ttyUSB9?addr=0x08001000", WithWorkDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	st := tg.(*stm32Target)
	st.dialer = dial
	defer st.Close()
	// The ID 0x410 says "F10x medium density": up to 128 KiB, as
	// stm32flash assumes.
	if c, err := tg.Capacity(context.Background()); err != nil || c != 128*1024-0x1000 {
		t.Errorf("Capacity = %d, %v; want %d", c, err, 128*1024-0x1000)
	}
}
