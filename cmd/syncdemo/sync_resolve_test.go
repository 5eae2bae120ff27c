package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// A logon name without -email: the mirror is keyed by the address the
// directory resolves it to, and equals the server.
func TestSync_ResolvesLogonName(t *testing.T) {
	srv, box := syncServer(t, 120, 3)
	db := filepath.Join(t.TempDir(), "m.db")
	t.Setenv("MAILSYNC_PASSWORD", "secret")
	out, errOut, err := runCmd(t, "sync", "-url", srv.URL, "-user", `EXAMPLE\alice`, "-auth", "basic", "-db", db, "-once")
	if err != nil {
		t.Fatalf("sync -once: %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(out+errOut, "alice@example.com") {
		t.Errorf("the resolved address is not reported:\n%s\n%s", out, errOut)
	}
	if d := mirrorDiff(t, db, box); len(d) > 0 {
		t.Fatalf("mirror differs:\n%s", strings.Join(d, "\n"))
	}
}

func TestResolveAddress(t *testing.T) {
	srv := ewstest.NewServer(ewstest.Options{
		Users: []ewstest.User{
			{Name: "alice", Password: "x", Address: "alice@example.com"},
			{Name: "bob", Password: "x", Address: "bob@example.com"},
			{Name: "bobby", Password: "x", Address: "bobby@example.com"},
			{Name: "carol", Password: "x", Address: "carol@example.com"},
			{Name: "carolyn", Password: "x", Address: "carolyn@example.com"},
		},
		Auth: ewstest.AuthOptions{Mode: ewstest.AuthBasic},
	})
	defer srv.Close()
	c, err := ews.New(srv.URL, &ews.Options{Auth: ews.Basic("alice", "x")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for user, want := range map[string]string{`alice`: "alice@example.com", `CORP\bob`: "bob@example.com", "bobby": "bobby@example.com"} {
		got, err := resolveAddress(ctx, c, user)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", user, got, err, want)
		}
	}
	if _, err := resolveAddress(ctx, c, "nobody"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "-email") {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := resolveAddress(ctx, c, "caro"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "carol@example.com, carolyn@example.com") {
		t.Errorf("ambiguous name: %v", err)
	}
}
