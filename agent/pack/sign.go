package pack

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Signature errors; Verify wraps them with the key IDs involved.
var (
	// ErrUnsigned means a signature was required and the package has none.
	ErrUnsigned = errors.New("pack: package is not signed")
	// ErrBadSignature means the signature does not verify with the key.
	ErrBadSignature = errors.New("pack: bad package signature")
)

// KeyID returns the 8-byte identifier of pub written into signed headers:
// the first 8 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) []byte {
	s := sha256.Sum256(pub)
	return s[:keyIDSize]
}

// Verify checks the header's ed25519 signature with pub. An unsigned header
// fails with [ErrUnsigned]; a header signed with another key, or whose
// signature does not verify, fails with [ErrBadSignature]. Because the
// header holds the SHA-256 of every chunk and of the target image, a
// verified header authenticates the whole package as it is applied.
func (h *Header) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("pack: verify: public key of %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if h.raw == nil {
		return errNoRaw
	}
	want := hex.EncodeToString(KeyID(pub))
	if !h.Signed() {
		return fmt.Errorf("%w: key %s required: sign it with atota pack --sign KEY", ErrUnsigned, want)
	}
	if got := hex.EncodeToString(h.KeyID); got != want {
		return fmt.Errorf("%w: signed with key %s, not with the trusted key %s", ErrBadSignature, got, want)
	}
	if !ed25519.Verify(pub, h.signedBytes(), h.Signature) {
		return fmt.Errorf("%w: key %s does not verify the header: the package was altered or signed wrongly", ErrBadSignature, want)
	}
	return nil
}

// sign fills the header's signature with priv.
func (h *Header) sign(priv ed25519.PrivateKey) {
	copy(h.raw[len(h.raw)-sigSize:], ed25519.Sign(priv, h.signedBytes()))
	copy(h.Signature, h.raw[len(h.raw)-sigSize:])
}

// MarshalPrivateKey encodes priv as a PEM "PRIVATE KEY" block (PKCS #8), the
// format of `openssl genpkey -algorithm ed25519`.
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("pack: marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey encodes pub as a PEM "PUBLIC KEY" block (PKIX), the
// format of `openssl pkey -pubout`.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("pack: marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes an ed25519 private key written by
// [MarshalPrivateKey] or openssl.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	k, err := parsePrivate(data)
	if err != nil {
		return nil, fmt.Errorf("pack: private key: %w", err)
	}
	return k, nil
}

// ParsePublicKey decodes an ed25519 public key written by
// [MarshalPublicKey] or openssl.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	k, err := parsePublic(data)
	if err != nil {
		return nil, fmt.Errorf("pack: public key: %w", err)
	}
	return k, nil
}

// ReadPrivateKeyFile reads a private key file (see [ParsePrivateKey]).
func ReadPrivateKeyFile(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pack: private key: %w", err)
	}
	k, err := parsePrivate(data)
	if err != nil {
		return nil, fmt.Errorf("pack: private key %s: %w", path, err)
	}
	return k, nil
}

// ReadPublicKeyFile reads a public key file (see [ParsePublicKey]).
func ReadPublicKeyFile(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pack: public key: %w", err)
	}
	k, err := parsePublic(data)
	if err != nil {
		return nil, fmt.Errorf("pack: public key %s: %w", path, err)
	}
	return k, nil
}

func parsePrivate(data []byte) (ed25519.PrivateKey, error) {
	der, err := pemBlock(data, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, want ed25519: make one with atota pack keygen", k)
	}
	return priv, nil
}

func parsePublic(data []byte) (ed25519.PublicKey, error) {
	der, err := pemBlock(data, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, want ed25519: make one with atota pack keygen", k)
	}
	return pub, nil
}

func pemBlock(data []byte, typ string) ([]byte, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("no PEM %q block: want a key file from atota pack keygen", typ)
	}
	if b.Type != typ {
		return nil, fmt.Errorf("PEM block %q, want %q", b.Type, typ)
	}
	return b.Bytes, nil
}
