package pack_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log"

	"github.com/atota/atota/agent/pack"
)

// image returns a deterministic stand-in for a firmware image.
func image(version string) []byte {
	b := make([]byte, 200_000)
	for i := range b {
		b[i] = byte(i*i>>7) ^ byte(i>>11)
	}
	copy(b[100_000:], "firmware version "+version)
	return b
}

// A delta between two builds, applied as the MCU side would: old image
// read in place, new image written in order, everything checked.
func ExampleWriteDelta() {
	oldImg, newImg := image("1.0.0"), image("1.0.1")

	var pkg bytes.Buffer
	if _, err := pack.WriteDelta(&pkg, oldImg, newImg); err != nil {
		log.Fatal(err)
	}

	// On the device: read the header, then apply the payload after it.
	r := bytes.NewReader(pkg.Bytes())
	h, err := pack.ReadHeader(r)
	if err != nil {
		log.Fatal(err)
	}
	var slot bytes.Buffer // the inactive slot
	if err := pack.Apply(context.Background(), h, r, bytes.NewReader(oldImg), &slot); err != nil {
		log.Fatal(err)
	}
	fmt.Println(h.Kind, len(h.Chunks), "chunks, rebuilt:", bytes.Equal(slot.Bytes(), newImg))
	fmt.Println("delta smaller than a tenth of the image:", pkg.Len() < len(newImg)/10)

	// The same delta offered to the wrong image writes nothing.
	slot.Reset()
	r = bytes.NewReader(pkg.Bytes()[h.Size():])
	err = pack.Apply(context.Background(), h, r, bytes.NewReader(image("0.9.0")), &slot)
	var sm *pack.SourceMismatchError
	fmt.Println("wrong source refused:", errors.As(err, &sm), "bytes written:", slot.Len())
	// Output:
	// delta 4 chunks, rebuilt: true
	// delta smaller than a tenth of the image: true
	// wrong source refused: true bytes written: 0
}

// Signing a package and checking it with the public key.
func ExampleHeader_Verify() {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	var pkg bytes.Buffer
	if _, err := pack.WriteFull(&pkg, image("1.0.0"), pack.WithSigner(priv)); err != nil {
		log.Fatal(err)
	}
	h, err := pack.ParseHeader(pkg.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(h.Verify(priv.Public().(ed25519.PublicKey)))

	other, _, _ := ed25519.GenerateKey(nil)
	fmt.Println(errors.Is(h.Verify(other), pack.ErrBadSignature))
	// Output:
	// <nil>
	// true
}
