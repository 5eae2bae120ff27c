package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
)

// mirrorOf writes into a new store what a complete sync of box would
// leave: the folders below msgfolderroot with their items, and each
// folder's two MAPI props as read before its sync.
func mirrorOf(t *testing.T, box *ewstest.Mailbox) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mirror.db")
	st, err := localstore.Open(path, &localstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	top, err := box.FolderID("msgfolderroot")
	if err != nil {
		t.Fatal(err)
	}
	mb := localstore.Mailbox(box.Address())
	in := map[string]bool{top: true}
	for _, f := range box.Folders() { // parents before children
		if !in[f.ParentID] || f.ID == top {
			continue
		}
		in[f.ID] = true
		b := localstore.Batch{Mailbox: mb,
			Folders: []localstore.FolderInfo{{ID: localstore.FolderID(f.ID), ChangeKey: f.ChangeKey, ParentID: localstore.FolderID(f.ParentID),
				DisplayName: f.DisplayName, FolderClass: f.FolderClass, TotalCount: int64(f.TotalCount), UnreadCount: int64(f.UnreadCount),
				ChildFolderCount: int64(f.ChildFolderCount)}},
			Checkpoints: []localstore.Checkpoint{{ID: localstore.FolderID(f.ID), FolderSync: localstore.FolderSync{SyncState: "s",
				LocalCommitTimeMax: f.LocalCommitTimeMax, DeletedCountTotal: f.DeletedCountTotal}}}}
		items, err := box.Items(f.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			m := it.Message
			b.Items = append(b.Items, localstore.Item{ID: localstore.ItemID(it.ID), ChangeKey: it.ChangeKey, FolderID: localstore.FolderID(f.ID),
				ItemClass: m.ItemClass, Subject: m.Subject, From: localstore.Address(m.From), Received: m.DateTimeReceived,
				Sent: m.DateTimeSent, Size: int64(it.Size), IsRead: m.IsRead, Categories: m.Categories})
		}
		if err := st.Apply(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func jqNorm(t *testing.T, jq string, data []byte) []byte {
	t.Helper()
	cmd := exec.Command(jq, "-S", "-f", "dumpnorm.jq")
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jq: %v\n%s", err, stderr.String())
	}
	return out
}

// TestDump_diffsCleanAgainstServer checks the README's recipe: for equal
// state, the mirror's "query -json dump" and the control endpoint's
// mailbox dump agree after dumpnorm.jq; and a difference shows.
func TestDump_diffsCleanAgainstServer(t *testing.T) {
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Skip("jq not installed: the dump comparison recipe is not checked")
	}
	srv := ewstest.NewUnstartedServer(ewstest.Options{Users: []ewstest.User{{Name: "alice", Password: "x", Address: string(alice)}}})
	defer srv.Close()
	box := srv.Mailbox(string(alice))
	if _, err := ewstest.Seed(box, ewstest.SeedOptions{Messages: 400, Folders: 6, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	inbox, _ := box.FolderID("inbox")
	its, _ := box.Items(inbox)
	if _, err := box.SetRead(its[0].ID, !its[0].Message.IsRead); err != nil {
		t.Fatal(err)
	}
	db := mirrorOf(t, box)

	serverJSON := func() []byte {
		d, err := box.Dump(true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mirror, _, err := runCmd(t, "query", "-db", db, "-json", "dump")
	if err != nil {
		t.Fatal(err)
	}
	s, m := jqNorm(t, jq, serverJSON()), jqNorm(t, jq, []byte(mirror))
	if !bytes.Equal(s, m) {
		os.WriteFile(filepath.Join(t.TempDir(), "s.json"), s, 0o600)
		t.Fatalf("normalized dumps differ:\nserver %.2000s\nmirror %.2000s", s, m)
	}
	if len(m) < 10000 {
		t.Fatalf("suspiciously small dump: %d bytes", len(m))
	}
	// One change on the server makes the dumps differ.
	if _, err := box.SetRead(its[1].ID, !its[1].Message.IsRead); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(jqNorm(t, jq, serverJSON()), m) {
		t.Fatal("a read flag changed on the server, yet the normalized dumps agree")
	}
}
