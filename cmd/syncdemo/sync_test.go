package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
)

// syncServer is an in-process fake with one seeded mailbox under Basic auth.
func syncServer(t *testing.T, messages, folders int) (*ewstest.Server, *ewstest.Mailbox) {
	t.Helper()
	srv := ewstest.NewServer(ewstest.Options{
		Users: []ewstest.User{{Name: "alice", Password: "secret", Address: "alice@example.com"}},
		Auth:  ewstest.AuthOptions{Mode: ewstest.AuthBasic},
	})
	t.Cleanup(srv.Close)
	box := srv.Mailbox("alice@example.com")
	if _, err := ewstest.Seed(box, ewstest.SeedOptions{Messages: messages, Folders: folders, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	return srv, box
}

func syncArgs(url, db string, extra ...string) []string {
	return append([]string{"sync", "-url", url, "-user", "alice", "-email", "alice@example.com", "-auth", "basic", "-db", db}, extra...)
}

// mirrorDiff compares the store at path with the server's mailbox: every
// item-synced folder's items (id, change key, read flag) and counts.
func mirrorDiff(t *testing.T, path string, box *ewstest.Mailbox) []string {
	t.Helper()
	st, err := localstore.Open(path, &localstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Check(ctx); err != nil {
		return []string{"check: " + err.Error()}
	}
	mb := localstore.Mailbox(box.Address())
	var diffs []string
	synced := map[string]bool{}
	for f, err := range st.Folders(ctx, mb) {
		if err != nil {
			t.Fatal(err)
		}
		sf, err := box.Folder(string(f.ID))
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("folder %q not on the server", f.DisplayName))
			continue
		}
		if f.SyncState == "" {
			continue
		}
		synced[sf.ID] = true
		items, _ := box.Items(sf.ID)
		want := map[string]ewstest.ItemInfo{}
		for _, it := range items {
			want[it.ID] = it
		}
		for it, err := range st.Items(ctx, mb, f.ID, localstore.Query{}) {
			if err != nil {
				t.Fatal(err)
			}
			w, ok := want[string(it.ID)]
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("%s: phantom %q", f.DisplayName, it.Subject))
			case w.ChangeKey != it.ChangeKey || w.Message.IsRead != it.IsRead:
				diffs = append(diffs, fmt.Sprintf("%s: %q differs", f.DisplayName, it.Subject))
			}
			delete(want, string(it.ID))
		}
		for _, w := range want {
			diffs = append(diffs, fmt.Sprintf("%s: missing %q", f.DisplayName, w.Message.Subject))
		}
	}
	for _, sf := range box.Folders() {
		if sf.FolderClass == "IPF.Note" && sf.DistinguishedID != "root" && sf.DistinguishedID != "msgfolderroot" && !synced[sf.ID] && sf.TotalCount > 0 && underRoot(box, sf) {
			diffs = append(diffs, fmt.Sprintf("server folder %q not mirrored", sf.DisplayName))
		}
	}
	return diffs
}

func underRoot(box *ewstest.Mailbox, f ewstest.FolderInfo) bool {
	root, _ := box.FolderID("msgfolderroot")
	for i := 0; i < 64 && f.ParentID != ""; i++ {
		if f.ParentID == root {
			return true
		}
		var err error
		if f, err = box.Folder(f.ParentID); err != nil {
			return false
		}
	}
	return false
}

func TestSync_OnceThenQuery(t *testing.T) {
	srv, box := syncServer(t, 800, 6)
	db := filepath.Join(t.TempDir(), "m.db")
	env := []string{"MAILSYNC_PASSWORD=secret"}
	ctx := context.Background()
	out, errOut, code := runBinary(t, ctx, env, syncArgs(srv.URL, db, "-once")...)
	if code != 0 || !strings.Contains(out, "up to date: ") || !strings.Contains(out, "initial sync") && !strings.Contains(out, "sync: ") {
		t.Fatalf("sync -once: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "secret") {
		t.Fatalf("the password appears in the output:\n%s\n%s", out, errOut)
	}
	if d := mirrorDiff(t, db, box); len(d) > 0 {
		t.Fatalf("after the first -once:\n%s", strings.Join(d, "\n"))
	}
	// Changes, then an incremental -once.
	act, err := srv.NewActivity(ewstest.ActivityOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for range 150 {
		act.Step()
	}
	if out, errOut, code := runBinary(t, ctx, env, syncArgs(srv.URL, db, "-once")...); code != 0 {
		t.Fatalf("incremental -once: exit %d\n%s\n%s", code, out, errOut)
	}
	if d := mirrorDiff(t, db, box); len(d) > 0 {
		t.Fatalf("after the incremental -once:\n%s", strings.Join(d, "\n"))
	}
	// The JSON dump holds what the server holds, item for item.
	out, errOut, code = runBinary(t, ctx, nil, "query", "-db", db, "-json", "dump")
	if code != 0 {
		t.Fatalf("query dump: exit %d\n%s", code, errOut)
	}
	var dump struct {
		Address string `json:"address"`
		Folders []struct {
			ID    string `json:"id"`
			Items []struct {
				ID     string `json:"id"`
				IsRead bool   `json:"isRead"`
			} `json:"items"`
		} `json:"folders"`
	}
	if err := json.Unmarshal([]byte(out), &dump); err != nil {
		t.Fatalf("dump is not JSON: %v\n%.300s", err, out)
	}
	if dump.Address != "alice@example.com" {
		t.Fatalf("dump address %q", dump.Address)
	}
	n := 0
	for _, f := range dump.Folders {
		for _, it := range f.Items {
			si, err := box.Item(it.ID)
			if err != nil || si.Message.IsRead != it.IsRead || si.FolderID != f.ID {
				t.Fatalf("dumped item %s differs from the server (%v)", it.ID, err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("the dump holds no items")
	}
}

func TestSync_ErrorExitStatuses(t *testing.T) {
	srv, _ := syncServer(t, 10, 1)
	ctx := context.Background()
	dir := t.TempDir()
	tlsSrv := httptest.NewTLSServer(srv.Handler())
	defer tlsSrv.Close()
	locked := filepath.Join(dir, "locked.db")
	st, err := localstore.Open(locked, &localstore.Options{LockTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		msg  string
	}{
		{"wrong password", []string{"MAILSYNC_PASSWORD=wrong"}, syncArgs(srv.URL, filepath.Join(dir, "a.db"), "-once"), exitCredentials, "refused the credentials"},
		{"unreachable", []string{"MAILSYNC_PASSWORD=x"}, syncArgs("http://127.0.0.1:1/EWS/Exchange.asmx", filepath.Join(dir, "b.db"), "-once"), exitUnreachable, "unreachable"},
		{"untrusted certificate", []string{"MAILSYNC_PASSWORD=secret"}, syncArgs(tlsSrv.URL+"/EWS/Exchange.asmx", filepath.Join(dir, "c.db"), "-once"), exitTLS, "TLS"},
		{"store locked", []string{"MAILSYNC_PASSWORD=secret"}, syncArgs(srv.URL, locked, "-once"), exitStoreLocked, "in use by another process"},
		{"no url", nil, []string{"sync", "-user", "alice"}, exitUsage, "-url is required"},
		{"bad mode", nil, syncArgs(srv.URL, "x.db", "-mode", "smoke"), exitUsage, "-mode"},
		{"push without listener", nil, syncArgs(srv.URL, "x.db", "-mode", "push"), exitUsage, "-push-listen"},
		{"no secret", []string{"MAILSYNC_PASSWORD="}, syncArgs(srv.URL, filepath.Join(dir, "d.db"), "-once", "-password-file", filepath.Join(dir, "missing")), exitUsage, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runBinary(t, ctx, tt.env, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.msg) {
				t.Fatalf("exit %d (want %d), stderr:\n%s\nstdout:\n%s", code, tt.code, errOut, out)
			}
			if strings.Contains(out+errOut, "secret") {
				t.Fatalf("a secret appears in the output")
			}
		})
	}
}

// TestSync_CrashLoop kills "syncdemo sync" with SIGKILL at random moments
// (during the initial sync, during live batches, during recoveries after
// server restarts) 30 times, with activity throughout, and checks that a
// final run brings the mirror to exactly the server's state.
func TestSync_CrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop: skipped in -short mode")
	}
	srv, box := syncServer(t, 3000, 12)
	crashLoop(t, srv, box, 30)
	if n := srv.NotificationStats().Subscriptions; n > 2 {
		t.Fatalf("%d subscriptions left on the server after 30 kills", n)
	}
}

// TestSync_CrashLoopPush is the crash loop in push mode, each run on the
// same listener address: a run that follows a kill answers its
// predecessor's posts (Unsubscribe for the subscription it stored, 404 for
// the rest) while its own subscription delivers.
func TestSync_CrashLoopPush(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop: skipped in -short mode")
	}
	srv, box := syncServer(t, 1500, 8)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	crashLoop(t, srv, box, 12, "-mode", "push", "-push-listen", addr)
	// Most runs lived to subscribe (they are killed at random, some during
	// the initial sync).
	if n := srv.RequestStats().Requests["Subscribe"]; n < 6 {
		t.Fatalf("%d of 12 runs subscribed", n)
	}
}

// crashLoop runs "syncdemo sync" with args kills times, killing each run
// with SIGKILL at a random moment while activity (and now and then a
// server restart) goes on, checks the store after every tenth kill, and
// then checks that a final -once run makes the mirror equal the server.
func crashLoop(t *testing.T, srv *ewstest.Server, box *ewstest.Mailbox, kills int, args ...string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "m.db")
	bin := syncdemoBinary(t)
	act, err := srv.NewActivity(ewstest.ActivityOptions{Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range kills {
		cmd := exec.Command(bin, syncArgs(srv.URL, db, append([]string{"-quiet", "20ms", "-max-delay", "100ms", "-status-interval", "0"}, args...)...)...)
		cmd.Env = append(cmd.Environ(), "MAILSYNC_PASSWORD=secret")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The kill lands at a random moment; the sleeps spread the kill
		// times, they synchronize nothing.
		deadline := time.Now().Add(time.Duration(20+rng.IntN(400)) * time.Millisecond)
		for time.Now().Before(deadline) {
			for range 1 + rng.IntN(5) {
				act.Step()
			}
			if rng.IntN(8) == 0 {
				srv.Restart()
			}
			time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if i%10 == 9 {
			// The store is consistent after any kill.
			st, err := localstore.Open(db, &localstore.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("kill %d: open: %v", i, err)
			}
			cerr := st.Check(context.Background())
			st.Close()
			if cerr != nil {
				t.Fatalf("kill %d: %v", i, cerr)
			}
		}
	}
	out, errOut, code := runBinary(t, context.Background(), []string{"MAILSYNC_PASSWORD=secret"}, syncArgs(srv.URL, db, "-once")...)
	if code != 0 {
		t.Fatalf("final run: exit %d\n%s\n%s", code, out, errOut)
	}
	if d := mirrorDiff(t, db, box); len(d) > 0 {
		if len(d) > 20 {
			d = append(d[:20], "...")
		}
		t.Fatalf("after %d kills the mirror differs from the server:\n%s", kills, strings.Join(d, "\n"))
	}
}

func TestSync_DamagedStore(t *testing.T) {
	srv, box := syncServer(t, 200, 3)
	db := filepath.Join(t.TempDir(), "m.db")
	env := []string{"MAILSYNC_PASSWORD=secret"}
	ctx := context.Background()
	if _, errOut, code := runBinary(t, ctx, env, syncArgs(srv.URL, db, "-once")...); code != 0 {
		t.Fatalf("first sync: %d %s", code, errOut)
	}
	// Keep only the two meta pages: every page they point to is gone (a
	// cut in half may remove only free pages and go unnoticed).
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, data[:2*os.Getpagesize()], 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runBinary(t, ctx, env, syncArgs(srv.URL, db, "-once")...)
	if code != exitStoreBad || !strings.Contains(errOut, "-reset-damaged") {
		t.Fatalf("damaged store: exit %d\n%s", code, errOut)
	}
	out, errOut, code := runBinary(t, ctx, env, syncArgs(srv.URL, db, "-once", "-reset-damaged")...)
	if code != 0 || !strings.Contains(errOut, "moved it to") {
		t.Fatalf("-reset-damaged: exit %d\n%s\n%s", code, out, errOut)
	}
	if d := mirrorDiff(t, db, box); len(d) > 0 {
		t.Fatalf("after the reset:\n%s", strings.Join(d, "\n"))
	}
	aside, _ := filepath.Glob(db + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("damaged file kept as %v", aside)
	}
}

// TestSync_QueryWhileRunning: a running sync holds the store; query reads
// the snapshot it publishes.
func TestSync_QueryWhileRunning(t *testing.T) {
	srv, box := syncServer(t, 300, 3)
	db := filepath.Join(t.TempDir(), "m.db")
	cmd := exec.Command(syncdemoBinary(t), syncArgs(srv.URL, db, "-snapshot-interval", "50ms", "-status-interval", "0")...)
	cmd.Env = append(cmd.Environ(), "MAILSYNC_PASSWORD=secret")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	want := 0
	for _, f := range box.Folders() {
		if f.FolderClass == "IPF.Note" && underRoot(box, f) {
			want += f.TotalCount
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, errOut, code := runBinary(t, context.Background(), nil, "query", "-db", db, "-json", "stats")
		if code == 0 && strings.Contains(errOut, "snapshot") {
			var st struct {
				Mailboxes []struct {
					Items int `json:"items"`
				} `json:"mailboxes"`
			}
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatal(err)
			}
			if len(st.Mailboxes) == 1 && st.Mailboxes[0].Items == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("query never read a complete snapshot: exit %d\n%s\n%s", code, out, errOut)
		}
		time.Sleep(50 * time.Millisecond) // polls the other process's progress
	}
}
