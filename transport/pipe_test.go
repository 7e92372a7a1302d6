package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestPipeBothWays(t *testing.T) {
	a, b := Pipe()
	defer a.Close()
	defer b.Close()
	send(t, a, "AT\r")
	expect(t, b, "AT\r")
	send(t, b, "OK\r\n")
	expect(t, a, "OK\r\n")
}

func TestPipeWriteDoesNotBlock(t *testing.T) {
	a, b := Pipe()
	defer a.Close()
	defer b.Close()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, nobody reading
	for range 8 {
		if n, err := a.Write(big); n != len(big) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(big))
		}
	}
	got := readN(t, b, 8*len(big))
	if !bytes.Equal(got[7*len(big):], big) {
		t.Error("the last MiB read differs from what was written")
	}
}

func TestPipeClose(t *testing.T) {
	tests := []struct {
		name  string
		close int // which end is closed: 0 for a, 1 for b
	}{
		{name: "close a", close: 0},
		{name: "close b", close: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ends := [2]io.ReadWriteCloser{}
			ends[0], ends[1] = Pipe()
			closed, other := ends[tt.close], ends[1-tt.close]
			send(t, closed, "left")
			if err := closed.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			expect(t, other, "left")
			if n, err := other.Read(make([]byte, 8)); n != 0 || err != io.EOF {
				t.Errorf("Read after peer closed = %d, %v; want 0, io.EOF", n, err)
			}
			if _, err := other.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
				t.Errorf("Write towards a closed end = %v, want io.ErrClosedPipe", err)
			}
			if _, err := closed.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
				t.Errorf("Write on a closed end = %v, want io.ErrClosedPipe", err)
			}
			if _, err := closed.Read(make([]byte, 1)); !errors.Is(err, io.ErrClosedPipe) {
				t.Errorf("Read on a closed end = %v, want io.ErrClosedPipe", err)
			}
			if err := closed.Close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
		})
	}
}

func TestPipeZeroLengthRead(t *testing.T) {
	a, b := Pipe()
	defer a.Close()
	defer b.Close()
	if n, err := a.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
}
