package flashsim

import (
	"bytes"
	"testing"
)

func TestRecordEncoding(t *testing.T) {
	r := BootRecord{
		Active: Slot{Name: 'B'}, Pending: Slot{Name: 'A'}, Tries: 2, MaxTries: 3,
		ImageSize: 123456, ImageSHA256: [32]byte{1, 2, 3}, Reverted: true, Seq: 77,
	}
	for _, n := range []int{64, 72} {
		b := encodeRecord(r, n)
		if len(b) != n || !allBytes(b[recordLen:], 0xFF) {
			t.Errorf("encodeRecord(_, %d) = %d bytes, padding % x; want %d bytes padded with 0xFF", n, len(b), b[recordLen:], n)
		}
		got, ok := decodeRecord(b)
		if !ok || got != r {
			t.Errorf("decodeRecord(encodeRecord(r)) = %+v, %v; want %+v", got, ok, r)
		}
	}
	bad := []struct {
		name   string
		change func(b []byte)
	}{
		{name: "erased", change: func(b []byte) { fill(b, 0xFF) }},
		{name: "bit flipped", change: func(b []byte) { b[30] ^= 4 }},
		{name: "crc cleared", change: func(b []byte) { b[63] = 0 }},
		{name: "last byte torn", change: func(b []byte) { b[63] &= 0x0F }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeRecord(r, recordLen)
			tt.change(b)
			if _, ok := decodeRecord(b); ok {
				t.Errorf("decodeRecord accepted a damaged record")
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(BootRecord{Active: Slot{Name: 'A'}, MaxTries: 3, Seq: 1}, recordLen))
	f.Add(bytes.Repeat([]byte{0xFF}, recordLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := decodeRecord(b)
		if !ok {
			return
		}
		if again := encodeRecord(r, recordLen); !bytes.Equal(again, b[:recordLen]) {
			t.Errorf("decoded record %+v encodes to % x, want % x", r, again, b[:recordLen])
		}
	})
}
