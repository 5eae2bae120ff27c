package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailsync/mailsync/localstore"
)

// fixtureOptions shapes the store newFixture builds.
type fixtureOptions struct {
	noMIME  bool // store no MIME at all
	partial bool // leave the MIME of one Inbox item out
	bob     bool // add a second mailbox
}

// fixture is a store built through localstore.Open and Apply, as a sync
// would have left it.
type fixture struct {
	path  string
	base  time.Time
	items map[localstore.ItemID]localstore.Item
	mime  map[localstore.ItemID][]byte
}

const alice = localstore.Mailbox("alice@example.com")

// testMIME is a CRLF message; body lines are joined with CRLF and the last
// one gets no line end when noFinalEOL is set.
func testMIME(subject string, extraHeader string, body []string, noFinalEOL bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Sender <sender@example.net>\r\nTo: alice@example.com\r\nSubject: %s\r\n", subject)
	b.WriteString(extraHeader)
	fmt.Fprintf(&b, "Message-ID: <%s@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", subjectToken(subject))
	for i, l := range body {
		b.WriteString(l)
		if i < len(body)-1 || !noFinalEOL {
			b.WriteString("\r\n")
		}
	}
	return b.Bytes()
}

func subjectToken(s string) string {
	out := []rune{}
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			out = append(out, r)
		}
	}
	return string(out)
}

// newFixture builds alice's mailbox: Inbox (5 items, a subfolder
// Projects with 2), Sent Items (1), Archive with another Projects (1),
// a folder whose name needs sanitizing (1), and an empty Calendar; the
// top-level folders' parent is the unmirrored msgfolderroot "msgroot".
func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	fx := &fixture{path: filepath.Join(t.TempDir(), "mirror.db"), base: time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC),
		items: map[localstore.ItemID]localstore.Item{}, mime: map[localstore.ItemID][]byte{}}
	st, err := localstore.Open(fx.path, &localstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	folders := []localstore.FolderInfo{
		{ID: "inbox", ChangeKey: "ck-inbox", ParentID: "msgroot", DisplayName: "Inbox", FolderClass: "IPF.Note", TotalCount: 5, UnreadCount: 3, ChildFolderCount: 1},
		{ID: "proj1", ChangeKey: "ck-proj1", ParentID: "inbox", DisplayName: "Projects", FolderClass: "IPF.Note", TotalCount: 2},
		{ID: "sent", ChangeKey: "ck-sent", ParentID: "msgroot", DisplayName: "Sent Items", FolderClass: "IPF.Note", TotalCount: 1},
		{ID: "arch", ChangeKey: "ck-arch", ParentID: "msgroot", DisplayName: "Archive", FolderClass: "IPF.Note", ChildFolderCount: 1},
		{ID: "proj2", ChangeKey: "ck-proj2", ParentID: "arch", DisplayName: "Projects", FolderClass: "IPF.Note", TotalCount: 1},
		{ID: "weird", ChangeKey: "ck-weird", ParentID: "msgroot", DisplayName: ".a/b:c.", FolderClass: "IPF.Note", TotalCount: 1},
		{ID: "cal", ChangeKey: "ck-cal", ParentID: "msgroot", DisplayName: "Calendar", FolderClass: "IPF.Appointment"},
	}
	type spec struct {
		id, folder, subject string
		age                 time.Duration
		read                bool
		mime                []byte
	}
	specs := []spec{
		{"i1", "inbox", "oldest hello", 5 * time.Hour, true, testMIME("oldest hello", "", []string{"plain body"}, false)},
		{"i2", "inbox", "From lines", 4 * time.Hour, false, testMIME("From lines", "", []string{
			"From the start of a line", ">From quoted once", ">>From quoted twice", "From", "not From here", "", "From after a blank line"}, false)},
		{"i3", "inbox", "no final newline", 3 * time.Hour, true, testMIME("no final newline", "Status: O\r\nX-Status: A\r\n", []string{"first", "last line without EOL"}, true)},
		{"i4", "inbox", "unicode Grüße", 2 * time.Hour, false, testMIME("unicode Grüße", "", []string{"Grüße aus Köln", "\tindented"}, false)},
		{"i5", "inbox", "newest", 1 * time.Hour, false, testMIME("newest", "", []string{"bare\rCR inside", "end"}, false)},
		{"p1", "proj1", "project alpha", 10 * time.Hour, true, testMIME("project alpha", "", []string{"alpha"}, false)},
		{"p2", "proj1", "project beta", 9 * time.Hour, false, testMIME("project beta", "", []string{"beta"}, false)},
		{"s1", "sent", "sent report", 6 * time.Hour, true, testMIME("sent report", "", []string{"report"}, false)},
		{"a1", "proj2", "archived project", 48 * time.Hour, true, testMIME("archived project", "", []string{"old"}, false)},
		{"w1", "weird", "weird folder item", 7 * time.Hour, false, testMIME("weird folder item", "", []string{"w"}, false)},
	}
	b := localstore.Batch{Mailbox: alice, Folders: folders}
	for _, s := range specs {
		it := localstore.Item{ID: localstore.ItemID(s.id), ChangeKey: "ck-" + s.id, FolderID: localstore.FolderID(s.folder), ItemClass: "IPM.Note",
			Subject: s.subject, From: localstore.Address{Name: "Sender", Email: "sender@example.net"}, To: []localstore.Address{{Email: "alice@example.com"}},
			Received: fx.base.Add(-s.age), Sent: fx.base.Add(-s.age - time.Minute), Size: int64(len(s.mime)), IsRead: s.read,
			InternetMessageID: "<" + subjectToken(s.subject) + "@example.net>"}
		if s.id == "i4" {
			it.Categories = []string{"Red", "Blue"}
			it.Importance = localstore.ImportanceHigh
		}
		b.Items = append(b.Items, it)
		fx.items[it.ID] = it
		if o.noMIME || (o.partial && s.id == "i5") {
			continue
		}
		b.MIME = append(b.MIME, localstore.MIME{ID: it.ID, Data: s.mime})
		fx.mime[it.ID] = s.mime
	}
	synced := fx.base.Add(time.Minute)
	for _, f := range folders {
		b.Checkpoints = append(b.Checkpoints, localstore.Checkpoint{ID: f.ID, FolderSync: localstore.FolderSync{
			SyncState: "ss-" + string(f.ID), LocalCommitTimeMax: fx.base.Add(-time.Hour), DeletedCountTotal: 2, LastSynced: synced}})
	}
	if err := st.Apply(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if o.bob {
		bob := localstore.Batch{Mailbox: "bob@example.com",
			Folders: []localstore.FolderInfo{{ID: "bob-inbox", ChangeKey: "ck", ParentID: "bobroot", DisplayName: "Inbox", FolderClass: "IPF.Note", TotalCount: 1}},
			Items: []localstore.Item{{ID: "b1", ChangeKey: "ck-b1", FolderID: "bob-inbox", Subject: "for bob", From: localstore.Address{Email: "x@example.net"},
				Received: fx.base, IsRead: true}}}
		if !o.noMIME {
			bob.MIME = []localstore.MIME{{ID: "b1", Data: testMIME("for bob", "", []string{"hi bob"}, false)}}
		}
		if err := st.Apply(context.Background(), bob); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	return fx
}

// runCmd runs syncdemo in-process and returns its stdout and stderr.
func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}
