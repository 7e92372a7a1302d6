package scenario

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/atota/atota/agent/pack"
)

// What a plan component's generated file is (ComponentSpec.Package).
const (
	// PackageRaw is the image itself, as the plans of the first
	// scenarios were: the MCU writes what it reads.
	PackageRaw = "raw"
	// PackageFull is an atota package (agent/pack) of the whole image.
	PackageFull = "full"
	// PackageDelta is an atota package that rebuilds the image from the
	// one the MCU runs.
	PackageDelta = "delta"
)

// packageKinds are the values of ComponentSpec.Package.
var packageKinds = []string{PackageRaw, PackageFull, PackageDelta}

// What the emulated MCU checks package signatures with
// (MCUSpec.VerifyKey).
const (
	// VerifyScenario is the public half of the key a run signs packages
	// with (sign: true).
	VerifyScenario = "scenario"
	// VerifyWrong is a key that signed nothing: every package is refused.
	VerifyWrong = "wrong"
)

// packageChunk is the chunk size of the packages a run builds: a few KiB,
// as an MCU with tens of KiB of RAM applies, and a multiple of every
// flash part's smallest sector, so that a reset resumes at a chunk.
const packageChunk = 4 << 10

// The keys of a run: fixed, so that every run signs alike and a failing
// seed replays.
var (
	signingKey = ed25519.NewKeyFromSeed(seedOf("atota scenario signing key"))
	wrongKey   = ed25519.NewKeyFromSeed(seedOf("atota scenario key that signed nothing"))
)

func seedOf(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// verifyKey returns the public key of an MCUSpec.VerifyKey value, nil
// for none.
func verifyKey(name string) ed25519.PublicKey {
	switch name {
	case VerifyScenario:
		return signingKey.Public().(ed25519.PublicKey)
	case VerifyWrong:
		return wrongKey.Public().(ed25519.PublicKey)
	}
	return nil
}

// build is what a plan component of a run brings: the file the module
// serves and the image the MCU must end with.
type build struct {
	kind   string // PackageRaw, PackageFull or PackageDelta
	from   string // a delta's source version
	file   []byte // the package file, or the image for PackageRaw
	image  []byte // the image the file builds
	source []byte // a delta's source image
}

// builds holds the build of each plan component of a scenario.
type builds map[*ComponentSpec]*build

// buildAll builds the file and image of every plan component of sc.
func buildAll(sc *Scenario) (builds, error) {
	out := builds{}
	for i := range sc.Module.Plans {
		p := &sc.Module.Plans[i]
		for j := range p.Components {
			c := &p.Components[j]
			b, err := buildComponent(sc, c)
			if err != nil {
				return nil, fmt.Errorf("scenario: plan %s: component %s %s: %w", p.Name, c.ID, c.TargetVersion, err)
			}
			out[c] = b
		}
	}
	return out, nil
}

// buildComponent builds the file and image of plan component c: the
// image Firmware makes for its target version, or for a delta a rebuild
// of the image the MCU runs (initialImage); then the package of its kind.
func buildComponent(sc *Scenario, c *ComponentSpec) (*build, error) {
	b := &build{kind: cmp(c.Package, PackageRaw)}
	if b.kind == PackageRaw {
		b.image = Firmware(c.ID, c.TargetVersion, int(c.Size))
		b.file = b.image
		return b, nil
	}
	opts := []pack.Option{pack.WithChunkSize(packageChunk), pack.WithFastEncoder()}
	if c.Sign {
		opts = append(opts, pack.WithSigner(signingKey))
	}
	var buf bytes.Buffer
	var err error
	switch b.kind {
	case PackageFull:
		b.image = Firmware(c.ID, c.TargetVersion, int(c.Size))
		_, err = pack.WriteFull(&buf, b.image, opts...)
	case PackageDelta:
		b.from = mcuVersion(sc, c.ID)
		b.source = initialImage(sc, c.ID)
		b.image = rebuild(b.source, c.ID, b.from, c.TargetVersion)
		_, err = pack.WriteDelta(&buf, b.source, b.image, opts...)
	default:
		return nil, fmt.Errorf("package %q: want one of %v", b.kind, packageKinds)
	}
	if err != nil {
		return nil, err
	}
	b.file = buf.Bytes()
	return b, nil
}

// mcuVersion returns the version the MCU reports for component id before
// the update, "" when mcu.components does not list it.
func mcuVersion(sc *Scenario, id string) string {
	for _, c := range sc.MCU.Components {
		if c.ID == id {
			return c.Version
		}
	}
	return ""
}

// mcuVersions maps the MCU's components to their versions before the
// update.
func mcuVersions(sc *Scenario) map[string]string {
	m := make(map[string]string, len(sc.MCU.Components))
	for _, c := range sc.MCU.Components {
		m[c.ID] = c.Version
	}
	return m
}

// imageSize returns the size of the images a run generates for component
// id: the size of the first plan component for id, or DefaultSize.
func imageSize(sc *Scenario, id string) int {
	for _, p := range sc.Module.Plans {
		for _, c := range p.Components {
			if c.ID == id {
				return int(c.Size)
			}
		}
	}
	return DefaultSize
}

// initialImage returns the image of component id the emulated MCU has
// before the update: the firmware of its version in mcu.components.
func initialImage(sc *Scenario, id string) []byte {
	return Firmware(id, mcuVersion(sc, id), imageSize(sc, id))
}

// rebuild returns the image a new build of src (Firmware of component id
// at version from) makes for version to, as a small change to the code
// does: a few words of code and constants changed throughout, a block of
// new code inserted in the middle (1/32 of the image, 16 bytes to 1 KiB),
// and the version tag changed. It is deterministic, and the new image is
// a little longer than src.
func rebuild(src []byte, id, from, to string) []byte {
	h := fnv.New64a()
	h.Write([]byte(id + "\x00" + from + "\x00" + to))
	r := rand.New(rand.NewPCG(h.Sum64(), uint64(len(src))))
	b := bytes.Clone(src)
	oldTag, newTag := firmwareTag(id, from), firmwareTag(id, to)
	lo := 64
	tagged := len(b) >= 64+len(oldTag) && bytes.Equal(b[64:64+len(oldTag)], oldTag)
	if tagged {
		lo += len(oldTag)
	}
	// Eight words spread through the code, past the vector table and
	// the tag: constants and branch offsets the change moved.
	if span := len(b) - 4 - lo; span > 64 {
		for i := range 8 {
			at := lo + span*(2*i+1)/16
			binary.LittleEndian.PutUint32(b[at:], r.Uint32())
		}
	}
	// A new function in the middle.
	block := make([]byte, min(max(len(src)/32, 16), 1<<10))
	for i := range block {
		block[i] = byte(r.Uint32())
	}
	mid := max(len(b)/2, lo)
	b = slices.Insert(b, min(mid, len(b)), block...)
	if tagged {
		b = slices.Replace(b, 64, 64+len(oldTag), newTag...)
	}
	return b
}

// emitPackages emits a package:full or package:delta event for each
// atota package the run's plans bring: what it builds, from what.
func (r *runner) emitPackages() {
	for i := range r.sc.Module.Plans {
		p := &r.sc.Module.Plans[i]
		for j := range p.Components {
			c := &p.Components[j]
			b := r.builds[c]
			if b == nil || b.kind == PackageRaw {
				continue
			}
			var t strings.Builder
			fmt.Fprintf(&t, "plan %s: %s %s: %s package of %d bytes", p.Name, c.ID, c.TargetVersion, b.kind, len(b.file))
			if c.Sign {
				t.WriteString(", signed")
			}
			fmt.Fprintf(&t, "; it builds a %d-byte image, sha256 %x", len(b.image), sha256.Sum256(b.image))
			if b.kind == PackageDelta {
				fmt.Fprintf(&t, ", from the %d-byte image of %s (sha256 %x)", len(b.source), b.from, sha256.Sum256(b.source))
			}
			r.emit(Event{Kind: "package", Name: "package:" + b.kind, Text: t.String()})
		}
	}
}
