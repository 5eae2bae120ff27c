package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailsync/mailsync/localstore"
)

// TestBinary_QueryExport runs the built syncdemo's query and export as a
// script would, checking output, exit statuses and messages.
func TestBinary_QueryExport(t *testing.T) {
	exe := func(t *testing.T, args ...string) (string, string, int) {
		t.Helper()
		return runBinary(t, context.Background(), nil, args...)
	}
	fx := newFixture(t, fixtureOptions{})

	t.Run("query json", func(t *testing.T) {
		out, stderr, code := exe(t, "query", "-db", fx.path, "-json", "items", "Inbox/Projects")
		var got itemsOut
		if code != 0 || json.Unmarshal([]byte(out), &got) != nil || len(got.Items) != 2 || got.Items[0].Subject != "project beta" {
			t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
		}
		out, _, code = exe(t, "query", "dump", "-db", fx.path, "-json")
		var d mailboxDump
		if code != 0 || json.Unmarshal([]byte(out), &d) != nil || d.Address != string(alice) || len(d.Folders) != 7 {
			t.Fatalf("dump: exit %d\n%.500s", code, out)
		}
	})
	t.Run("export", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "out")
		out, stderr, code := exe(t, "export", "-db", fx.path, "-format", "mbox", "-out", dir)
		if code != 0 || !strings.HasPrefix(out, "exported 10 messages") || stderr != "" {
			t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
		}
		data, err := os.ReadFile(filepath.Join(dir, "Inbox.mbox"))
		if err != nil {
			t.Fatal(err)
		}
		if msgs, err := parseMboxrd(data); err != nil || len(msgs) != 5 {
			t.Fatalf("Inbox.mbox: %d messages, %v", len(msgs), err)
		}
	})
	t.Run("help lists the exit statuses", func(t *testing.T) {
		out, _, code := exe(t, "help")
		if code != 0 || !strings.Contains(out, "  3  the store is locked") || !strings.Contains(out, "query") || !strings.Contains(out, "export") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})

	noMIME := newFixture(t, fixtureOptions{noMIME: true})
	missing := filepath.Join(t.TempDir(), "missing.db")
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing store", []string{"query", "-db", missing, "stats"}, exitStoreMissing, "syncdemo: no store at " + missing},
		{"unknown folder", []string{"query", "-db", fx.path, "items", "Nowhere"}, exitNotFound, `no folder "Nowhere" in alice@example.com`},
		{"unknown item", []string{"query", "-db", fx.path, "item", "nope"}, exitNotFound, "not found"},
		{"usage", []string{"query", "-db", fx.path, "-limit", "x", "items", "Inbox"}, exitUsage, "invalid value"},
		{"no MIME", []string{"export", "-db", noMIME.path, "-format", "maildir", "-out", filepath.Join(t.TempDir(), "o")}, exitNoMIME, "none of the 10 selected items has mirrored MIME"},
		{"export unknown folder", []string{"export", "-db", fx.path, "-format", "mbox", "-folder", "Nowhere", "-out", filepath.Join(t.TempDir(), "o")}, exitNotFound, `no folder "Nowhere"`},
		{"export missing store", []string{"export", "-db", missing, "-format", "mbox", "-out", filepath.Join(t.TempDir(), "o")}, exitStoreMissing, "no store at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := exe(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) || out != "" {
				t.Fatalf("exit %d, want %d; stderr %q, want %q; stdout %q", code, tc.code, stderr, tc.msg, out)
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the missing store was created: %v", err)
	}

	t.Run("locked store", func(t *testing.T) {
		st, err := localstore.Open(fx.path, &localstore.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for _, args := range [][]string{
			{"query", "-db", fx.path, "-wait", "100ms", "folders"},
			{"export", "-db", fx.path, "-wait", "100ms", "-format", "mbox", "-out", filepath.Join(t.TempDir(), "o")},
		} {
			_, stderr, code := exe(t, args...)
			if code != exitStoreLocked || !strings.Contains(stderr, "in use by another process") || !strings.Contains(stderr, `"syncdemo sync"`) {
				t.Fatalf("%s: exit %d: %s", args[0], code, stderr)
			}
		}
	})
}
