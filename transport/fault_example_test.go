package transport_test

import (
	"fmt"
	"io"

	"github.com/atota/atota/transport"
)

func ExampleFaultLink() {
	mcu, module := transport.Pipe()
	defer module.Close()

	// Flip a bit in every byte the MCU sends; the seed makes it replay.
	l := transport.NewFaultLink(mcu, 1)
	defer l.Close()
	if err := l.SetOut(transport.LinkFaults{FlipRate: 1}); err != nil {
		fmt.Println(err)
		return
	}
	l.Write([]byte("AT\r"))
	got := make([]byte, 3)
	io.ReadFull(module, got)
	sent, _ := l.Stats()
	fmt.Printf("sent %q, the module read %q; %d of %d bytes flipped\n", "AT\r", got, sent.Flipped, sent.Bytes)
	// Output: sent "AT\r", the module read "@DM"; 3 of 3 bytes flipped
}

func ExampleUART() {
	u := transport.NewUART(115200)
	fmt.Println(u, u.BitsPerByte(), "bits a byte,", u.BytesPerSecond(), "B/s")
	fmt.Println("64 KiB take", u.Duration(64<<10))
	// Output:
	// 115200 8N1 10 bits a byte, 11520 B/s
	// 64 KiB take 5.688888888s
}
