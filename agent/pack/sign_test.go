package pack

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerify(t *testing.T) {
	pkgs := testPackages(t)
	tamperedSigned := func() []byte {
		b := bytes.Clone(pkgs["signed"])
		b[30] ^= 1 // target SHA-256
		refreshCRC(b)
		return b
	}()
	badSig := func() []byte {
		b := bytes.Clone(pkgs["signed"])
		size := int(b[12]) | int(b[13])<<8
		b[size-1] ^= 1
		return b
	}()
	tests := []struct {
		name string
		pkg  []byte
		key  ed25519.PublicKey
		want error // nil for success
		text string
	}{
		{name: "right key", pkg: pkgs["signed"], key: pub(testKey)},
		{name: "wrong key", pkg: pkgs["signed"], key: pub(otherKey), want: ErrBadSignature, text: "not with the trusted key"},
		{name: "unsigned", pkg: pkgs["delta"], key: pub(testKey), want: ErrUnsigned, text: "--sign"},
		{name: "header changed after signing", pkg: tamperedSigned, key: pub(testKey), want: ErrBadSignature, text: "altered"},
		{name: "signature damaged", pkg: badSig, key: pub(testKey), want: ErrBadSignature, text: "altered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader(tt.pkg)
			if err != nil {
				t.Fatal(err)
			}
			err = h.Verify(tt.key)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
		})
	}
	h, _ := ParseHeader(pkgs["signed"])
	if err := h.Verify(ed25519.PublicKey{1, 2}); err == nil {
		t.Error("Verify with a 2-byte key succeeded")
	}
	if err := (&Header{}).Verify(pub(testKey)); err == nil {
		t.Error("Verify of a header never read succeeded")
	}
}

func TestKeyFiles(t *testing.T) {
	pubKey, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	privPEM, err := MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := MarshalPublicKey(pubKey)
	if err != nil {
		t.Fatal(err)
	}
	privPath, pubPath := filepath.Join(dir, "k"), filepath.Join(dir, "k.pub")
	os.WriteFile(privPath, privPEM, 0o600)
	os.WriteFile(pubPath, pubPEM, 0o644)
	gotPriv, err := ReadPrivateKeyFile(privPath)
	if err != nil || !gotPriv.Equal(priv) {
		t.Fatalf("ReadPrivateKeyFile: %v", err)
	}
	gotPub, err := ReadPublicKeyFile(pubPath)
	if err != nil || !gotPub.Equal(pubKey) {
		t.Fatalf("ReadPublicKeyFile: %v", err)
	}
	tests := []struct {
		name    string
		read    func(string) error
		path    string
		errText string
	}{
		{name: "public key as private", read: func(p string) error { _, err := ReadPrivateKeyFile(p); return err }, path: pubPath, errText: `"PUBLIC KEY", want "PRIVATE KEY"`},
		{name: "private key as public", read: func(p string) error { _, err := ReadPublicKeyFile(p); return err }, path: privPath, errText: `"PRIVATE KEY", want "PUBLIC KEY"`},
		{name: "missing file", read: func(p string) error { _, err := ReadPublicKeyFile(p); return err }, path: filepath.Join(dir, "nope"), errText: "nope"},
		{name: "not PEM", read: func(p string) error { _, err := ReadPublicKeyFile(p); return err }, path: writeFile(t, dir, "x", "hello"), errText: "no PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.read(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.errText) || !strings.HasPrefix(err.Error(), "pack: ") {
				t.Fatalf("error %v, want one starting with pack: and naming %q", err, tt.errText)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
