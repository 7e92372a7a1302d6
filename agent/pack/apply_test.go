package pack

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestDeltaWrongSource(t *testing.T) {
	base := smallBase()
	old := base.build()
	target := firmwareChanges[0].change(base).build()
	pkg, h := build(t, func(b *bytes.Buffer) (*Header, error) { return WriteDelta(b, old, target, smallOpts...) })
	tests := []struct {
		name  string
		image []byte
	}{
		{name: "other image", image: firmwareChanges[4].change(base).build()},
		{name: "one bit flipped", image: func() []byte { b := bytes.Clone(old); b[len(b)/2] ^= 1; return b }()},
		{name: "the target already", image: target},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out countingWriter
			err := Apply(context.Background(), h, bytes.NewReader(pkg[h.Size():]), bytes.NewReader(tt.image), &out)
			var sm *SourceMismatchError
			if !errors.As(err, &sm) {
				t.Fatalf("Apply: %v, want a *SourceMismatchError", err)
			}
			if out.n != 0 {
				t.Errorf("Apply wrote %d bytes before refusing, want 0", out.n)
			}
			for _, want := range []string{hex.EncodeToString(h.SourceSHA256[:]), hex.EncodeToString(sm.Got[:])} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name hash %s", err, want)
				}
			}
		})
	}
	t.Run("short image", func(t *testing.T) {
		var out countingWriter
		err := Apply(context.Background(), h, bytes.NewReader(pkg[h.Size():]), bytes.NewReader(old[:100]), &out)
		if err == nil || out.n != 0 {
			t.Fatalf("Apply on a 100-byte image: err %v, %d bytes written; want an error and 0 bytes", err, out.n)
		}
	})
}

func TestCorruptPayload(t *testing.T) {
	base := smallBase()
	old := base.build()
	target := firmwareChanges[3].change(base).build()
	for _, kind := range []string{"full", "delta"} {
		t.Run(kind, func(t *testing.T) {
			pkg, h := build(t, func(b *bytes.Buffer) (*Header, error) {
				if kind == "full" {
					return WriteFull(b, target, smallOpts...)
				}
				return WriteDelta(b, old, target, smallOpts...)
			})
			c := h.Chunks[3]
			bad := bytes.Clone(pkg)
			bad[c.PayloadOffset+int64(c.PayloadSize)/2] ^= 0x40
			got, err := apply(bad, h, old)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Apply of a damaged chunk: %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), "chunk 3") {
				t.Errorf("error %q does not name chunk 3", err)
			}
			if int64(len(got)) != c.TargetOffset {
				t.Errorf("Apply wrote %d bytes, want the %d bytes of the chunks before the damaged one", len(got), c.TargetOffset)
			}
			// A truncated package is a read error naming the chunk.
			_, err = apply(pkg[:len(pkg)-10], h, old)
			if err == nil || !strings.Contains(err.Error(), "read chunk") {
				t.Errorf("Apply of a truncated package: %v, want a read error", err)
			}
		})
	}
}

// TestResume stops an apply after each chunk in turn, as a reset would,
// then resumes it from the count the journal holds.
func TestResume(t *testing.T) {
	base := smallBase()
	old := base.build()
	target := firmwareChanges[0].change(base).build()
	pkg, h := build(t, func(b *bytes.Buffer) (*Header, error) { return WriteDelta(b, old, target, smallOpts...) })
	crash := errors.New("power cut")
	for stop := range len(h.Chunks) {
		var slot bytes.Buffer // the inactive slot, written in order
		journal := 0
		err := Apply(context.Background(), h, bytes.NewReader(pkg[h.Size():]), bytes.NewReader(old), &slot,
			OnChunk(func(c Chunk) error {
				journal = c.Index + 1
				if c.Index == stop {
					return crash
				}
				return nil
			}))
		if !errors.Is(err, crash) {
			t.Fatalf("stop after chunk %d: Apply: %v, want the callback's error", stop, err)
		}
		c := h.Chunks[journal%len(h.Chunks)]
		written := bytes.NewReader(slot.Bytes())
		var rest bytes.Buffer
		payload := bytes.NewReader(pkg[min(int64(len(pkg)), c.PayloadOffset):])
		if err := Apply(context.Background(), h, payload, bytes.NewReader(old), &rest, ResumeAt(journal, written)); err != nil {
			t.Fatalf("resume at chunk %d: %v", journal, err)
		}
		if got := append(slot.Bytes(), rest.Bytes()...); !bytes.Equal(got, target) {
			t.Fatalf("resume at chunk %d: the slot holds other bytes than the target", journal)
		}
	}
	t.Run("journal ahead of the flash", func(t *testing.T) {
		slot := bytes.Clone(target)
		copy(slot[h.Chunks[1].TargetOffset:], make([]byte, 100)) // chunk 1 never made it
		c := h.Chunks[3]
		var out countingWriter
		err := Apply(context.Background(), h, bytes.NewReader(pkg[c.PayloadOffset:]), bytes.NewReader(old), &out, ResumeAt(3, bytes.NewReader(slot)))
		if !errors.Is(err, ErrResumeMismatch) || !strings.Contains(err.Error(), "chunk 1") {
			t.Fatalf("resume over a missing chunk: %v, want ErrResumeMismatch naming chunk 1", err)
		}
		if out.n != 0 {
			t.Errorf("wrote %d bytes, want 0", out.n)
		}
	})
	t.Run("bad resume point", func(t *testing.T) {
		for _, opt := range []ApplyOption{ResumeAt(-1, bytes.NewReader(target)), ResumeAt(len(h.Chunks)+1, bytes.NewReader(target)), ResumeAt(2, nil)} {
			if _, err := apply(pkg, h, old, opt); err == nil {
				t.Error("Apply accepted a bad resume point")
			}
		}
	})
}

func TestApplyCancelled(t *testing.T) {
	old := smallBase().build()
	pkg, h := build(t, func(b *bytes.Buffer) (*Header, error) { return WriteFull(b, old, smallOpts...) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Apply(ctx, h, bytes.NewReader(pkg[h.Size():]), nil, &countingWriter{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestVerifyTarget(t *testing.T) {
	base := smallBase()
	img := base.build()
	_, h := build(t, func(b *bytes.Buffer) (*Header, error) { return WriteFull(b, img, smallOpts...) })
	bad := bytes.Clone(img)
	bad[h.Chunks[2].TargetOffset+5] ^= 1
	tests := []struct {
		name    string
		slot    []byte
		errText string // "" for success
	}{
		{name: "same", slot: img},
		{name: "slot larger than the image", slot: append(bytes.Clone(img), 0xff, 0xff)},
		{name: "one bit off", slot: bad, errText: "chunk 2"},
		{name: "too short", slot: img[:1000], errText: "read chunk 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyTarget(context.Background(), h, bytes.NewReader(tt.slot))
			switch {
			case tt.errText == "" && err != nil:
				t.Fatalf("VerifyTarget: %v", err)
			case tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)):
				t.Fatalf("VerifyTarget: %v, want an error naming %q", err, tt.errText)
			}
		})
	}
}
