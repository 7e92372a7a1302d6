package transport_test

import (
	"bufio"
	"context"
	"fmt"

	"github.com/atota/atota/transport"
)

func ExampleParsePort() {
	for _, s := range []string{"/dev/ttyUSB0", "pty:/tmp/atota-module", "tcp://:2000", "tcp-listen://:5000"} {
		p, err := transport.ParsePort(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-10s %s\n", p.Kind, p)
	}
	_, err := transport.ParsePort("rfc2217://host:2000")
	fmt.Println(err != nil)
	// Output:
	// device     /dev/ttyUSB0
	// pty        pty:/tmp/atota-module
	// tcp        tcp://127.0.0.1:2000
	// tcp-listen tcp-listen://127.0.0.1:5000
	// true
}

func ExamplePipe() {
	mcu, module := transport.Pipe()
	defer module.Close()

	go func() {
		fmt.Fprint(mcu, "AT+QIOTREG?\r")
		mcu.Close()
	}()
	line, _ := bufio.NewReader(module).ReadString('\r')
	fmt.Printf("%q\n", line)
	// Output: "AT+QIOTREG?\r"
}

// Cancel a blocked Read by closing the connection when ctx is done.
func ExampleDial_cancel() {
	a, b := transport.Pipe()
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, func() { a.Close() })
	defer stop()

	cancel() // e.g. the user pressed Ctrl-C
	_, err := a.Read(make([]byte, 1))
	fmt.Println(err, ctx.Err())
	// Output: io: read/write on closed pipe context canceled
}
