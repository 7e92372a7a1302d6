package transport

import (
	"errors"
	"io"
	"net"
	"testing"
)

func TestTCPListenAcceptCloseAccept(t *testing.T) {
	l, err := Listen(testCtx(t), "tcp-listen://:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer l.Close()
	for i, msg := range []string{"first", "second", "third"} {
		accepted := acceptAsync(t, l)
		client := dialT(t, "tcp://"+l.Addr())
		conn := await(t, "Accept", accepted)
		if conn == nil {
			t.FailNow()
		}
		send(t, client, msg)
		expect(t, conn, msg)
		send(t, conn, "re:"+msg)
		expect(t, client, "re:"+msg)
		if i%2 == 0 {
			client.Close() // the client goes: the server reads io.EOF
			if n, err := conn.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("Read after the client closed = %d, %v; want 0, io.EOF", n, err)
			}
		}
		conn.Close() // the server ends the connection
	}
}

func TestTCPListenAcceptCanceled(t *testing.T) {
	l, err := Listen(testCtx(t), "tcp-listen://127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer l.Close()
	ctx, cancel := contextWithCancel(t)
	done := returns(func() error { _, err := l.Accept(ctx); return err })
	cancel()
	if err := await(t, "Accept after cancel", done); !errors.Is(err, errCanceled) {
		t.Errorf("Accept after cancel = %v, want context.Canceled", err)
	}
	// The listener still works after a canceled Accept.
	accepted := acceptAsync(t, l)
	client := dialT(t, "tcp://"+l.Addr())
	conn := await(t, "Accept after a canceled one", accepted)
	if conn == nil {
		t.FailNow()
	}
	send(t, client, "ok")
	expect(t, conn, "ok")

	done = returns(func() error { _, err := l.Accept(testCtx(t)); return err })
	l.Close()
	if err := await(t, "Accept after Close", done); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
}

func TestDialTCPListen(t *testing.T) {
	// Reserve a free port, then let Dial listen on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dialed := make(chan io.ReadWriteCloser, 1)
	go func() {
		c, err := Dial(testCtx(t), "tcp-listen://"+addr)
		if err != nil {
			t.Errorf("Dial(tcp-listen://%s): %v", addr, err)
		}
		dialed <- c
	}()
	var client net.Conn
	for client == nil { // until Dial listens
		if client, err = net.Dial("tcp", addr); err != nil {
			<-shortly()
		}
	}
	defer client.Close()
	conn := await(t, "Dial", dialed)
	if conn == nil {
		t.FailNow()
	}
	defer conn.Close()
	send(t, client, "AT\r")
	expect(t, conn, "AT\r")
	// Dial accepted one connection and stopped listening.
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("a second connection was accepted; want the listener closed")
	}
}

func TestTCPDialListenerRetries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens yet: dials are refused

	l, err := Listen(testCtx(t), "tcp://"+addr)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer l.Close()
	if l.Addr() != addr {
		t.Errorf("Addr() = %q, want %q", l.Addr(), addr)
	}
	accepted := acceptAsync(t, l)
	<-shortly()
	bridge, err := net.Listen("tcp", addr) // the serial bridge starts
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer bridge.Close()
	server, err := bridge.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	conn := await(t, "Accept", accepted)
	if conn == nil {
		t.FailNow()
	}
	send(t, server, "+QIOTEVT: 7,10701\r\n")
	expect(t, conn, "+QIOTEVT: 7,10701\r\n")

	bridge.Close()
	done := returns(func() error { _, err := l.Accept(testCtx(t)); return err })
	<-shortly()
	l.Close()
	if err := await(t, "Accept after Close", done); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
}

func TestDialTCPRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if c, err := Dial(testCtx(t), "tcp://"+addr); err == nil {
		c.Close()
		t.Fatal("Dial to a closed port succeeded")
	} else if !errors.Is(err, errRefused) {
		t.Errorf("Dial to a closed port = %v, want connection refused", err)
	}
}

func TestTCPDialListenerAcceptCanceled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	l, err := Listen(testCtx(t), "tcp://"+addr)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer l.Close()
	ctx, cancel := contextWithCancel(t)
	done := returns(func() error { _, err := l.Accept(ctx); return err })
	<-shortly()
	cancel()
	if err := await(t, "Accept after cancel", done); !errors.Is(err, errCanceled) {
		t.Errorf("Accept after cancel = %v, want context.Canceled", err)
	}
}
