package pack

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestApplierSplits feeds the payload to an Applier in random slices, as
// AT+QIOTOTARD blocks arrive, and checks each chunk is written as soon as
// its last byte is in.
func TestApplierSplits(t *testing.T) {
	base := smallBase()
	old := base.build()
	target := firmwareChanges[1].change(base).build()
	pkg, h := build(t, func(b *bytes.Buffer) (*Header, error) { return WriteDelta(b, old, target, smallOpts...) })
	payload := pkg[h.Size():]
	for _, maxSplit := range []int{1, 7, 1024, 40 << 10} {
		rng := rand.New(rand.NewPCG(uint64(maxSplit), 1))
		var out bytes.Buffer
		var written []int
		w, err := NewApplier(context.Background(), h, bytes.NewReader(old), &out, OnChunk(func(c Chunk) error {
			written = append(written, out.Len())
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		fed := int64(h.Size())
		for p := payload; len(p) > 0; {
			n := min(len(p), 1+rng.IntN(maxSplit))
			if _, err := w.Write(p[:n]); err != nil {
				t.Fatalf("split %d: Write at package byte %d: %v", maxSplit, fed, err)
			}
			fed += int64(n)
			p = p[n:]
			// Every chunk whose payload is all in has been written.
			done := 0
			for _, c := range h.Chunks {
				if c.PayloadOffset+int64(c.PayloadSize) <= fed {
					done++
				}
			}
			if w.Next() != done {
				t.Fatalf("split %d: after package byte %d: %d chunks written, want %d", maxSplit, fed, w.Next(), done)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatalf("split %d: Close: %v", maxSplit, err)
		}
		if !bytes.Equal(out.Bytes(), target) {
			t.Fatalf("split %d: the Applier wrote other bytes than the target", maxSplit)
		}
		for i, n := range written {
			if want := int(h.Chunks[i].TargetOffset) + h.Chunks[i].Size; n != want {
				t.Errorf("split %d: OnChunk(%d) after %d bytes written, want %d", maxSplit, i, n, want)
			}
		}
	}
}

func TestApplierErrors(t *testing.T) {
	base := smallBase()
	old := base.build()
	target := firmwareChanges[0].change(base).build()
	pkg, h := build(t, func(b *bytes.Buffer) (*Header, error) { return WriteDelta(b, old, target, smallOpts...) })
	payload := pkg[h.Size():]
	newApplier := func(t *testing.T) (*Applier, *countingWriter) {
		t.Helper()
		var out countingWriter
		w, err := NewApplier(context.Background(), h, bytes.NewReader(old), &out)
		if err != nil {
			t.Fatal(err)
		}
		return w, &out
	}
	t.Run("short payload", func(t *testing.T) {
		w, _ := newApplier(t)
		if _, err := w.Write(payload[:len(payload)-5]); err != nil {
			t.Fatal(err)
		}
		err := w.Close()
		if err == nil || !strings.Contains(err.Error(), "payload ended in chunk") {
			t.Fatalf("Close after a short payload: %v, want an error naming the chunk", err)
		}
	})
	t.Run("bytes past the end", func(t *testing.T) {
		w, _ := newApplier(t)
		n, err := w.Write(append(bytes.Clone(payload), 1, 2, 3))
		if err == nil || !strings.Contains(err.Error(), "3 bytes past the end") || n != len(payload) {
			t.Fatalf("Write of 3 extra bytes: n %d, %v; want %d and an error", n, err, len(payload))
		}
		if err2 := w.Close(); !errors.Is(err2, err) && err2.Error() != err.Error() {
			t.Errorf("Close: %v, want the Write error again", err2)
		}
	})
	t.Run("damaged chunk stops it", func(t *testing.T) {
		w, out := newApplier(t)
		bad := bytes.Clone(payload)
		c := h.Chunks[2]
		bad[c.PayloadOffset-int64(h.Size())+1] ^= 0x80
		_, err := w.Write(bad)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Write: %v, want ErrCorrupt", err)
		}
		if out.n != int(c.TargetOffset) {
			t.Errorf("wrote %d bytes, want the %d before chunk 2", out.n, c.TargetOffset)
		}
		if _, err := w.Write([]byte{0}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Write after the error: %v, want the error again", err)
		}
	})
	t.Run("wrong source", func(t *testing.T) {
		var out countingWriter
		_, err := NewApplier(context.Background(), h, bytes.NewReader(target), &out)
		var sm *SourceMismatchError
		if !errors.As(err, &sm) || out.n != 0 {
			t.Fatalf("NewApplier on the wrong image: %v, %d bytes; want a *SourceMismatchError and 0 bytes", err, out.n)
		}
	})
}

// TestApplierResumeDone resumes an apply whose every chunk was written:
// the source is not read (on a device that programs the new image over
// the old one it is gone), the written image is still checked whole.
func TestApplierResumeDone(t *testing.T) {
	base := smallBase()
	old := base.build()
	target := firmwareChanges[0].change(base).build()
	_, h := build(t, func(b *bytes.Buffer) (*Header, error) { return WriteDelta(b, old, target, smallOpts...) })
	var out countingWriter
	w, err := NewApplier(context.Background(), h, bytes.NewReader(target), &out, ResumeAt(len(h.Chunks), bytes.NewReader(target)))
	if err != nil {
		t.Fatalf("NewApplier with every chunk written, over another source: %v", err)
	}
	if err := w.Close(); err != nil || out.n != 0 {
		t.Fatalf("Close = %v after writing %d bytes; want nil and 0", err, out.n)
	}
	bad := bytes.Clone(target)
	bad[10] ^= 1
	if _, err := NewApplier(context.Background(), h, nil, &out, ResumeAt(len(h.Chunks), bytes.NewReader(bad))); !errors.Is(err, ErrResumeMismatch) {
		t.Fatalf("NewApplier over a damaged image: %v, want ErrResumeMismatch", err)
	}
}
