package pack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"sync"
	"testing"
)

// testKey is a fixed signing key, so test packages are reproducible.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// otherKey is a key the tests do not trust.
var otherKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// smallBase is a 128 KiB firmware model the functional tests change.
var smallBase = sync.OnceValue(func() *firmware { return newFirmware(1, 128<<10, "2.4.0") })

// smallOpts keep test packages quick to build under -race.
var smallOpts = []Option{WithChunkSize(16 << 10), WithDictSize(48 << 10), WithFastEncoder()}

// build writes a package with write and reads its header back.
func build(t testing.TB, write func(*bytes.Buffer) (*Header, error)) (pkg []byte, h *Header) {
	t.Helper()
	var buf bytes.Buffer
	wh, err := write(&buf)
	if err != nil {
		t.Fatalf("build package: %v", err)
	}
	h, err = ReadHeader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("ReadHeader of a package just built: %v", err)
	}
	if !bytes.Equal(h.Bytes(), wh.Bytes()) {
		t.Fatal("ReadHeader's bytes differ from the written header's")
	}
	return buf.Bytes(), h
}

// apply runs Apply on pkg and returns what it wrote.
func apply(pkg []byte, h *Header, old []byte, opts ...ApplyOption) ([]byte, error) {
	var out bytes.Buffer
	err := Apply(context.Background(), h, bytes.NewReader(pkg[h.Size():]), bytes.NewReader(old), &out, opts...)
	return out.Bytes(), err
}

// countingWriter counts the bytes written to it.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
