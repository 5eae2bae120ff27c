package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// lines is an io.Writer that hands each complete line to a channel.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan string
}

func newLines() *lines { return &lines{ch: make(chan string, 1000)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line)
			return len(p), nil
		}
		l.ch <- strings.TrimSuffix(line, "\n")
	}
}

func (l *lines) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-l.ch:
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("no output line within 30 s")
		return ""
	}
}

// startServe runs "syncdemo serve" in-process and returns its output lines
// (the first one already read: the URL) and a stop function that cancels
// and waits for run to return.
func startServe(t *testing.T, args ...string) (string, *lines, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := newLines()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "-addr", "127.0.0.1:0"}, args...), out, io.Discard)
	}()
	var url string
	select {
	case url = <-out.ch:
	case err := <-done:
		cancel()
		t.Fatalf("serve ended before printing its URL: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("serve printed nothing within 60 s")
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("serve did not stop within 30 s of cancellation")
		}
	}
	t.Cleanup(func() { stop() })
	return url, out, stop
}

var urlLine = regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+/EWS/Exchange\.asmx$`)

const getInbox = `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<soap:Header><t:RequestServerVersion Version="Exchange2013"/></soap:Header>
<soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>
<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>`

func getInboxAs(t *testing.T, c *http.Client, url string, auth func(*http.Request)) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(getInbox))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	auth(req)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// writeSecretFile writes a 0600 file in a test directory.
func writeSecretFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServe_Basic(t *testing.T) {
	users := writeSecretFile(t, "users", "# test users\nalice:secret\n\nbob:pw\n")
	url, out, stop := startServe(t, "-users-file", users, "-messages", "300", "-folders", "4", "-auth", "basic", "-seed", "3")
	if !urlLine.MatchString(url) {
		t.Fatalf("first line %q is not the EWS URL", url)
	}
	for _, want := range []string{"mailbox alice@example.com user=alice ", "mailbox bob@example.com user=bob "} {
		if l := out.next(t); !strings.HasPrefix(l, want) || !strings.HasSuffix(l, " messages=300") {
			t.Fatalf("line %q, want %q…", l, want)
		}
	}
	code, body := getInboxAs(t, http.DefaultClient, url, func(r *http.Request) { r.SetBasicAuth("alice", "secret") })
	if code != 200 || !strings.Contains(body, "NoError") || !strings.Contains(body, "Inbox") {
		t.Fatalf("GetFolder inbox: %d\n%s", code, body)
	}
	code, _ = getInboxAs(t, http.DefaultClient, url, func(r *http.Request) { r.SetBasicAuth("alice", "pw") })
	if code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancellation", err)
	}
	if _, err := http.Post(url, "text/xml", strings.NewReader(getInbox)); err == nil {
		t.Fatal("server still answers after stop")
	}
}

func TestServe_NTLMDomainAndControl(t *testing.T) {
	t.Setenv(envServePassword, "pa55")
	t.Setenv(envControlToken, "ctl-token")
	url, out, _ := startServe(t, "-users", "carol", "-messages", "50", "-folders", "2", "-auth", "ntlm",
		"-domain", "contoso.example", "-control", "-activity", "50")
	if l := out.next(t); !strings.HasPrefix(l, "mailbox carol@contoso.example user=carol ") {
		t.Fatalf("mailbox line %q", l)
	}
	ctlLine := out.next(t)
	base := strings.TrimSuffix(url, "/EWS/Exchange.asmx")
	if ctlLine != "control "+base+"/ewstest/control/" {
		t.Fatalf("control line %q", ctlLine)
	}
	c := &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: &http.Transport{}}}
	code, body := getInboxAs(t, c, url, func(r *http.Request) { r.SetBasicAuth(`CONTOSO\carol`, "pa55") })
	if code != 200 || !strings.Contains(body, "NoError") {
		t.Fatalf("GetFolder over NTLM: %d\n%s", code, body)
	}
	// The control endpoint sees the activity generator that -activity started.
	req, _ := http.NewRequest("GET", base+"/ewstest/control/activity", nil)
	req.Header.Set("Authorization", "Bearer ctl-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Running bool }
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if resp.StatusCode != 200 || !st.Running {
		t.Fatalf("activity state: %d %+v", resp.StatusCode, st)
	}
	req, _ = http.NewRequest("GET", base+"/ewstest/control/activity", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("control without token: %d", resp.StatusCode)
	}
}

func TestServe_BearerTokens(t *testing.T) {
	url, out, _ := startServe(t, "-users", "alice,bob", "-messages", "10", "-folders", "0", "-auth", "bearer")
	out.next(t)
	out.next(t)
	tokens := map[string]string{}
	for range 2 {
		f := strings.Fields(out.next(t))
		if len(f) != 3 || f[0] != "token" || len(f[2]) < 32 {
			t.Fatalf("token line %q", f)
		}
		tokens[f[1]] = f[2]
	}
	code, body := getInboxAs(t, http.DefaultClient, url, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tokens["bob"]) })
	if code != 200 || !strings.Contains(body, "NoError") {
		t.Fatalf("bob's token: %d\n%s", code, body)
	}
	code, _ = getInboxAs(t, http.DefaultClient, url, func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") })
	if code != 401 {
		t.Fatalf("bad token: %d", code)
	}
}

func TestRun_Commands(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "serve") {
		t.Fatalf("help: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Fatalf("unknown command: %v", err)
	}
}

func TestDemo(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mirror.db")
	args := []string{"demo", "-messages", "300", "-folders", "4", "-duration", "700ms", "-rate", "60", "-outage-changes", "30", "-quiet", "100ms", "-max-delay", "300ms", "-db", db}
	for run_ := range 2 { // the second run replaces the first run's mirror
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, io.Discard); err != nil {
			t.Fatalf("demo run %d: %v\n%s", run_, err, out.String())
		}
		for _, want := range []string{"initial sync: ", "300 items", "live: ", "recovery alice@example.com: cause ", "mirror matches the server", "newest in Inbox", "syncdemo query -db "} {
			if !strings.Contains(out.String(), want) {
				t.Fatalf("demo run %d output lacks %q:\n%s", run_, want, out.String())
			}
		}
		if run_ == 1 && !strings.Contains(out.String(), "removed the mirror") {
			t.Fatalf("second run did not replace the first mirror:\n%s", out.String())
		}
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("-db file: %v", err)
	}
	if err := run(context.Background(), []string{"demo", "-rate", "0"}, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Fatalf("bad flag: %v", err)
	}
}
