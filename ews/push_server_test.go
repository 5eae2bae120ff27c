package ews

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// startPushServer serves h with opts on a loopback port and returns its
// address.
func startPushServer(t *testing.T, h http.Handler, opts *PushServerOptions) string {
	t.Helper()
	srv, err := NewPushServer(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// waitClosed reads c until the server closes it and returns what it read.
// The deadline only turns a server that never closes into a failure.
func waitClosed(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after 20 s (read %q)", b)
	}
	return b
}

func dialAll(t *testing.T, addr string, n int, first string) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if first != "" {
			if _, err := io.WriteString(c, first); err != nil {
				t.Fatal(err)
			}
		}
		conns[i] = c
	}
	return conns
}

// Slow clients are cut off by the server's own timeouts: headers that
// never end (slowloris), a body that never comes, and a kept-alive
// connection left idle.
func TestPushServer_TimeoutsCloseSlowClients(t *testing.T) {
	l, _ := newTestListener(t, nil)
	path := register(t, l, "S1", time.Minute, "W0")
	addr := startPushServer(t, l, &PushServerOptions{
		ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: 300 * time.Millisecond,
		IdleTimeout: 100 * time.Millisecond, MaxConns: 500,
	})
	t.Run("slowloris", func(t *testing.T) {
		conns := dialAll(t, addr, 200, "POST "+path+" HTTP/1.1\r\nHost: x\r\nX-a: ")
		for _, c := range conns {
			if b := waitClosed(t, c); len(b) != 0 && !bytes.HasPrefix(b, []byte("HTTP/1.1 408")) {
				t.Fatalf("answered %q", b)
			}
		}
	})
	t.Run("body never sent", func(t *testing.T) {
		c := dialAll(t, addr, 1, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 5000\r\n\r\n<soap")[0]
		if b := waitClosed(t, c); bytes.Contains(b, []byte("200 OK")) {
			t.Fatalf("answered %q", b)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		body := pushNotification("S1", "W0")
		c := dialAll(t, addr, 1, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body))[0]
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("idle connection: %v, want EOF", err)
		}
	})
	// Only the idle test's StatusEvent got through.
	for len(l.Events()) > 0 {
		if ev := <-l.Events(); ev.Notification == nil || !ev.Notification.StatusOnly() {
			t.Fatalf("slow client delivered %+v", ev)
		}
	}
	if wm, _ := l.Watermark("S1"); wm != "W0" {
		t.Fatalf("watermark %q", wm)
	}
}

// A connection beyond MaxConns is closed at once, unread, while the
// connections within the limit stay served.
func TestPushServer_ConnectionLimit(t *testing.T) {
	l, _ := newTestListener(t, nil)
	path := register(t, l, "S1", time.Minute, "W0")
	addr := startPushServer(t, l, &PushServerOptions{ReadHeaderTimeout: time.Minute, MaxConns: 3})
	held := dialAll(t, addr, 3, "POST "+path+" HTTP/1.1\r\nHost: x\r\n")
	// Connections are accepted in order: the fourth finds the three
	// slots taken.
	extra := dialAll(t, addr, 2, "")
	for _, c := range extra {
		if b := waitClosed(t, c); len(b) != 0 {
			t.Fatalf("connection beyond the limit answered %q", b)
		}
	}
	// The held connections are still served.
	body := pushNotification("S1", "W0", "W1")
	fmt.Fprintf(held[0], "Content-Type: text/xml\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	if b := waitClosed(t, held[0]); !bytes.HasPrefix(b, []byte("HTTP/1.1 200 OK")) || !bytes.Contains(b, []byte(">OK<")) {
		t.Fatalf("held connection answered %q", b)
	}
	if ev := recvPush(t, l); ev.Notification == nil || ev.Gap {
		t.Fatalf("event %+v", ev)
	}
}

func TestLimitListener_ReleasesOnClose(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &limitListener{Listener: inner, sem: make(chan struct{}, 2)}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	cs := dialAll(t, inner.Addr().String(), 3, "")
	s1, s2 := <-accepted, <-accepted
	defer s2.Close()
	if b := waitClosed(t, cs[2]); len(b) != 0 {
		t.Fatalf("third connection read %q", b)
	}
	s1.Close()
	s1.Close() // a second Close gives nothing back twice
	c4 := dialAll(t, inner.Addr().String(), 1, "")[0]
	s4 := <-accepted
	defer s4.Close()
	io.WriteString(s4, "x")
	c4.SetReadDeadline(time.Now().Add(20 * time.Second))
	var b [1]byte
	if _, err := io.ReadFull(c4, b[:]); err != nil || b[0] != 'x' {
		t.Fatalf("fourth connection after a release: %q %v", b, err)
	}
	if len(ln.sem) != 2 {
		t.Fatalf("%d slots taken, want 2", len(ln.sem))
	}
}

// With TLSConfig the server speaks TLS only: a client trusting the
// certificate gets its notification through; plain HTTP reaches nothing.
func TestPushServer_TLS(t *testing.T) {
	ts := httptest.NewTLSServer(http.NotFoundHandler()) // for its certificate and a client trusting it
	cert, client := ts.TLS.Certificates, ts.Client()
	ts.Close()
	defer client.CloseIdleConnections()
	l, _ := newTestListener(t, nil)
	path := register(t, l, "S1", time.Minute, "W0")
	addr := startPushServer(t, l, &PushServerOptions{TLSConfig: &tls.Config{Certificates: cert}})
	resp, err := client.Post("https://"+addr+path, xmlCT, bytes.NewReader(pushNotification("S1", "W0", "W1")))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(">OK<")) {
		t.Fatalf("TLS post: %d %s", resp.StatusCode, b)
	}
	if ev := recvPush(t, l); ev.Notification == nil {
		t.Fatalf("event %+v", ev)
	}
	resp, err = http.Post("http://"+addr+path, xmlCT, bytes.NewReader(pushNotification("S1", "W1", "W2")))
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("plain HTTP post answered 200: %s", b)
		}
	}
	noPushEvent(t, l)
	if wm, _ := l.Watermark("S1"); wm != "W1" {
		t.Fatalf("watermark %q", wm)
	}
	for _, o := range []*PushServerOptions{{TLSConfig: &tls.Config{}}, {MaxConns: -1}, {ReadTimeout: -time.Second}} {
		if _, err := NewPushServer(l, o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: %v", o, err)
		}
	}
	s, err := NewPushServer(l, nil)
	if err != nil || s.TLS() || s.srv.ReadHeaderTimeout != DefaultPushReadHeaderTimeout || s.srv.ReadTimeout != DefaultPushReadTimeout ||
		s.srv.WriteTimeout != DefaultPushWriteTimeout || s.srv.IdleTimeout != DefaultPushIdleTimeout ||
		s.srv.MaxHeaderBytes != DefaultPushMaxHeaderBytes || s.maxConns != DefaultPushMaxConns {
		t.Fatalf("defaults: %v %+v", err, s)
	}
}
