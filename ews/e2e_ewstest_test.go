package ews_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// End-to-end proof of the client against the fake server: every test
// runs the real ews.Client over loopback HTTP against ewstest.NewServer
// and checks what the client decoded against the fake mailbox's own
// state, read through the server's Go handle.

const (
	e2eUser     = "alice"
	e2ePassword = "s3cret!"
	e2eAddress  = "alice@example.com"
	e2eToken    = "tok-alice-1"
)

var e2eStart = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

// e2eServer starts a fake with one user on a fake clock, authenticating
// with mode.
func e2eServer(t testing.TB, mode string, tweak func(*ewstest.Options)) (*ewstest.Server, *debouncetest.Clock) {
	t.Helper()
	clk := debouncetest.NewClock(e2eStart)
	opts := ewstest.Options{
		Users:  []ewstest.User{{Name: e2eUser, Password: e2ePassword, Address: e2eAddress}},
		Clock:  clk,
		Logger: slog.New(slog.DiscardHandler),
		Auth:   ewstest.AuthOptions{Mode: mode, Tokens: map[string]string{e2eToken: e2eUser}},
	}
	if tweak != nil {
		tweak(&opts)
	}
	srv := ewstest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv, clk
}

// e2eAuth returns the client Auth matching the server's mode, with the
// right credentials or, when wrong is set, a bad password (token).
func e2eAuth(mode string, wrong bool) ews.Auth {
	pw, tok := e2ePassword, e2eToken
	if wrong {
		pw, tok = "not-the-password", "tok-forged"
	}
	switch mode {
	case ewstest.AuthNTLM:
		return ews.NTLM(`EXAMPLE\`+e2eUser, pw)
	case ewstest.AuthBasic:
		return ews.Basic(e2eUser, pw)
	case ewstest.AuthBearer:
		return ews.Bearer(ews.TokenSourceFunc(func(context.Context) (string, error) { return tok, nil }))
	}
	return nil
}

// e2eClient returns a client for srv; sleeps, when non-nil, records the
// retry waits, which end at once on a fake clock of the client's own.
func e2eClient(t testing.TB, srv *ewstest.Server, auth ews.Auth, sleeps *[]time.Duration) *ews.Client {
	t.Helper()
	opts := &ews.Options{Auth: auth, Logger: slog.New(slog.DiscardHandler)}
	if sleeps != nil {
		clk := debouncetest.NewClock(e2eStart)
		t.Cleanup(clk.AutoAdvance(func(d time.Duration) bool {
			*sleeps = append(*sleeps, d)
			return true
		}))
		opts.Clock = clk
	}
	c, err := ews.New(srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// e2eMsg is a plain ASCII message addressed to the test user.
func e2eMsg(subject string) ewstest.Message {
	return ewstest.Message{
		Subject: subject,
		From:    ewstest.Address{Name: "Bob Sender", Email: "bob@example.org"},
		To:      []ewstest.Address{{Name: "Alice", Email: e2eAddress}},
		Body:    "Body of " + subject + ".\r\n",
	}
}
