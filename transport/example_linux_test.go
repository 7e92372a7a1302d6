//go:build linux

package transport_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/atota/atota/transport"
)

func ExampleListen() {
	dir, _ := os.MkdirTemp("", "atota")
	defer os.RemoveAll(dir)
	link := filepath.Join(dir, "module")
	ctx := context.Background()

	// The module side serves on a pty...
	l, err := transport.Listen(ctx, "pty:"+link)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()

	// ...the MCU side opens its slave as a serial device.
	mcu, err := transport.Dial(ctx, link)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mcu.Close()

	conn, err := l.Accept(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	fmt.Fprint(mcu, "AT\r")
	line, _ := bufio.NewReader(conn).ReadString('\r')
	fmt.Printf("%q\n", line)
	// Output: "AT\r"
}
