package ews

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of PushServerOptions.
const (
	// DefaultPushReadHeaderTimeout bounds the wait for a request's
	// headers (the TLS handshake included), from the moment the
	// connection is accepted or, on a kept-alive connection, from the
	// first byte of the next request.
	DefaultPushReadHeaderTimeout = 5 * time.Second
	// DefaultPushReadTimeout bounds reading a whole request, body
	// included.
	DefaultPushReadTimeout = 15 * time.Second
	// DefaultPushWriteTimeout bounds the handling of a request from the
	// end of its headers to the end of the answer; it leaves room for a
	// POST that waits PendingWait for Register.
	DefaultPushWriteTimeout = 30 * time.Second
	// DefaultPushIdleTimeout bounds how long a kept-alive connection may
	// wait for its next request.
	DefaultPushIdleTimeout = 60 * time.Second
	// DefaultPushMaxHeaderBytes bounds a request's headers.
	DefaultPushMaxHeaderBytes = 16 << 10
	// DefaultPushMaxConns bounds the connections open at once.
	DefaultPushMaxConns = 256
)

// PushServerOptions configures a PushServer. A nil *PushServerOptions
// means the zero value; zero fields take the documented defaults.
type PushServerOptions struct {
	// ReadHeaderTimeout: default DefaultPushReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// ReadTimeout: default DefaultPushReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout: default DefaultPushWriteTimeout.
	WriteTimeout time.Duration
	// IdleTimeout: default DefaultPushIdleTimeout.
	IdleTimeout time.Duration
	// MaxHeaderBytes: default DefaultPushMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxConns bounds the connections open at once; a connection
	// accepted beyond it is closed at once, unread (Exchange retries a
	// POST that failed). Default DefaultPushMaxConns.
	MaxConns int
	// TLSConfig, when set, makes the server speak TLS only; it must hold
	// a certificate (Certificates or GetCertificate). Build one with
	// tls.LoadX509KeyPair for a certificate and key in PEM files.
	TLSConfig *tls.Config
	// Logger receives the HTTP server's own errors (TLS handshake
	// failures and the like); nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports whether the options are usable.
func (o *PushServerOptions) Validate() error {
	if o == nil {
		return nil
	}
	if o.ReadHeaderTimeout < 0 || o.ReadTimeout < 0 || o.WriteTimeout < 0 || o.IdleTimeout < 0 || o.MaxHeaderBytes < 0 || o.MaxConns < 0 {
		return fmt.Errorf("%w: negative PushServerOptions field", ErrInvalidOptions)
	}
	if c := o.TLSConfig; c != nil && len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil {
		return fmt.Errorf("%w: PushServerOptions.TLSConfig has no certificate", ErrInvalidOptions)
	}
	return nil
}

// PushServer serves a push listener (or any handler) to the network with
// limits of its own: header, read, write and idle timeouts, a header size
// bound, a connection limit, and TLS when configured. A PushListener has
// none of these by itself: slow clients would hold connections for ever.
type PushServer struct {
	srv      *http.Server
	maxConns int
	tls      *tls.Config
}

// NewPushServer returns a server for h; Serve starts it.
func NewPushServer(h http.Handler, opts *PushServerOptions) (*PushServer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	var o PushServerOptions
	if opts != nil {
		o = *opts
	}
	o.ReadHeaderTimeout = cmp.Or(o.ReadHeaderTimeout, DefaultPushReadHeaderTimeout)
	o.ReadTimeout = cmp.Or(o.ReadTimeout, DefaultPushReadTimeout)
	o.WriteTimeout = cmp.Or(o.WriteTimeout, DefaultPushWriteTimeout)
	o.IdleTimeout = cmp.Or(o.IdleTimeout, DefaultPushIdleTimeout)
	o.MaxHeaderBytes = cmp.Or(o.MaxHeaderBytes, DefaultPushMaxHeaderBytes)
	o.MaxConns = cmp.Or(o.MaxConns, DefaultPushMaxConns)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	var tc *tls.Config
	if o.TLSConfig != nil {
		tc = o.TLSConfig.Clone()
		if tc.MinVersion < tls.VersionTLS12 {
			tc.MinVersion = tls.VersionTLS12
		}
	}
	return &PushServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: o.ReadHeaderTimeout,
			ReadTimeout:       o.ReadTimeout,
			WriteTimeout:      o.WriteTimeout,
			IdleTimeout:       o.IdleTimeout,
			MaxHeaderBytes:    o.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(o.Logger.With(LogKeyComponent, "ews.pushserver").Handler(), slog.LevelDebug),
		},
		maxConns: o.MaxConns,
		tls:      tc,
	}, nil
}

// Serve accepts connections on ln until Close or Shutdown, when it returns
// http.ErrServerClosed; ln is closed then.
func (s *PushServer) Serve(ln net.Listener) error {
	ln = &limitListener{Listener: ln, sem: make(chan struct{}, s.maxConns)}
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	return s.srv.Serve(ln)
}

// TLS reports whether the server speaks TLS.
func (s *PushServer) TLS() bool { return s.tls != nil }

// Close closes the listeners and every connection at once.
func (s *PushServer) Close() error { return s.srv.Close() }

// Shutdown stops accepting connections and waits, as long as ctx allows,
// for the requests in flight to finish.
func (s *PushServer) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// limitListener holds at most cap(sem) accepted connections open at once;
// one accepted beyond that is closed at once.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			_ = c.Close()
		}
	}
}

// limitConn gives its slot back once, when closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
