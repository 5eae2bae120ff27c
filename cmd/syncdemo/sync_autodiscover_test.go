package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// discoverArgs is "sync" without -url: the EWS URL comes from Autodiscover.
func discoverArgs(autodiscoverURL, db string, extra ...string) []string {
	return append([]string{"sync", "-email", "alice@example.com", "-autodiscover-url", autodiscoverURL,
		"-user", "alice", "-auth", "basic", "-db", db}, extra...)
}

func getUserSettings(srv *ewstest.Server) int64 {
	return srv.RequestStats().Requests["GetUserSettings"]
}

// TestSync_AutodiscoverOnce: sync -email without -url asks the fake's
// Autodiscover, prints the EWS URL it found, and mirrors the mailbox there
// exactly, with one GetUserSettings for the whole run.
func TestSync_AutodiscoverOnce(t *testing.T) {
	srv, box := syncServer(t, 300, 4)
	db := filepath.Join(t.TempDir(), "m.db")
	env := []string{"MAILSYNC_PASSWORD=secret"}
	out, errOut, code := runBinary(t, context.Background(), env, discoverArgs(srv.AutodiscoverURL(), db, "-once")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	want := "autodiscover: alice@example.com is served by " + srv.URL + " (answered by " + srv.AutodiscoverURL() + ")"
	if !strings.Contains(out, want) || !strings.Contains(out, "("+srv.URL+")") {
		t.Fatalf("output does not name the discovered URL (want %q):\n%s", want, out)
	}
	if d := mirrorDiff(t, db, box); len(d) > 0 {
		t.Fatalf("mirror differs:\n%s", strings.Join(d, "\n"))
	}
	if n := getUserSettings(srv); n != 1 {
		t.Fatalf("%d GetUserSettings, want 1", n)
	}
}

// procLines runs the binary with its stdout read line by line.
type procLines struct {
	cmd *exec.Cmd
	ch  chan string
	mu  sync.Mutex
	all []string
}

func startBinary(t *testing.T, env []string, args ...string) *procLines {
	t.Helper()
	p := &procLines{cmd: exec.Command(syncdemoBinary(t), args...), ch: make(chan string, 1000)}
	p.cmd.Env = append(os.Environ(), env...)
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.all = append(p.all, sc.Text())
			p.mu.Unlock()
			p.ch <- sc.Text()
		}
		close(p.ch)
	}()
	t.Cleanup(func() { p.stop() })
	return p
}

// waitLine waits for a line containing s.
func (p *procLines) waitLine(t *testing.T, s string) string {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-p.ch:
			if !ok {
				t.Fatalf("the process ended without printing %q:\n%s", s, p.output())
			}
			if strings.Contains(l, s) {
				return l
			}
		case <-deadline.C:
			t.Fatalf("no line with %q within 30 s:\n%s", s, p.output())
		}
	}
}

func (p *procLines) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.all, "\n")
}

// stop sends SIGTERM and waits for the exit status.
func (p *procLines) stop() int {
	if p.cmd.ProcessState != nil {
		return p.cmd.ProcessState.ExitCode()
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	for range p.ch { // drain, so that the child never blocks
	}
	p.cmd.Wait()
	return p.cmd.ProcessState.ExitCode()
}

// TestSync_AutodiscoverFollowsMove: a live sync found by Autodiscover
// follows the mailbox to the backend another site serves, and the mirror
// equals the server after the move.
func TestSync_AutodiscoverFollowsMove(t *testing.T) {
	srv, box := syncServer(t, 200, 3)
	site := httptest.NewServer(srv.Handler())
	defer site.Close()
	newURL := site.URL + ewstest.Path
	srv.SetBackendEwsURL(ewstest.BackendOf("DB02"), newURL)
	db := filepath.Join(t.TempDir(), "m.db")
	p := startBinary(t, []string{"MAILSYNC_PASSWORD=secret"}, discoverArgs(srv.AutodiscoverURL(), db,
		"-quiet", "20ms", "-max-delay", "100ms", "-status-interval", "0", "-snapshot-interval", "0")...)
	p.waitLine(t, "initial sync: ")
	if err := srv.MoveMailbox("alice@example.com", "DB02"); err != nil {
		t.Fatal(err)
	}
	act, err := srv.NewActivity(ewstest.ActivityOptions{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		act.Step()
	}
	p.waitLine(t, "mailbox alice@example.com moved: now served by "+newURL+" (was "+srv.URL)
	p.waitLine(t, "recovery alice@example.com")
	if code := p.stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.output())
	}
	if d := mirrorDiff(t, db, box); len(d) > 0 {
		t.Fatalf("mirror differs after the move:\n%s", strings.Join(d, "\n"))
	}
	if n := getUserSettings(srv); n != 2 {
		t.Fatalf("%d GetUserSettings, want 2 (start and move)", n)
	}
}

// TestSync_AutodiscoverFailures: a failed discovery ends the command with
// the exit status of its cause and a message saying what to do.
func TestSync_AutodiscoverFailures(t *testing.T) {
	srv, _ := syncServer(t, 10, 1)
	tlsSrv := httptest.NewTLSServer(srv.Handler())
	defer tlsSrv.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "m.db")
	ad := srv.AutodiscoverURL()
	tests := []struct {
		name string
		pw   string
		args []string
		code int
		msg  string
	}{
		{"wrong password", "wrong", discoverArgs(ad, db, "-once"), exitCredentials, "refused the credentials"},
		{"unreachable", "secret", discoverArgs("http://127.0.0.1:1/autodiscover/autodiscover.svc", db, "-once"), exitUnreachable, "unreachable"},
		{"untrusted certificate", "secret", discoverArgs(tlsSrv.URL+ewstest.AutodiscoverSOAPPath, db, "-once"), exitTLS, "TLS"},
		{"unknown mailbox", "secret", []string{"sync", "-email", "nobody@example.com", "-autodiscover-url", ad, "-user", "alice", "-auth", "basic", "-db", db, "-once"},
			exitFailure, "knows no mailbox nobody@example.com"},
		{"plain http elsewhere", "secret", discoverArgs("http://autodiscover.example.com/autodiscover/autodiscover.svc", db, "-once"), exitUsage, "-allow-insecure-auth"},
		{"not an endpoint", "secret", discoverArgs(srv.URL, db, "-once"), exitUsage, ".svc"},
		{"both urls", "secret", append(discoverArgs(ad, db), "-url", srv.URL), exitUsage, "not both"},
		{"no address", "secret", []string{"sync", "-user", "alice", "-auth", "basic", "-autodiscover-url", ad}, exitUsage, "-email ADDRESS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runBinary(t, context.Background(), []string{"MAILSYNC_PASSWORD=" + tt.pw}, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.msg) {
				t.Fatalf("exit %d (want %d), stderr:\n%s\nstdout:\n%s", code, tt.code, errOut, out)
			}
			if strings.Contains(out+errOut, "secret") {
				t.Fatal("the password appears in the output")
			}
		})
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("a failed discovery created the store")
	}
}

// TestSync_AllowInsecureAuth: credentials go over plain http to a host
// that is not loopback only with -allow-insecure-auth. The fake is reached
// as http://mail.example.com through an HTTP proxy ($HTTP_PROXY naming the
// fake itself, which serves absolute-form requests).
func TestSync_AllowInsecureAuth(t *testing.T) {
	srv, box := syncServer(t, 120, 2)
	proxy := strings.TrimSuffix(srv.URL, ewstest.Path)
	env := []string{"MAILSYNC_PASSWORD=secret", "HTTP_PROXY=" + proxy, "http_proxy=" + proxy, "NO_PROXY=", "no_proxy="}
	const remote = "http://mail.example.com/EWS/Exchange.asmx"
	db := filepath.Join(t.TempDir(), "m.db")
	out, errOut, code := runBinary(t, context.Background(), env, syncArgs(remote, db, "-once")...)
	if code != exitUsage || !strings.Contains(errOut, "-allow-insecure-auth") {
		t.Fatalf("without -allow-insecure-auth: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = runBinary(t, context.Background(), env, syncArgs(remote, db, "-once", "-allow-insecure-auth")...)
	if code != 0 {
		t.Fatalf("with -allow-insecure-auth: exit %d\n%s\n%s", code, out, errOut)
	}
	if d := mirrorDiff(t, db, box); len(d) > 0 {
		t.Fatalf("mirror differs:\n%s", strings.Join(d, "\n"))
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// as PEM files and returns their paths and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syncdemo push test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "push.crt"), filepath.Join(dir, "push.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// postRecorder records the push posts the fake makes and their outcome.
type postRecorder struct {
	rt    http.RoundTripper
	mu    sync.Mutex
	posts []string // URL and status, or URL and error
}

func (r *postRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.posts = append(r.posts, req.URL.String()+" "+err.Error())
	} else {
		r.posts = append(r.posts, req.URL.String()+" "+resp.Status)
	}
	return resp, err
}

func (r *postRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.posts...)
}

// TestSync_PushOverTLS: with -push-cert and -push-key the push listener
// speaks TLS and the callback URL is https; the fake, trusting the
// certificate, delivers a change that a live batch commits, and the mirror
// equals the server.
func TestSync_PushOverTLS(t *testing.T) {
	srv, box := syncServer(t, 150, 2)
	certFile, keyFile, pool := selfSigned(t)
	rec := &postRecorder{rt: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if err := srv.SetNotificationOptions(ewstest.NotificationOptions{PushHTTPClient: &http.Client{Transport: rec, Timeout: 30 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "m.db")
	p := startBinary(t, []string{"MAILSYNC_PASSWORD=secret"}, syncArgs(srv.URL, db, "-mode", "push", "-push-listen", "127.0.0.1:0",
		"-push-cert", certFile, "-push-key", keyFile, "-quiet", "20ms", "-max-delay", "100ms", "-status-interval", "0", "-snapshot-interval", "0")...)
	p.waitLine(t, "initial sync: ")
	inbox, err := box.FolderID("inbox")
	if err != nil {
		t.Fatal(err)
	}
	items, _ := box.Items(inbox)
	if len(items) == 0 {
		t.Fatal("empty Inbox")
	}
	box.SetRead(items[0].ID, !items[0].Message.IsRead)
	p.waitLine(t, "batch 1: ")
	if code := p.stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.output())
	}
	posts := rec.all()
	if len(posts) == 0 {
		t.Fatal("the fake posted nothing")
	}
	for _, post := range posts {
		if !strings.HasPrefix(post, "https://127.0.0.1:") || !strings.HasSuffix(post, " 200 OK") {
			t.Fatalf("push post %q, want https answered 200 OK (all: %q)", post, posts)
		}
	}
	if d := mirrorDiff(t, db, box); len(d) > 0 {
		t.Fatalf("mirror differs:\n%s", strings.Join(d, "\n"))
	}
	// The pair is checked before anything starts.
	for _, args := range [][]string{
		syncArgs(srv.URL, db, "-mode", "push", "-push-listen", "127.0.0.1:0", "-push-cert", certFile),
		syncArgs(srv.URL, db, "-push-cert", certFile, "-push-key", keyFile),
		syncArgs(srv.URL, db, "-mode", "push", "-push-listen", "127.0.0.1:0", "-push-cert", keyFile, "-push-key", certFile),
	} {
		if _, errOut, code := runBinary(t, context.Background(), []string{"MAILSYNC_PASSWORD=secret"}, args...); code != exitUsage || !strings.Contains(errOut, "-push-") {
			t.Fatalf("%q: exit %d\n%s", args, code, errOut)
		}
	}
}

// TestServe_PrintsAutodiscoverURL: serve names its SOAP Autodiscover
// endpoint last, and Autodiscover there finds the EWS URL of its first line.
func TestServe_PrintsAutodiscoverURL(t *testing.T) {
	url, out, _ := startServe(t, "-messages", "0", "-folders", "0", "-auth", "basic")
	var ad string
	for range 10 {
		if l := out.next(t); strings.HasPrefix(l, "autodiscover ") {
			ad = strings.TrimPrefix(l, "autodiscover ")
			break
		}
	}
	if ad != strings.TrimSuffix(url, ewstest.Path)+ewstest.AutodiscoverSOAPPath {
		t.Fatalf("autodiscover line %q (EWS URL %s)", ad, url)
	}
	a, err := ews.NewAutodiscoverer(&ews.AutodiscoverOptions{URL: ad, Client: &ews.Options{Auth: ews.Basic("bob", serveDefaultPassword)}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.Discover(context.Background(), "bob@example.com")
	if err != nil || s.EwsURL() != url {
		t.Fatalf("Discover: %+v, %v; want EWS URL %s", s, err, url)
	}
}
