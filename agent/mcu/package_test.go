package mcu

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/agent/pack"
)

// newBuild returns old with the changes of a rebuild: a few bytes
// patched, a block inserted (everything after it moves) and a version
// string changed, as two builds of the same firmware differ.
func newBuild(old []byte, seed uint64) []byte {
	b := bytes.Clone(old)
	for i := 0; i < len(b); i += len(b) / 7 {
		b[i] ^= byte(seed) | 1
	}
	at := len(b) / 3
	b = append(b[:at:at], append(image(seed, 300), b[at:]...)...)
	copy(b[len(b)-32:], "version 2.0.0 build 0042")
	return b
}

// testKeys are fixed signing keys.
var (
	trustedKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	strangeKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
)

func pubKey(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// buildPackage builds a full package of img (old nil) or a delta from old.
func buildPackage(t testing.TB, old, img []byte, opts ...pack.Option) ([]byte, *pack.Header) {
	t.Helper()
	var buf bytes.Buffer
	opts = append([]pack.Option{pack.WithChunkSize(4096), pack.WithFastEncoder()}, opts...)
	var h *pack.Header
	var err error
	if old == nil {
		h, err = pack.WriteFull(&buf, img, opts...)
	} else {
		h, err = pack.WriteDelta(&buf, old, img, opts...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), h
}

func TestRunPackage(t *testing.T) {
	old := image(40, 30000)
	img := newBuild(old, 41)
	delta, dh := buildPackage(t, old, img)
	full, _ := buildPackage(t, nil, img, pack.WithCompression(pack.Zstd))
	raw, _ := buildPackage(t, nil, img, pack.WithCompression(pack.None))
	if len(delta)*5 > len(img) {
		t.Fatalf("test delta is %d bytes for a %d-byte image: not a delta", len(delta), len(img))
	}
	tests := []struct {
		name, kind string
		pkg        []byte
		block      int
	}{
		{name: "delta", kind: "delta", pkg: delta, block: 1024},
		{name: "delta in odd blocks", kind: "delta", pkg: delta, block: 37},
		{name: "full zstd", kind: "full", pkg: full, block: 1024},
		{name: "full uncompressed", kind: "full", pkg: raw, block: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: tt.pkg})
				tg, path := seedFlash(t, "stm32f103c8", old)
				cfg := testConfig(tg)
				cfg.Block = tt.block
				cfg.Journal = filepath.Join(t.TempDir(), "journal.json")
				var prog progressLog
				cfg.Progress = prog.add
				res, err := Run(t.Context(), m.client(t), cfg)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Updated) != 1 {
					t.Fatalf("Result = %+v, want one update", res)
				}
				u := res.Updated[0]
				if u.Package != tt.kind || u.Digests != digest(t, img) || u.PackageSize != int64(len(tt.pkg)) || u.Resumed != 0 {
					t.Errorf("Updated = %+v, want a %s package building the image %v", u, tt.kind, digest(t, img))
				}
				if got := m.readBytes(); got != int64(len(tt.pkg)) {
					t.Errorf("read %d bytes over the link, want the %d of the package", got, len(tt.pkg))
				}
				checkActive(t, path, 'A', img)
				prog.check(t, map[string]int64{"STM32": int64(len(tt.pkg))})
				if j := readJournal(t, cfg.Journal); j.Transfer != nil || j.Installed["STM32"] != "2_0_0" {
					t.Errorf("journal after the update = %+v, want STM32 2_0_0 installed and no transfer", j)
				}
			})
		})
	}
	t.Run("file target", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.bin")
			if err := os.WriteFile(path, old, 0o644); err != nil {
				t.Fatal(err)
			}
			tg, err := OpenTarget("file:" + path)
			if err != nil {
				t.Fatal(err)
			}
			m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: delta})
			if _, err := Run(t.Context(), m.client(t), testConfig(tg)); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, img) {
				t.Fatalf("%s holds %d bytes, not the new image", path, len(got))
			}
		})
	})
	t.Run("target that cannot read its image", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tg, err := OpenTarget("exec:true {}", WithWorkDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: delta})
			_, err = Run(t.Context(), m.client(t), testConfig(tg))
			if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "send a full package") {
				t.Fatalf("Run = %v, want a refusal that says to send a full package", err)
			}
			if got, max := m.readBytes(), int64(dh.Size()+1024); got > max {
				t.Errorf("read %d bytes before refusing, want at most the header and a block (%d)", got, max)
			}
		})
	})
}

// refusal runs an update of pkg on a flash running old and checks it is
// refused before the flash is touched, with an error that says want.
func refusal(t *testing.T, old, pkg []byte, key ed25519.PublicKey, want ...any) error {
	t.Helper()
	var err error
	synctest.Test(t, func(t *testing.T) {
		f := baseFlash(t, "stm32f103c8", old)
		tg, terr := NewFlashTarget(f)
		if terr != nil {
			t.Fatal(terr)
		}
		ops := f.Ops()
		m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: pkg})
		cfg := testConfig(tg)
		cfg.VerifyKey = key
		cfg.Journal = filepath.Join(t.TempDir(), "journal.json")
		_, err = Run(t.Context(), m.client(t), cfg)
		if !errors.Is(err, ErrVerify) {
			t.Fatalf("Run = %v, want a refusal (ErrVerify)", err)
		}
		for _, w := range want {
			switch w := w.(type) {
			case string:
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			case error:
				if !errors.Is(err, w) {
					t.Errorf("error %q does not wrap %v", err, w)
				}
			}
		}
		if got := f.Ops(); got != ops {
			t.Errorf("the flash saw %d operations before the refusal, want none", got-ops)
		}
		if m.sent(`AT+QIOTMCUVER="STM32","2_0_0"`) || m.sent("AT+QIOTUPDATE=3") {
			t.Error("the refused update was reported")
		}
		if _, serr := os.Stat(cfg.Journal); serr == nil {
			if j := readJournal(t, cfg.Journal); j.Transfer != nil && j.Transfer.Image != "" {
				t.Errorf("the journal holds an image after a refusal: %+v", *j.Transfer)
			}
		}
	})
	return err
}

func TestPackageRefused(t *testing.T) {
	old := image(50, 20000)
	img := newBuild(old, 51)
	t.Run("wrong source", func(t *testing.T) {
		other := image(52, 20000)
		pkg, h := buildPackage(t, other, img)
		refusal(t, old, pkg, nil, hex.EncodeToString(h.SourceSHA256[:]), "nothing was written")
	})
	t.Run("wrong source names the running image", func(t *testing.T) {
		pkg, _ := buildPackage(t, img, newBuild(img, 53))
		err := refusal(t, old, pkg, nil)
		var sm *pack.SourceMismatchError
		if !errors.As(err, &sm) {
			t.Fatalf("error %v is not a *pack.SourceMismatchError", err)
		}
		if !strings.Contains(err.Error(), hex.EncodeToString(sm.Got[:])) {
			t.Errorf("error %q does not name the running image's hash", err)
		}
	})
	signed, _ := buildPackage(t, old, img, pack.WithSigner(trustedKey))
	unsigned, _ := buildPackage(t, old, img)
	strange, _ := buildPackage(t, old, img, pack.WithSigner(strangeKey))
	t.Run("unsigned", func(t *testing.T) { refusal(t, old, unsigned, pubKey(trustedKey), pack.ErrUnsigned) })
	t.Run("other key", func(t *testing.T) { refusal(t, old, strange, pubKey(trustedKey), pack.ErrBadSignature) })
	t.Run("raw image with a key", func(t *testing.T) {
		refusal(t, old, img, pubKey(trustedKey), pack.ErrUnsigned, "raw image")
	})
	t.Run("altered header", func(t *testing.T) {
		bad := bytes.Clone(signed)
		bad[30] ^= 1 // the target SHA-256
		refusal(t, old, bad, pubKey(trustedKey), "header")
	})
	t.Run("truncated", func(t *testing.T) {
		refusal(t, old, signed[:50], nil, "shorter than a package header")
	})
	t.Run("signed with the trusted key", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tg, path := seedFlash(t, "stm32f103c8", old)
			cfg := testConfig(tg)
			cfg.VerifyKey = pubKey(trustedKey)
			m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: signed})
			if _, err := Run(t.Context(), m.client(t), cfg); err != nil {
				t.Fatal(err)
			}
			checkActive(t, path, 'A', img)
		})
	})
}

// TestPackageDamaged serves a package whose chunk was altered after it
// was built (the module's digests are of what it serves): the chunk's
// SHA-256 in the header catches it and the old image runs.
func TestPackageDamaged(t *testing.T) {
	old := image(60, 20000)
	img := newBuild(old, 61)
	pkg, h := buildPackage(t, old, img)
	c := h.Chunks[2]
	pkg[c.PayloadOffset+int64(c.PayloadSize)/2] ^= 0x10
	synctest.Test(t, func(t *testing.T) {
		tg, path := seedFlash(t, "stm32f103c8", old)
		m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: pkg})
		_, err := Run(t.Context(), m.client(t), testConfig(tg))
		if !errors.Is(err, ErrVerify) || !errors.Is(err, pack.ErrCorrupt) || !strings.Contains(err.Error(), "chunk 2") {
			t.Fatalf("Run = %v, want ErrVerify and pack.ErrCorrupt naming chunk 2", err)
		}
		if m.sent("AT+QIOTUPDATE=3") {
			t.Error("the damaged update was reported")
		}
		checkActive(t, path, 'B', old)
	})
}

// packageSweepSetups are delta updates for the power-cut sweeps: on the
// F1 every 4 KiB chunk starts a page; on the F4 chunks end inside 16 KiB
// sectors, so a resume programs over a sector that holds applied chunks.
func packageSweepSetups(t *testing.T) []sweepSetup {
	var setups []sweepSetup
	for _, s := range []sweepSetup{
		{part: "stm32f103c8", block: 1024, piece: 4096, old: image(70, 12000)},
		{part: "stm32f407vg", block: 1000, piece: 8192, old: image(72, 20000)},
		// A full package of an image that does not compress: a payload
		// of many chunks, so cuts leave whole chunks to resume from.
		{part: "stm32f103c8", block: 1024, piece: 4096, old: image(74, 8000), img: image(75, 16000), wantResume: true},
	} {
		var h *pack.Header
		if s.img == nil {
			s.img = newBuild(s.old, 73)
			s.pkg, h = buildPackage(t, s.old, s.img)
		} else {
			s.pkg, h = buildPackage(t, nil, s.img)
		}
		maxPayload := 0
		for _, c := range h.Chunks {
			maxPayload = max(maxPayload, c.PayloadSize)
		}
		s.reread = int64(h.Size() + maxPayload + 2*s.block)
		setups = append(setups, s)
	}
	return setups
}

// TestPackagePowerCutSweep cuts the power at every flash operation of a
// delta update, the MCU restarting from its journal after each: the old
// or the new image boots, never a mix, and the update completes reading
// again no more than the header and the chunk being applied.
func TestPackagePowerCutSweep(t *testing.T) { sweep(t, packageSweepSetups(t)) }

// TestPackagePowerCutSeeds: up to three random cuts in one delta update;
// ATOTA_LONG=1 runs 1,000 seeds per setup.
func TestPackagePowerCutSeeds(t *testing.T) { seedCuts(t, packageSweepSetups(t)) }

// FuzzPackageDownload serves arbitrary bytes as the download of a
// device running a known image: the MCU must never panic, and an update
// it reports done must have built exactly what the bytes say (a raw
// image, or the image a package's header names); otherwise the old image
// must still be the one that boots.
func FuzzPackageDownload(f *testing.F) {
	old := image(90, 6000)
	img := newBuild(old, 91)
	delta, _ := buildPackage(f, old, img, pack.WithChunkSize(1024))
	full, _ := buildPackage(f, nil, img, pack.WithChunkSize(1024), pack.WithCompression(pack.None))
	f.Add(delta)
	f.Add(full)
	f.Add(delta[:pack.FixedHeaderSize+10])
	f.Add([]byte(pack.Magic))
	f.Add(img[:100])
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || len(data) > 64<<10 {
			return
		}
		synctest.Test(t, func(t *testing.T) {
			fl := baseFlash(t, "stm32f103c8", old)
			tg, err := NewFlashTarget(fl)
			if err != nil {
				t.Fatal(err)
			}
			m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: data})
			cfg := testConfig(tg)
			cfg.Logger = slog.New(slog.DiscardHandler)
			res, err := Run(t.Context(), m.client(t), cfg)
			d := device(t, fl)
			if err != nil {
				if got := slotImage(t, d, len(old)); !bytes.Equal(got, old) || d.Record().Pending.Name != 0 {
					t.Fatalf("Run failed (%v) and the old image is not the one that runs", err)
				}
				return
			}
			want := data
			if pack.IsPackage(data) {
				h, herr := pack.ReadHeader(bytes.NewReader(data))
				if herr != nil {
					t.Fatalf("Run applied a package whose header does not parse: %v", herr)
				}
				if len(res.Updated) != 1 || res.Updated[0].Digests.SHA256 != hex.EncodeToString(h.TargetSHA256[:]) {
					t.Fatalf("Run = %+v, want the image of sha256 %x", res, h.TargetSHA256)
				}
				want = slotImage(t, d, int(h.TargetSize))
				if sha256.Sum256(want) != h.TargetSHA256 {
					t.Fatal("the active slot does not hold the image the header names")
				}
				return
			}
			if got := slotImage(t, d, len(want)); !bytes.Equal(got, want) {
				t.Fatal("the active slot does not hold the raw image served")
			}
		})
	})
}

// TestSTM32Delta applies a delta to an STM32 through its ROM bootloader:
// the running program is read from the device, the new image staged and
// programmed over it once built and checked.
func TestSTM32Delta(t *testing.T) {
	old := image(95, 9000)
	img := newBuild(old, 96)
	pkg, _ := buildPackage(t, old, img)
	synctest.Test(t, func(t *testing.T) {
		f, dir := stm32Running(t, old)
		st := stm32At(t, f, dir)
		defer st.Close()
		m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: pkg})
		res, err := Run(t.Context(), m.client(t), testConfig(st))
		if err != nil || len(res.Updated) != 1 || res.Updated[0].Package != "delta" {
			t.Fatalf("Run = %+v, %v; want a delta update", res, err)
		}
		deviceHolds(t, f, img)
		if left, _ := filepath.Glob(filepath.Join(st.dir, "*atota-stm32*")); len(left) > 0 {
			t.Errorf("files left in the work directory: %q", left)
		}
	})
}
