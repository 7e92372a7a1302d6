package atcmd_test

import (
	"context"
	"fmt"

	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

func Example() {
	mux := atcmd.NewMux()
	mux.HandleFunc("+CSQ", func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
		return w.WriteLine("+CSQ: 25,99")
	})
	srv := atcmd.NewServer(mux)

	modem, user := transport.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, modem)

	c := atcmd.NewClient(user)
	defer c.Close()
	resp, err := c.Do(ctx, atcmd.Command{Name: "+CSQ"})
	if err != nil {
		fmt.Println(err)
		return
	}
	v, _ := resp.Value("+CSQ")
	fmt.Println(v)
	// Output: 25,99
}

func ExampleParseLine() {
	cmds, _ := atcmd.ParseLine(`AT+QIOTMCUVER="STM32","1_0_0"`)
	c := cmds[0]
	id, _ := c.Str(0)
	fmt.Println(c.Name, c.Kind, id)
	// Output: +QIOTMCUVER set STM32
}
