// Package atcmd implements the AT command protocol (ITU-T V.250, 3GPP TS
// 27.007) and nothing else: the line codec, a Server shaped like net/http
// (Handler, Mux, ResponseWriter) and a Client.
//
// The server side reads command lines bounded in length, echoes them
// (ATE1, the default), hands each command to a Handler and writes the final
// result the handler's error selects. Unsolicited result codes raised with
// Server.Notify while a command runs wait for its final result, so they never
// split a response. Binary payloads (such as the data of AT+QIOTOTARD) are
// written through the same ResponseWriter.
//
//	mux := atcmd.NewMux()
//	mux.HandleFunc("+CSQ", func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
//		return w.WriteLine("+CSQ: 25,99")
//	})
//	srv := atcmd.NewServer(mux)
//	err := srv.Serve(ctx, port)
//
// The client side sends one command at a time with Do, routes unsolicited
// result codes to subscriptions by prefix, reads length-driven payloads with
// DoPayload, and drains a late answer after a timed-out command.
//
//	c := atcmd.NewClient(port)
//	defer c.Close()
//	resp, err := c.Do(ctx, atcmd.Command{Name: "+CSQ"})
package atcmd
