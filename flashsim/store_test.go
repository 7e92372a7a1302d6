package flashsim

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// loadFresh loads the flash file at path as a new process would.
func loadFresh(t *testing.T, path string) *Flash {
	t.Helper()
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func sameFlash(t *testing.T, got, want *Flash) {
	t.Helper()
	if !bytes.Equal(got.data, want.data) {
		t.Fatal("the flash loaded differs from the flash synced")
	}
	if !equalInts(got.erases, want.erases) {
		t.Fatalf("erase counts %v, want %v", got.erases[:8], want.erases[:8])
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStoreSync(t *testing.T) {
	for _, part := range []string{"stm32f103c8", "stm32f407vg", "w25q32"} {
		t.Run(part, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "flash.bin")
			s, err := OpenStore(path, part)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("OpenStore created %s before any Sync (%v)", path, err)
			}
			f := s.Flash()
			d := newDevice(t, f)
			img := image(1, 5000)
			update(t, d, img)
			if err := s.Sync(); err != nil { // the first Sync saves the whole file
				t.Fatal(err)
			}
			sameFlash(t, loadFresh(t, path), f)
			if _, err := os.Stat(logPath(path)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a log exists after the first Sync: %v", err)
			}
			boot(t, d, 'B')
			if err := d.Confirm(); err != nil {
				t.Fatal(err)
			}
			if err := s.Sync(); err != nil { // now the log
				t.Fatal(err)
			}
			if _, err := os.Stat(logPath(path)); err != nil {
				t.Fatalf("no log after a Sync of an existing file: %v", err)
			}
			sameFlash(t, loadFresh(t, path), f)
			if err := s.Sync(); err != nil { // nothing new: nothing written
				t.Fatal(err)
			}
			if err := s.Save(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(logPath(path)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the log is still there after Save: %v", err)
			}
			sameFlash(t, loadFresh(t, path), f)
		})
	}
}

// TestStoreKill checks that operations after the last Sync are lost, as
// in a killed process, and that those before it are not.
func TestStoreKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flash.bin")
	s, err := OpenStore(path, "nrf52840")
	if err != nil {
		t.Fatal(err)
	}
	f := s.Flash()
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if err := f.EraseSector(3); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0x12}, 8), 3*4096); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	synced := f.Clone()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0x02}, 8), 3*4096); err != nil {
		t.Fatal(err)
	}
	s.Close() // killed: the last write was never synced
	sameFlash(t, loadFresh(t, path), synced)

	// A second store goes on from there and appends to the same log.
	s2, err := OpenStore(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	sameFlash(t, s2.Flash(), synced)
	if _, err := s2.Flash().WriteAt(bytes.Repeat([]byte{0x02}, 4), 3*4096+8); err != nil {
		t.Fatal(err)
	}
	if err := s2.Sync(); err != nil {
		t.Fatal(err)
	}
	sameFlash(t, loadFresh(t, path), s2.Flash())
}

// TestStoreTornLog checks that a log whose end was torn (a host losing
// power while appending) is replayed up to its last whole record, and
// that the next records go after that one.
func TestStoreTornLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flash.bin")
	s, err := OpenStore(path, "stm32f103c8")
	if err != nil {
		t.Fatal(err)
	}
	f := s.Flash()
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	var states []*Flash
	var ends []int64
	for i := range 3 {
		if _, err := f.WriteAt([]byte{byte(i), byte(i)}, int64(2*i)); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		states = append(states, f.Clone())
		fi, err := os.Stat(logPath(path))
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, fi.Size())
	}
	s.Close()
	full, err := os.ReadFile(logPath(path))
	if err != nil {
		t.Fatal(err)
	}
	for cut := ends[0]; cut < ends[2]; cut++ {
		if err := os.WriteFile(logPath(path), full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		want := states[0]
		if cut >= ends[1] {
			want = states[1]
		}
		sameFlash(t, loadFresh(t, path), want)
	}
	// A corrupted byte in the last record: replay stops before it.
	bad := bytes.Clone(full)
	bad[len(bad)-6] ^= 0x40
	if err := os.WriteFile(logPath(path), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	sameFlash(t, loadFresh(t, path), states[1])
	s2, err := OpenStore(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Flash().WriteAt([]byte{9, 9}, 100); err != nil {
		t.Fatal(err)
	}
	if err := s2.Sync(); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	got := loadFresh(t, path)
	sameFlash(t, got, s2.Flash())
	if got.data[4] != 0xFF || got.data[100] != 9 {
		t.Errorf("after the torn record: byte 4 = %#x, byte 100 = %#x; want 0xff and 9", got.data[4], got.data[100])
	}
}

// TestStoreStaleLog checks that a log left behind by a Save that did not
// get to remove it changes nothing when replayed again.
func TestStoreStaleLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flash.bin")
	s, err := OpenStore(path, "stm32f407vg")
	if err != nil {
		t.Fatal(err)
	}
	f := s.Flash()
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	d := newDevice(t, f)
	update(t, d, image(3, 40000))
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	stale, err := os.ReadFile(logPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.WriteFile(logPath(path), stale, 0o644); err != nil {
		t.Fatal(err)
	}
	sameFlash(t, loadFresh(t, path), f)
}

// TestStoreTornOperation checks that an operation torn by a power cut is
// persisted as torn: the flash file is the device's flash.
func TestStoreTornOperation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flash.bin")
	s, err := OpenStore(path, "stm32f407vg")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := s.Flash()
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	f.PowerCutAfter(2)
	if err := f.Erase(0, 32*1024); !errors.Is(err, ErrPowerCut) {
		t.Fatalf("Erase = %v, want a power cut", err)
	}
	f.PowerOn()
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	sameFlash(t, loadFresh(t, path), f)
}

func TestOpenStoreErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flash.bin")
	if err := New(mustPart(t, "nrf52840")).Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(path, "stm32f103c8"); err == nil {
		t.Error("OpenStore with another part succeeded")
	}
	if err := os.WriteFile(logPath(path), []byte("ATOTAFLG\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(path, ""); err == nil {
		t.Error("OpenStore with the log of another flash succeeded")
	}
	// A log without its file is dropped.
	other := filepath.Join(dir, "gone.bin")
	if err := os.WriteFile(logPath(other), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(other, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(logPath(other)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale log of a missing file kept: %v", err)
	}
}

func TestDeviceRevert(t *testing.T) {
	f := newFlash(t, "stm32f103c8")
	d := newDevice(t, f)
	if err := d.Revert(); err != nil { // nothing pending: nothing written
		t.Fatal(err)
	}
	if d.Record().Seq != 0 {
		t.Fatalf("Revert with nothing pending wrote record %d", d.Record().Seq)
	}
	img := image(4, 3000)
	update(t, d, img)
	boot(t, d, 'B')
	if err := d.Revert(); err != nil {
		t.Fatal(err)
	}
	r := d.Record()
	if r.Pending.Name != 0 || !r.Reverted || r.Active.Name != 'A' {
		t.Fatalf("record after Revert = %+v, want A active, nothing pending, reverted", r)
	}
	if d.Running().Name != 0 {
		t.Errorf("Running() = %v after Revert, want none until the next Boot", d.Running())
	}
	d = newDevice(t, f)
	boot(t, d, 'A')
	if err := d.SetPending(int64(len(img)), sha256.Sum256(img)); err != nil {
		t.Fatal(err)
	}
	if d.Record().Reverted {
		t.Error("SetPending kept the reverted flag")
	}
}

func FuzzReplay(f *testing.F) {
	fl := New(mustPart(f, "stm32f103c8"))
	fl.recording = true
	fl.EraseSector(2)
	fl.WriteAt([]byte{1, 2, 3, 4}, 2048)
	f.Add(append(fl.logFileHeader(), fl.oplog...))
	f.Add(fl.logFileHeader())
	f.Add([]byte("ATOTAFLG"))
	f.Fuzz(func(t *testing.T, log []byte) {
		g := New(mustPart(t, "stm32f103c8"))
		n, err := g.replay(bytes.NewReader(log))
		if n < 0 || n > int64(len(log)) {
			t.Fatalf("replay = %d of %d bytes", n, len(log))
		}
		if err != nil && n != 0 {
			t.Fatalf("replay = %d, %v", n, err)
		}
		// Replaying the whole records again gives the same flash.
		h := g.Clone()
		if _, err := h.replay(bytes.NewReader(log[:n])); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(g.data, h.data) {
			t.Fatal("replaying twice changed the flash")
		}
	})
}
