package plan

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// Digests describe a package file as the 7,10701 event does: its size,
// MD5 and SHA-256 (lowercase hex) and CRC-32 in the [DefaultCRC] variant.
type Digests struct {
	Size   int64
	MD5    string
	SHA256 string
	CRC    uint32
}

// String returns the digests as "size=27954 md5=… sha256=… crc=4022793929".
func (d Digests) String() string {
	return fmt.Sprintf("size=%d md5=%s sha256=%s crc=%d", d.Size, d.MD5, d.SHA256, d.CRC)
}

// Digest reads r to the end and returns its digests.
func Digest(r io.Reader) (Digests, error) {
	d, err := digest(r)
	if err != nil {
		return Digests{}, fmt.Errorf("plan: digest: read failed after %d bytes: %w", d.Size, err)
	}
	return d, nil
}

// DigestFile returns the digests of the file at path.
func DigestFile(path string) (Digests, error) {
	f, err := os.Open(path)
	if err != nil {
		return Digests{}, fmt.Errorf("plan: digest: %w", err)
	}
	defer f.Close()
	d, err := digest(f)
	if err != nil {
		return Digests{}, fmt.Errorf("plan: digest %s: read failed after %d bytes: %w", path, d.Size, err)
	}
	return d, nil
}

// digest returns the digests of r; on error only Size (bytes read) is set.
func digest(r io.Reader) (Digests, error) {
	m, s, c := md5.New(), sha256.New(), NewCRC32(DefaultCRC)
	n, err := io.CopyBuffer(io.MultiWriter(m, s, c), r, make([]byte, 128<<10))
	if err != nil {
		return Digests{Size: n}, err
	}
	return Digests{
		Size:   n,
		MD5:    hex.EncodeToString(m.Sum(nil)),
		SHA256: hex.EncodeToString(s.Sum(nil)),
		CRC:    c.Sum32(),
	}, nil
}
