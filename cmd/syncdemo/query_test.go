package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
)

func queryJSON[T any](t *testing.T, args ...string) T {
	t.Helper()
	out, stderr, err := runCmd(t, append([]string{"query", "-json"}, args...)...)
	if err != nil {
		t.Fatalf("query %v: %v\n%s", args, err, stderr)
	}
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("query %v: %v\n%s", args, err, out)
	}
	return v
}

type itemsOut struct {
	Address string
	Folder  folderRef
	Items   []itemJSON
}

func ids(items []itemJSON) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func TestQuery_Folders(t *testing.T) {
	fx := newFixture(t, fixtureOptions{})
	got := queryJSON[struct {
		Address string
		Folders []folderJSON
	}](t, "-db", fx.path, "folders")
	if got.Address != string(alice) || len(got.Folders) != 7 {
		t.Fatalf("%+v", got)
	}
	var paths []string
	for _, f := range got.Folders {
		paths = append(paths, f.Path)
	}
	want := []string{"Archive", "Archive/Projects", "Calendar", "Inbox", "Inbox/Projects", "Sent Items", ".a/b:c."}
	slices.Sort(want)
	sorted := slices.Sorted(slices.Values(paths))
	if !slices.Equal(sorted, want) {
		t.Fatalf("paths %q", paths)
	}
	for _, f := range got.Folders {
		if f.Path != "Inbox" {
			continue
		}
		if f.TotalCount != 5 || f.UnreadCount != 3 || f.ChildFolderCount != 1 || f.ServerTotalCount != 5 || f.Depth != 0 ||
			f.ParentID != "msgroot" || !f.Synced || f.LastSynced == nil || !f.LastSynced.Equal(fx.base.Add(time.Minute)) || f.DeletedCountTotal != 2 {
			t.Fatalf("Inbox %+v", f)
		}
	}
	out, _, err := runCmd(t, "query", "folders", "-db", fx.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FOLDER", "Inbox ", "  Projects ", "alice@example.com: 7 folders, 10 items, 5 unread"} {
		if !strings.Contains(out, want) {
			t.Fatalf("folders table lacks %q:\n%s", want, out)
		}
	}
}

func TestQuery_Items(t *testing.T) {
	fx := newFixture(t, fixtureOptions{})
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"by name, newest first", []string{"items", "Inbox"}, []string{"i5", "i4", "i3", "i2", "i1"}},
		{"by id", []string{"items", "inbox"}, []string{"i5", "i4", "i3", "i2", "i1"}},
		{"by path", []string{"items", "Inbox/Projects"}, []string{"p2", "p1"}},
		{"path case-insensitive", []string{"items", "archive/projects"}, []string{"a1"}},
		{"flags after the word", []string{"items", "Inbox", "-limit", "2"}, []string{"i5", "i4"}},
		{"unread", []string{"-unread", "items", "Inbox"}, []string{"i5", "i4", "i2"}},
		{"before", []string{"items", "Inbox", "-before", fx.base.Add(-2 * time.Hour).Format(time.RFC3339)}, []string{"i3", "i2", "i1"}},
		{"before and unread", []string{"items", "-unread", "-before", "2024-05-01T07:00:00Z", "Inbox"}, []string{"i2"}},
		{"before a date", []string{"items", "Inbox", "-before", "2024-05-01"}, nil},
		{"limit 0 is all", []string{"-limit", "0", "items", "Inbox"}, []string{"i5", "i4", "i3", "i2", "i1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := queryJSON[itemsOut](t, append([]string{"-db", fx.path}, tc.args...)...)
			if !slices.Equal(ids(got.Items), tc.want) {
				t.Fatalf("items %v, want %v", ids(got.Items), tc.want)
			}
			if got.Items == nil {
				t.Fatal(`"items" is null, want []`)
			}
		})
	}
	got := queryJSON[itemsOut](t, "-db", fx.path, "items", "Inbox", "-limit", "1")
	it := got.Items[0]
	if got.Folder.Path != "Inbox" || it.FolderPath != "Inbox" || it.From != "sender@example.net" || it.FromName != "Sender" ||
		it.IsRead || !it.DateTimeReceived.Equal(fx.base.Add(-time.Hour)) || it.Importance != "Normal" || it.Size != len(fx.mime["i5"]) {
		t.Fatalf("%+v", got)
	}
	out, _, err := runCmd(t, "query", "-db", fx.path, "items", "Inbox/Projects")
	if err != nil || !strings.Contains(out, "project beta") || !strings.Contains(out, "Inbox/Projects: 2 items shown") {
		t.Fatalf("table: %v\n%s", err, out)
	}
}

func TestQuery_ItemSearchStats(t *testing.T) {
	fx := newFixture(t, fixtureOptions{partial: true, bob: true})
	d := queryJSON[itemDetailJSON](t, "-db", fx.path, "-mailbox", "ALICE@example.com", "item", "i4")
	if d.Subject != "unicode Grüße" || d.MIMESize != len(fx.mime["i4"]) || d.Importance != "High" || !slices.Equal(d.Categories, []string{"Red", "Blue"}) ||
		d.FolderPath != "Inbox" || len(d.To) != 1 || d.To[0].Email != "alice@example.com" {
		t.Fatalf("item %+v", d)
	}
	if d := queryJSON[itemDetailJSON](t, "-db", fx.path, "-mailbox", string(alice), "item", "i5"); d.MIMESize != 0 {
		t.Fatalf("item without MIME: mimeSize %d", d.MIMESize)
	}
	out, _, err := runCmd(t, "query", "-db", fx.path, "-mailbox", string(alice), "item", "i5")
	if err != nil || !strings.Contains(out, "not mirrored") || !regexp.MustCompile(`(?m)^Subject: +newest$`).MatchString(out) {
		t.Fatalf("item table: %v\n%s", err, out)
	}

	s := queryJSON[struct {
		Text  string
		Items []itemJSON
	}](t, "-db", fx.path, "-mailbox", string(alice), "search", "PROJECT")
	if !slices.Equal(ids(s.Items), []string{"p2", "p1", "a1"}) {
		t.Fatalf("search %v", ids(s.Items))
	}
	s = queryJSON[struct {
		Text  string
		Items []itemJSON
	}](t, "-db", fx.path, "-mailbox", string(alice), "search", "project", "-folder", "Archive/Projects")
	if !slices.Equal(ids(s.Items), []string{"a1"}) || s.Items[0].FolderPath != "Archive/Projects" {
		t.Fatalf("search in a folder %+v", s.Items)
	}

	st := queryJSON[struct {
		Path      string
		FileSize  int64
		Mailboxes []statsJSON
	}](t, "-db", fx.path, "stats")
	if len(st.Mailboxes) != 2 || st.Path != fx.path || st.FileSize == 0 {
		t.Fatalf("stats %+v", st)
	}
	a := st.Mailboxes[0]
	if a.Address != string(alice) || a.Folders != 7 || a.Items != 10 || a.Unread != 5 || a.MIMEItems != 9 || a.Subscription != "none" || a.LastSynced == nil {
		t.Fatalf("alice's stats %+v", a)
	}
	if b := st.Mailboxes[1]; b.Address != "bob@example.com" || b.Items != 1 || b.LastSynced != nil {
		t.Fatalf("bob's stats %+v", b)
	}
}

func TestQuery_Errors(t *testing.T) {
	fx := newFixture(t, fixtureOptions{bob: true})
	missing := filepath.Join(t.TempDir(), "nope.db")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-db", missing, "folders"}, exitStoreMissing, "no store at " + missing},
		{[]string{"folders"}, exitUsage, "-db"},
		{[]string{"-db", fx.path}, exitUsage, "needs one of"},
		{[]string{"-db", fx.path, "frob"}, exitUsage, `unknown query "frob"`},
		{[]string{"-db", fx.path, "items"}, exitUsage, "needs one argument"},
		{[]string{"-db", fx.path, "stats", "x"}, exitUsage, "takes no argument"},
		{[]string{"-db", fx.path, "folders"}, exitUsage, "pick one with -mailbox"},
		{[]string{"-db", fx.path, "-mailbox", "carol@example.com", "folders"}, exitNotFound, `no mailbox "carol@example.com"`},
		{[]string{"-db", fx.path, "-mailbox", string(alice), "items", "Nowhere"}, exitNotFound, `no folder "Nowhere"`},
		{[]string{"-db", fx.path, "-mailbox", string(alice), "items", "Projects"}, exitUsage, "Archive/Projects, Inbox/Projects"},
		{[]string{"-db", fx.path, "-mailbox", string(alice), "item", "zz"}, exitNotFound, `item "zz"`},
		{[]string{"-db", fx.path, "-mailbox", string(alice), "-before", "yesterday", "items", "Inbox"}, exitUsage, "-before"},
		{[]string{"-db", fx.path, "-mailbox", string(alice), "search", " "}, exitUsage, "non-empty"},
	} {
		_, _, err := runCmd(t, append([]string{"query"}, tc.args...)...)
		if got := exitStatus(err); got != tc.code || err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("query %q: exit %d (%v), want %d and %q", tc.args, got, err, tc.code, tc.msg)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("query created the missing store: %v", err)
	}
	if _, _, err := runCmd(t, "query", "-h"); err != nil {
		t.Fatalf("-h: %v", err)
	}
}

func TestQuery_Locked(t *testing.T) {
	fx := newFixture(t, fixtureOptions{})
	st, err := localstore.Open(fx.path, &localstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, _, err = runCmd(t, "query", "-db", fx.path, "-wait", "50ms", "stats")
	if exitStatus(err) != exitStoreLocked || !strings.Contains(err.Error(), "syncdemo sync") {
		t.Fatalf("locked store: exit %d: %v", exitStatus(err), err)
	}
}

func TestQuery_Dump(t *testing.T) {
	fx := newFixture(t, fixtureOptions{bob: true})
	one := queryJSON[mailboxDump](t, "-db", fx.path, "-mailbox", string(alice), "dump")
	if one.Address != string(alice) || len(one.Folders) != 7 {
		t.Fatalf("%+v", one)
	}
	n := 0
	for _, f := range one.Folders {
		if len(f.Items) != f.TotalCount {
			t.Errorf("%s: %d items, totalCount %d", f.DisplayName, len(f.Items), f.TotalCount)
		}
		if f.ID == "cal" && f.Items != nil {
			t.Errorf("empty folder has items %v", f.Items)
		}
		if f.ID == "inbox" && (f.UnreadCount != 3 || f.ChildFolderCount != 1 || !f.LocalCommitTimeMax.Equal(fx.base.Add(-time.Hour)) || f.Items[0].ID != "i5") {
			t.Errorf("inbox %+v", f)
		}
		n += len(f.Items)
	}
	if n != 10 {
		t.Fatalf("%d items dumped", n)
	}
	all := queryJSON[struct{ Mailboxes []mailboxDump }](t, "-db", fx.path, "dump")
	if len(all.Mailboxes) != 2 || all.Mailboxes[1].Address != "bob@example.com" || len(all.Mailboxes[1].Folders[0].Items) != 1 {
		t.Fatalf("%+v", all)
	}
	out, _, err := runCmd(t, "query", "-db", fx.path, "-mailbox", "bob@example.com", "dump")
	if err != nil || !strings.Contains(out, "== Inbox (1 items, 0 unread)") || !strings.Contains(out, "for bob") {
		t.Fatalf("dump table: %v\n%s", err, out)
	}
}

// jsonFields maps a struct type's JSON names to their Go type and tag.
func jsonFields(t reflect.Type) map[string][2]string {
	out := map[string][2]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		typ := f.Type.String()
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
			typ = "[]struct"
		}
		out[name] = [2]string{typ, f.Tag.Get("json")}
	}
	return out
}

// TestDumpJSON_matchesEwstest checks that the dump's JSON names, Go types
// and omitempty options are ewstest's, and that what it leaves out is
// exactly the documented list.
func TestDumpJSON_matchesEwstest(t *testing.T) {
	for _, tc := range []struct {
		ours, theirs reflect.Type
		left         []string
	}{
		{reflect.TypeFor[mailboxDump](), reflect.TypeFor[ewstest.MailboxDump](), []string{"database"}},
		{reflect.TypeFor[folderDump](), reflect.TypeFor[ewstest.FolderDump](), []string{"changeNumber", "distinguishedId"}},
		{reflect.TypeFor[itemDump](), reflect.TypeFor[ewstest.ItemDump](), []string{"flagStatus"}},
	} {
		ours, theirs := jsonFields(tc.ours), jsonFields(tc.theirs)
		for name, o := range ours {
			if th, ok := theirs[name]; !ok || th != o {
				t.Errorf("%v.%s: %v, ewstest has %v", tc.ours, name, o, th)
			}
		}
		var left []string
		for name := range theirs {
			if _, ok := ours[name]; !ok {
				left = append(left, name)
			}
		}
		slices.Sort(left)
		if !slices.Equal(left, tc.left) {
			t.Errorf("%v leaves out %v, documented %v", tc.ours, left, tc.left)
		}
	}
}
