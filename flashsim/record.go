package flashsim

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
)

// Slot is one of the two image slots, with where it lies.
type Slot struct {
	Name byte // 'A' or 'B'; 0 for no slot
	Region
}

// String returns "A", "B" or "none".
func (s Slot) String() string {
	if s.Name == 0 {
		return "none"
	}
	return string(s.Name)
}

// BootRecord is the persistent boot state of a Device.
type BootRecord struct {
	Active      Slot     // the confirmed slot, booted when nothing is pending
	Pending     Slot     // the slot on trial; the zero Slot when none
	Tries       int      // boots of the pending slot so far
	MaxTries    int      // boots of a pending slot allowed before reverting
	ImageSize   int64    // size of the image last handed to SetPending
	ImageSHA256 [32]byte // its SHA-256
	Reverted    bool     // the last pending image was rejected; cleared by SetPending
	Seq         uint32   // sequence number; 0 until the first record is written
}

// Boot records are appended into erased space of the record region, one
// fixed-size slot each (64 bytes, rounded up to the write unit), little-endian:
//
//	0  magic "ABR1"   4  seq u32   8  active   9  pending   10 tries
//	11 maxTries       12 flags (bit 0: reverted)   13..15 zero
//	16 imageSize u64  24 imageSHA256 [32]   56..59 zero
//	60 CRC-32 (IEEE) of bytes 0..59
//
// A slot that reads all 0xFF is free; any other slot whose magic or CRC
// does not check out is the remains of a torn write or erase and is
// skipped, never written over. Sequence numbers start at 1; at 2^32-1
// records (far past the sectors' endurance) the record is full.
const (
	recordMagic = "ABR1"
	recordLen   = 64
)

// recordSlot returns the size of one record slot on part p.
func recordSlot(p Part) int {
	u := p.WriteUnit
	return (recordLen + u - 1) / u * u
}

// encodeRecord returns r encoded into a slot of n bytes (n >= recordLen),
// padded with 0xFF.
func encodeRecord(r BootRecord, n int) []byte {
	b := make([]byte, n)
	copy(b, recordMagic)
	binary.LittleEndian.PutUint32(b[4:], r.Seq)
	b[8] = r.Active.Name
	b[9] = r.Pending.Name
	b[10] = byte(r.Tries)
	b[11] = byte(r.MaxTries)
	if r.Reverted {
		b[12] = 1
	}
	binary.LittleEndian.PutUint64(b[16:], uint64(r.ImageSize))
	copy(b[24:56], r.ImageSHA256[:])
	binary.LittleEndian.PutUint32(b[60:], crc32.ChecksumIEEE(b[:60]))
	for i := recordLen; i < n; i++ {
		b[i] = 0xFF
	}
	return b
}

// decodeRecord decodes a record slot. It reports false for anything but
// a complete, consistent record. Slot regions are left zero.
func decodeRecord(b []byte) (BootRecord, bool) {
	if len(b) < recordLen || string(b[:4]) != recordMagic ||
		binary.LittleEndian.Uint32(b[60:]) != crc32.ChecksumIEEE(b[:60]) {
		return BootRecord{}, false
	}
	r := BootRecord{
		Active:    Slot{Name: b[8]},
		Pending:   Slot{Name: b[9]},
		Tries:     int(b[10]),
		MaxTries:  int(b[11]),
		Reverted:  b[12]&1 != 0,
		ImageSize: int64(binary.LittleEndian.Uint64(b[16:])),
		Seq:       binary.LittleEndian.Uint32(b[4:]),
	}
	copy(r.ImageSHA256[:], b[24:56])
	validSlot := r.Active.Name == 'A' || r.Active.Name == 'B'
	validPending := r.Pending.Name == 0 || (r.Pending.Name == 'A' || r.Pending.Name == 'B') && r.Pending.Name != r.Active.Name
	reserved := b[12]&^1 == 0 && allBytes(b[13:16], 0) && allBytes(b[56:60], 0)
	if !validSlot || !validPending || !reserved || r.MaxTries < 1 || r.ImageSize < 0 || r.Seq == 0 {
		return BootRecord{}, false
	}
	return r, true
}

// load reads the record region and keeps the newest valid record.
func (d *Device) load() error {
	d.rec = BootRecord{Active: d.slot('A'), MaxTries: d.cfg.maxTries}
	d.pos = recordPos{}
	n := recordSlot(d.f.part)
	buf := make([]byte, 64*n)
	for i, sec := range d.secs {
		for off := int64(0); off < sec.Size; off += int64(len(buf)) {
			chunk := buf[:min(int64(len(buf)), sec.Size-off)]
			if _, err := d.f.ReadAt(chunk, sec.Off+off); err != nil {
				return wrap("read boot record", err)
			}
			for j := 0; j*n < len(chunk); j++ {
				r, ok := decodeRecord(chunk[j*n : (j+1)*n])
				if ok && r.Seq > d.rec.Seq {
					r.Active = d.slot(r.Active.Name)
					r.Pending = d.slot(r.Pending.Name)
					d.rec, d.pos = r, recordPos{i, int(off)/n + j}
				}
			}
		}
	}
	d.stale = false
	return nil
}

// append writes r as the next record: in the free slot after the current
// record, or at the start of the next record sector after erasing it.
// On failure the Device is marked stale and rereads before its next change.
func (d *Device) append(r BootRecord) error {
	if d.rec.Seq == math.MaxUint32 {
		return errors.New("flashsim: boot record sequence numbers are used up; erase the record region")
	}
	r.Seq = d.rec.Seq + 1
	n := recordSlot(d.f.part)
	sec, slot, erase, err := d.nextSlot(n)
	if err != nil {
		d.stale = true
		return err
	}
	if erase {
		if err := d.f.Erase(d.secs[sec].Off, d.secs[sec].Size); err != nil {
			d.stale = true
			return err
		}
	}
	if _, err := d.f.WriteAt(encodeRecord(r, n), d.secs[sec].Off+int64(slot*n)); err != nil {
		d.stale = true
		return err
	}
	d.rec, d.pos = r, recordPos{sec, slot}
	return nil
}

// nextSlot finds where the next record goes and whether its sector must
// be erased first. A fresh device starts with an erase of the first
// record sector, so leftovers there cannot be mistaken for free space.
func (d *Device) nextSlot(n int) (sec, slot int, erase bool, err error) {
	if d.rec.Seq == 0 {
		return 0, 0, true, nil
	}
	cur := d.secs[d.pos.sec]
	buf := make([]byte, n)
	for j := d.pos.slot + 1; int64((j+1)*n) <= cur.Size; j++ {
		if _, err := d.f.ReadAt(buf, cur.Off+int64(j*n)); err != nil {
			return 0, 0, false, err
		}
		if allBytes(buf, 0xFF) {
			return d.pos.sec, j, false, nil
		}
	}
	return (d.pos.sec + 1) % len(d.secs), 0, true, nil
}
