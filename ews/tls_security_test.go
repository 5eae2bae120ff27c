package ews

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TLS verification is on by default: a client made with no HTTPClient
// refuses a server whose certificate it cannot verify, sending no
// credentials to it, and so does one given an http.Client of its own
// with no TLS settings.
func TestClient_VerifiesTLSByDefault(t *testing.T) {
	var reached atomic.Bool
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Store(true) // only after a completed handshake
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	defer srv.Close()
	for name, opts := range map[string]*Options{
		"default client": {Auth: Basic("alice", "secret")},
		"own client":     {Auth: Basic("alice", "secret"), HTTPClient: &http.Client{}},
	} {
		c, err := New(srv.URL+"/EWS/Exchange.asmx", opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SyncFolderHierarchy(context.Background(), SyncFolderHierarchyRequest{})
		var ua x509.UnknownAuthorityError
		var cv *tls.CertificateVerificationError
		if err == nil || !errors.As(err, &ua) && !errors.As(err, &cv) {
			t.Fatalf("%s: %v, want a certificate verification error", name, err)
		}
		if reached.Load() {
			t.Fatalf("%s: a request reached the server", name)
		}
	}
	// Trusting the server's certificate (as -ca-file does) makes it work.
	c, err := New(srv.URL+"/EWS/Exchange.asmx", &Options{Auth: Basic("alice", "secret"), HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SyncFolderHierarchy(context.Background(), SyncFolderHierarchyRequest{}); err == nil || !reached.Load() {
		t.Fatalf("trusted server: %v (reached %v)", err, reached.Load())
	}
}
