// Package transport moves bytes between the two ends of an AT link: serial
// devices, ptys, raw TCP, and an in-memory pipe for tests. It knows nothing
// of AT commands or OTA.
//
// A PORT string names where the bytes go (see ParsePort):
//
//	/dev/ttyUSB0, /dev/pts/7, any path   a serial device, 8N1 by default
//	pty:PATH                             a pty created here, its slave symlinked at PATH
//	tcp://HOST:PORT                      a raw TCP serial bridge (ser2net, socat)
//	tcp-listen://HOST:PORT               accept raw TCP connections, one at a time
//
// The client side (the MCU) calls Dial; the serving side (the module
// emulator) calls Listen and accepts one connection at a time. Every
// connection is an io.ReadWriteCloser with no read timeouts: to cancel a
// blocked Read, close the connection, for example with
// context.AfterFunc(ctx, func() { c.Close() }). Close unblocks a pending
// Read for every form.
//
// A connection's Read returns io.EOF when the other end went away: the TCP
// peer closed, the device was unplugged, or (for a connection accepted on a
// pty) the process on the slave closed it.
//
// Pace slows Writes to what a baud rate allows, so that a pty or TCP link
// has the timing of a real UART. Pair is a virtual serial pair, two linked
// ptys, for tools that want to open a serial device on both ends.
package transport
