package mcu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/atota/atota/internal/atomicfile"
)

// The journal is a small JSON file the MCU rewrites atomically (a
// temporary file, fsynced, renamed, the directory fsynced) at each
// durable step, so that a reset at any moment resumes where it stopped:
//
//	{
//	  "format": 1,
//	  "target": "flashsim:/var/lib/atota/flash.bin?part=stm32f103c8",
//	  "installed": {"STM32": "2_0_0"},
//	  "transfer": {
//	    "component": "STM32", "from": "1_0_0", "to": "2_0_0",
//	    "size": 30000, "md5": "…", "sha256": "…", "crc": 4022793929,
//	    "crc_variant": "CRC-32/MPEG-2",
//	    "committed": 9216, "piece_start": 8192, "piece_len": 8192,
//	    "phase": "downloading", "image": "slot=B size=30000"
//	  }
//	}
//
// "committed" is how many bytes from the start of the image the target
// has made durable: it is written after they are, and lowered before
// anything could destroy them, so it never claims more than the target
// holds. A restart reads nothing below it again; at most the one block
// that was being written when the reset came is read twice. "installed"
// holds the versions this MCU now runs because of updates it made; they
// replace the configured versions in AT+QIOTMCUVER.
type journalState struct {
	Format    int               `json:"format"`
	Target    string            `json:"target"`
	Installed map[string]string `json:"installed,omitempty"`
	Transfer  *record           `json:"transfer,omitempty"`
}

// journalFormat is the format number this package writes and reads.
const journalFormat = 1

// Phases of a journal record.
const (
	// recDownloading: blocks are being read and written.
	recDownloading = "downloading"
	// recVerified: the whole image is in the target and matched its
	// digests; AT+QIOTUPDATE=3 and the commit come next.
	recVerified = "verified"
	// recCommitting: the commit has started; it may or may not have
	// happened.
	recCommitting = "committing"
	// recCommitted: the image runs (on trial where the target has
	// trials); its version is to be reported, then it is confirmed.
	recCommitted = "committed"
)

// record is the component being transferred.
type record struct {
	Component  string `json:"component"`
	From       string `json:"from"`
	To         string `json:"to"`
	Size       int64  `json:"size"`
	MD5        string `json:"md5"`
	SHA256     string `json:"sha256,omitempty"`
	CRC        uint32 `json:"crc"`
	CRCVariant string `json:"crc_variant"`
	Committed  int64  `json:"committed"`
	PieceStart int64  `json:"piece_start"`
	PieceLen   int64  `json:"piece_len"`
	Phase      string `json:"phase"`
	Image      string `json:"image,omitempty"`
	// Package describes the image a package builds; nil for a raw image,
	// whose size and digests are those above.
	Package *pkgRecord `json:"package,omitempty"`
}

// pkgRecord is what the journal keeps of a package being applied: the
// record's size and digests are the package file's (7,10701), Committed
// is the package byte the apply goes on from, and Image the state of the
// image the package builds, which holds the first Chunks chunks.
type pkgRecord struct {
	Kind         string `json:"kind"` // "full" or "delta"
	TargetSize   int64  `json:"target_size"`
	TargetSHA256 string `json:"target_sha256"`
	Chunks       int    `json:"chunks"`  // chunks applied and durable
	Applied      int64  `json:"applied"` // the image bytes they are
	// Key is the ID of the key (Config.VerifyKey) its signature was
	// verified with; "" when none was asked for.
	Key string `json:"key,omitempty"`
	// MD5 and CRC of the built image, once verified.
	MD5 string `json:"md5,omitempty"`
	CRC uint32 `json:"crc,omitempty"`
}

// valid reports whether a package record read from a journal is possible.
func (p *pkgRecord) valid() bool {
	return p.TargetSize > 0 && p.Chunks >= 0 && p.Applied >= 0 && p.Applied <= p.TargetSize && len(p.TargetSHA256) == 64
}

// matches reports whether st announces the image r was receiving.
func (r *record) matches(st Start, target string) bool {
	return r.Component == st.Component && r.Size == st.Size && r.MD5 == st.MD5 && r.CRC == st.CRC &&
		(r.SHA256 == "" || st.SHA256 == "" || r.SHA256 == st.SHA256) && r.To == target
}

// start returns the 7,10701 digests r holds.
func (r *record) start() Start {
	return Start{Component: r.Component, Size: r.Size, MD5: r.MD5, CRC: r.CRC, SHA256: r.SHA256}
}

// image returns the size and digests of the image in the target: for a
// package, those of the image it builds (MD5 and CRC once verified).
func (r *record) image() Start {
	if p := r.Package; p != nil {
		return Start{Component: r.Component, Size: p.TargetSize, MD5: p.MD5, CRC: p.CRC, SHA256: p.TargetSHA256}
	}
	return r.start()
}

// journal is the MCU's journal: in a file, or only in memory (path "")
// when none was configured, which still lets an Agent resume after a
// lost link.
type journal struct {
	path string
	st   journalState
}

// loadJournal reads the journal at path, or starts an empty one. A
// journal written for another target is an error.
func loadJournal(path, target string) (*journal, error) {
	j := &journal{path: path, st: journalState{Format: journalFormat, Target: target}}
	if path == "" {
		return j, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mcu: journal: %w", err)
	}
	var st journalState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("mcu: journal %s: %v; it is not a journal this program wrote: move it aside to start over", path, err)
	}
	switch {
	case st.Format != journalFormat:
		return nil, fmt.Errorf("mcu: journal %s: format %d, this program reads %d; move it aside to start over", path, st.Format, journalFormat)
	case st.Target != target:
		return nil, fmt.Errorf("mcu: journal %s belongs to target %s, not %s; give each target its own --journal file", path, st.Target, target)
	case st.Transfer != nil && (st.Transfer.Component == "" || st.Transfer.Size <= 0 || st.Transfer.Committed < 0 || st.Transfer.Committed > st.Transfer.Size):
		return nil, fmt.Errorf("mcu: journal %s: transfer record %+v is impossible; move the journal aside to start over", path, *st.Transfer)
	case st.Transfer != nil && st.Transfer.Package != nil && !st.Transfer.Package.valid():
		return nil, fmt.Errorf("mcu: journal %s: package record %+v is impossible; move the journal aside to start over", path, *st.Transfer.Package)
	}
	j.st = st
	return j, nil
}

// save writes the journal atomically.
func (j *journal) save() error {
	if j.path == "" {
		return nil
	}
	if err := atomicfile.WriteJSON(j.path, j.st, 0o644); err != nil {
		return fmt.Errorf("mcu: journal: %w", err)
	}
	return nil
}

// transfer returns the record of the component being transferred, or nil.
func (j *journal) transfer() *record { return j.st.Transfer }

// setTransfer records r (nil: no transfer) and saves.
func (j *journal) setTransfer(r *record) error {
	if r != nil {
		c := *r
		if c.Package != nil {
			p := *c.Package
			c.Package = &p
		}
		r = &c
	}
	j.st.Transfer = r
	return j.save()
}

// installedVersion returns the version of a component this MCU installed.
func (j *journal) installedVersion(id string) (string, bool) {
	v, ok := j.st.Installed[id]
	return v, ok
}

// finish records that the component runs version v and ends its transfer.
func (j *journal) finish(id, v string) error {
	if j.st.Installed == nil {
		j.st.Installed = map[string]string{}
	}
	j.st.Installed[id] = v
	j.st.Transfer = nil
	return j.save()
}
