package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailsync/mailsync/localstore"
)

// mboxMessage is one message read back from an mbox file.
type mboxMessage struct {
	from string // the "From " line without "From "
	data []byte // the message, unquoted
}

// parseMboxrd reads an mboxrd file: a message starts at a "From " line,
// ends with an empty line before the next one (or the end), and has one
// ">" taken off every line matching ^>+From .
func parseMboxrd(data []byte) ([]mboxMessage, error) {
	var out []mboxMessage
	if len(data) == 0 {
		return nil, nil
	}
	if !bytes.HasPrefix(data, []byte("From ")) {
		return nil, errors.New("mbox does not start with a From line")
	}
	if !bytes.HasSuffix(data, []byte("\n\n")) {
		return nil, errors.New("mbox does not end with an empty line")
	}
	lines := strings.SplitAfter(string(data), "\n")
	var cur *mboxMessage
	var body strings.Builder
	flush := func() error {
		if cur == nil {
			return nil
		}
		s := body.String()
		if !strings.HasSuffix(s, "\n\n") && s != "\n" {
			return fmt.Errorf("message from %q is not followed by an empty line", cur.from)
		}
		cur.data = []byte(s[:len(s)-1])
		out = append(out, *cur)
		body.Reset()
		return nil
	}
	for _, l := range lines {
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "From ") {
			if err := flush(); err != nil {
				return nil, err
			}
			cur = &mboxMessage{from: strings.TrimSuffix(strings.TrimPrefix(l, "From "), "\n")}
			continue
		}
		if strings.HasPrefix(strings.TrimLeft(l, ">"), "From ") {
			l = l[1:]
		}
		body.WriteString(l)
	}
	return out, flush()
}

// wantMbox is what an exported message should read back as: LF line
// ends, a final newline, no Status fields but "Status: RO" for a read one.
func wantMbox(raw []byte, read bool) []byte {
	s := strings.ReplaceAll(string(raw), "\r\n", "\n")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	head, body, _ := strings.Cut(s, "\n\n")
	var keep []string
	for _, l := range strings.Split(head, "\n") {
		lower := strings.ToLower(l)
		if !strings.HasPrefix(lower, "status:") && !strings.HasPrefix(lower, "x-status:") {
			keep = append(keep, l)
		}
	}
	if read {
		keep = append(keep, "Status: RO")
	}
	return []byte(strings.Join(keep, "\n") + "\n\n" + body)
}

// quoteMboxrd applies mboxrd quoting, as Python's mailbox module returns
// message bytes still quoted.
func quoteMboxrd(b []byte) []byte {
	lines := strings.SplitAfter(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimLeft(l, ">"), "From ") {
			lines[i] = ">" + l
		}
	}
	return []byte(strings.Join(lines, ""))
}

// folderItems lists the fixture's items of a folder, oldest first.
func (fx *fixture) folderItems(folder string) []localstore.Item {
	var out []localstore.Item
	for _, it := range fx.items {
		if string(it.FolderID) == folder {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b localstore.Item) int { return a.Received.Compare(b.Received) })
	return out
}

var fixtureMbox = map[string]string{
	"inbox": "Inbox.mbox", "proj1": "Inbox/Projects.mbox", "sent": "Sent Items.mbox", "arch": "Archive.mbox",
	"proj2": "Archive/Projects.mbox", "weird": "_a_b_c.mbox", "cal": "Calendar.mbox",
}

var fixtureMaildir = map[string]string{
	"inbox": "", "proj1": ".Inbox.Projects", "sent": ".Sent Items", "arch": ".Archive",
	"proj2": ".Archive.Projects", "weird": "._a_b_c_", "cal": ".Calendar",
}

// checkTree checks modes (files 0600, directories 0700) and that no
// temporary file is left.
func checkTree(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		if strings.Contains(d.Name(), ".tmp-") || filepath.Base(filepath.Dir(path)) == "tmp" {
			t.Errorf("left behind: %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestExport_Mbox(t *testing.T) {
	fx := newFixture(t, fixtureOptions{})
	out := filepath.Join(t.TempDir(), "backup")
	stdout, _, err := runCmd(t, "export", "-db", fx.path, "-format", "mbox", "-out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "exported 10 messages") || !strings.Contains(stdout, "from 7 folders") {
		t.Fatalf("summary %q", stdout)
	}
	checkTree(t, out)
	for folder, file := range fixtureMbox {
		data, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := parseMboxrd(data)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		items := fx.folderItems(folder)
		if len(msgs) != len(items) {
			t.Fatalf("%s: %d messages, want %d", file, len(msgs), len(items))
		}
		for i, it := range items {
			wantFrom := "sender@example.net " + it.Received.Format("Mon Jan _2 15:04:05 2006")
			if msgs[i].from != wantFrom {
				t.Errorf("%s #%d: From line %q, want %q", file, i, msgs[i].from, wantFrom)
			}
			if want := wantMbox(fx.mime[it.ID], it.IsRead); !bytes.Equal(msgs[i].data, want) {
				t.Errorf("%s #%d (%s): read back\n%q\nwant\n%q", file, i, it.ID, msgs[i].data, want)
			}
		}
	}
	// The From lines of i2 are quoted on disk.
	data, _ := os.ReadFile(filepath.Join(out, "Inbox.mbox"))
	for _, want := range []string{"\n>From the start of a line\n", "\n>>From quoted once\n", "\n>>>From quoted twice\n", "\nFrom\n", "\n>From after a blank line\n"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("Inbox.mbox lacks %q", want)
		}
	}
	checkPythonMbox(t, fx, out)
}

// python returns the interpreter the interop tests use, or skips.
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("python3 not installed: the export is not read back with Python's mailbox module (CI installs it)")
	return ""
}

func runPython(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(python(t), append([]string{"-c", script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	return out
}

type pyMessage struct {
	From   string `json:"from"`
	Flags  string `json:"flags"`
	Subdir string `json:"subdir"`
	Name   string `json:"name"`
	Data   string `json:"data"`
}

const pyMbox = `
import base64, json, mailbox, sys
out = {}
for path in sys.argv[1:]:
    box = mailbox.mbox(path, create=False)
    out[path] = [{"from": m.get_from(), "flags": m.get_flags(), "subdir": "", "name": "",
                  "data": base64.b64encode(box.get_bytes(k)).decode()} for k, m in box.iteritems()]
print(json.dumps(out))
`

func checkPythonMbox(t *testing.T, fx *fixture, out string) {
	var paths []string
	for _, file := range fixtureMbox {
		paths = append(paths, filepath.Join(out, file))
	}
	var got map[string][]pyMessage
	if err := json.Unmarshal(runPython(t, pyMbox, paths...), &got); err != nil {
		t.Fatal(err)
	}
	for folder, file := range fixtureMbox {
		items, msgs := fx.folderItems(folder), got[filepath.Join(out, file)]
		if len(msgs) != len(items) {
			t.Fatalf("python: %s has %d messages, want %d", file, len(msgs), len(items))
		}
		for i, it := range items {
			data, _ := base64.StdEncoding.DecodeString(msgs[i].Data)
			if want := quoteMboxrd(wantMbox(fx.mime[it.ID], it.IsRead)); !bytes.Equal(data, want) {
				t.Errorf("python: %s #%d:\n%q\nwant\n%q", file, i, data, want)
			}
			wantFlags := ""
			if it.IsRead {
				wantFlags = "RO"
			}
			if msgs[i].Flags != wantFlags || !strings.HasPrefix(msgs[i].From, "sender@example.net ") {
				t.Errorf("python: %s #%d: flags %q from %q", file, i, msgs[i].Flags, msgs[i].From)
			}
		}
	}
}

const pyMaildir = `
import base64, json, mailbox, sys
root = mailbox.Maildir(sys.argv[1], factory=None, create=False)
def msgs(md):
    return [{"from": "", "flags": m.get_flags(), "subdir": m.get_subdir(), "name": k,
             "data": base64.b64encode(md.get_bytes(k)).decode()} for k, m in md.iteritems()]
out = {"": msgs(root)}
for name in root.list_folders():
    out["." + name] = msgs(root.get_folder(name))
print(json.dumps(out))
`

func TestExport_Maildir(t *testing.T) {
	fx := newFixture(t, fixtureOptions{})
	out := filepath.Join(t.TempDir(), "Maildir")
	if _, _, err := runCmd(t, "export", "-db", fx.path, "-format", "maildir", "-out", out); err != nil {
		t.Fatal(err)
	}
	checkTree(t, out)
	for folder, dir := range fixtureMaildir {
		_, err := os.Stat(filepath.Join(out, dir, "maildirfolder"))
		if (dir != "") != (err == nil) {
			t.Errorf("%q: maildirfolder file: %v", dir, err)
		}
		for _, sub := range []string{"cur", "new", "tmp"} {
			if fi, err := os.Stat(filepath.Join(out, dir, sub)); err != nil || !fi.IsDir() {
				t.Fatalf("%s of %q (%s): %v", sub, dir, folder, err)
			}
		}
	}
	var got map[string][]pyMessage
	if err := json.Unmarshal(runPython(t, pyMaildir, out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(fixtureMaildir) {
		t.Fatalf("python sees folders %v", slices.Sorted(func(yield func(string) bool) {
			for k := range got {
				if !yield(k) {
					return
				}
			}
		}))
	}
	for folder, dir := range fixtureMaildir {
		items := fx.folderItems(folder)
		msgs := got[dir]
		if len(msgs) != len(items) {
			t.Fatalf("python: %q has %d messages, want %d", dir, len(msgs), len(items))
		}
		byData := map[string]pyMessage{}
		for _, m := range msgs {
			data, _ := base64.StdEncoding.DecodeString(m.Data)
			byData[string(data)] = m
		}
		for _, it := range items {
			want := bytes.ReplaceAll(fx.mime[it.ID], []byte("\r\n"), []byte("\n"))
			m, ok := byData[string(want)]
			if !ok {
				t.Errorf("python: %q lacks %s", dir, it.ID)
				continue
			}
			wantSub, wantFlags := "new", ""
			if it.IsRead {
				wantSub, wantFlags = "cur", "S"
			}
			if m.Subdir != wantSub || m.Flags != wantFlags || !strings.HasPrefix(m.Name, fmt.Sprint(it.Received.Unix())+".") {
				t.Errorf("python: %q %s: subdir %q flags %q name %q", dir, it.ID, m.Subdir, m.Flags, m.Name)
			}
		}
	}
}

func TestExport_Selection(t *testing.T) {
	fx := newFixture(t, fixtureOptions{bob: true})
	out := filepath.Join(t.TempDir(), "all")
	if _, _, err := runCmd(t, "export", "-db", fx.path, "-format", "mbox", "-out", out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"alice@example.com/Inbox.mbox", "alice@example.com/Archive/Projects.mbox", "bob@example.com/Inbox.mbox"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	out = filepath.Join(t.TempDir(), "inbox")
	if _, _, err := runCmd(t, "export", "-db", fx.path, "-mailbox", string(alice), "-folder", "Inbox", "-format", "maildir", "-out", out); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(out)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{".Inbox.Projects", "cur", "new", "tmp"}) {
		t.Fatalf("-folder Inbox wrote %v", names)
	}
	cur, _ := os.ReadDir(filepath.Join(out, "cur"))
	nw, _ := os.ReadDir(filepath.Join(out, "new"))
	if len(cur) != 2 || len(nw) != 3 || !strings.HasSuffix(cur[0].Name(), ":2,S") {
		t.Fatalf("Inbox: cur %v new %v", cur, nw)
	}
}

func TestExport_Errors(t *testing.T) {
	full := newFixture(t, fixtureOptions{})
	none := newFixture(t, fixtureOptions{noMIME: true})
	partial := newFixture(t, fixtureOptions{partial: true})
	notEmpty := t.TempDir()
	os.WriteFile(filepath.Join(notEmpty, "keep"), nil, 0o600)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no MIME", []string{"-db", none.path, "-format", "mbox"}, exitNoMIME, "sync with -mime"},
		{"missing store", []string{"-db", none.path + ".gone", "-format", "mbox"}, exitStoreMissing, "no store at"},
		{"unknown folder", []string{"-db", full.path, "-format", "mbox", "-folder", "Nowhere"}, exitNotFound, `no folder "Nowhere"`},
		{"unknown mailbox", []string{"-db", full.path, "-format", "mbox", "-mailbox", "x@y"}, exitNotFound, `no mailbox "x@y"`},
		{"bad format", []string{"-db", full.path, "-format", "pst"}, exitUsage, "-format"},
		{"no out", []string{"-db", full.path, "-format", "mbox", "-out", ""}, exitUsage, "-out"},
		{"out not empty", []string{"-db", full.path, "-format", "mbox", "-out", notEmpty}, exitUsage, "not empty"},
		{"argument", []string{"-db", full.path, "-format", "mbox", "extra"}, exitUsage, "no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			_, _, err := runCmd(t, append([]string{"export", "-out", out}, tc.args...)...)
			if exitStatus(err) != tc.code || !strings.Contains(fmt.Sprint(err), tc.msg) {
				t.Fatalf("exit %d (%v), want %d and %q", exitStatus(err), err, tc.code, tc.msg)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused export created -out: %v", err)
			}
		})
	}
	out := filepath.Join(t.TempDir(), "partial")
	_, _, err := runCmd(t, "export", "-db", partial.path, "-format", "mbox", "-out", out)
	var pe *partialExportError
	if exitStatus(err) != exitPartial || !errors.As(err, &pe) || pe.Written != 9 || pe.Skipped != 1 {
		t.Fatalf("partial: exit %d: %v", exitStatus(err), err)
	}
	data, _ := os.ReadFile(filepath.Join(out, "Inbox.mbox"))
	if msgs, _ := parseMboxrd(data); len(msgs) != 4 {
		t.Fatalf("partial Inbox: %d messages", len(msgs))
	}
}

// TestExport_Atomic checks that a file whose writing fails never appears
// under its final name, and that its temporary file is removed.
func TestExport_Atomic(t *testing.T) {
	dir := t.TempDir()
	w := &exportWriter{cfg: &exportConfig{}}
	boom := errors.New("boom")
	err := w.writeAtomic(dir, "Inbox.mbox", func(bw *bufio.Writer) error {
		bw.WriteString(strings.Repeat("From x Thu Jan  1 00:00:00 1970\nhalf\n\n", 20000))
		bw.Flush()
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("failed write left %v", entries)
	}
	if err := w.writeAtomic(dir, "Inbox.mbox", func(bw *bufio.Writer) error { _, err := bw.WriteString("x"); return err }); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 || entries[0].Name() != "Inbox.mbox" {
		t.Fatalf("entries %v", entries)
	}
}

func TestExport_Names(t *testing.T) {
	mk := func(fs ...localstore.FolderInfo) *folderTree {
		t := &folderTree{byID: map[localstore.FolderID]*treeFolder{}}
		for _, f := range fs {
			tf := &treeFolder{Folder: localstore.Folder{FolderInfo: f}, names: []string{f.DisplayName}}
			if p := t.byID[f.ParentID]; p != nil {
				tf.names = append(slices.Clip(p.names), f.DisplayName)
			}
			t.list = append(t.list, tf)
			t.byID[f.ID] = tf
		}
		return t
	}
	tree := mk(
		localstore.FolderInfo{ID: "1", ParentID: "r", DisplayName: "X"},
		localstore.FolderInfo{ID: "2", ParentID: "r", DisplayName: "X.mbox"},
		localstore.FolderInfo{ID: "3", ParentID: "r", DisplayName: "a/b"},
		localstore.FolderInfo{ID: "4", ParentID: "r", DisplayName: "a_b"},
		localstore.FolderInfo{ID: "5", ParentID: "r", DisplayName: "foo"},
		localstore.FolderInfo{ID: "6", ParentID: "r", DisplayName: "FOO"},
		localstore.FolderInfo{ID: "7", ParentID: "r", DisplayName: "inbox"},
		localstore.FolderInfo{ID: "8", ParentID: "r", DisplayName: "Inbox"},
		localstore.FolderInfo{ID: "9", ParentID: "7", DisplayName: "v1.2"},
		localstore.FolderInfo{ID: "10", ParentID: "r", DisplayName: "  ..  "},
		localstore.FolderInfo{ID: "11", ParentID: "r", DisplayName: "con\x00trol\ttab"},
	)
	mbox := mboxPaths("/o", tree)
	wantMbox := map[localstore.FolderID]string{"1": "/o/X.mbox", "2": "/o/X.mbox~2.mbox", "3": "/o/a_b.mbox", "4": "/o/a_b~2.mbox",
		"5": "/o/foo.mbox", "6": "/o/FOO~2.mbox", "7": "/o/inbox.mbox", "8": "/o/Inbox~2.mbox", "9": "/o/inbox/v1.2.mbox",
		"10": "/o/_.mbox", "11": "/o/con_trol_tab.mbox"}
	for id, want := range wantMbox {
		if mbox[id] != want {
			t.Errorf("mbox %s: %q, want %q", id, mbox[id], want)
		}
	}
	md := maildirPaths("/o", tree)
	wantMd := map[localstore.FolderID]string{"1": "/o/.X", "2": "/o/.X_mbox", "3": "/o/.a_b", "4": "/o/.a_b~2", "5": "/o/.foo", "6": "/o/.FOO~2",
		"7": "/o", "8": "/o/.Inbox~2", "9": "/o/.Inbox.v1_2", "10": "/o/.__", "11": "/o/.con_trol_tab"}
	for id, want := range wantMd {
		if md[id] != want {
			t.Errorf("maildir %s: %q, want %q", id, md[id], want)
		}
	}
}

func TestExport_MboxMessageForm(t *testing.T) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	writeMboxMessage(w, "has space@x", time.Time{}, []byte("Subject: s\r\nstatus: RO\r\n\tcontinued\r\nX-Other: 1\r\n\r\nFrom me\r\n"), false)
	writeMboxMessage(w, "", time.Date(2024, 3, 9, 8, 7, 6, 0, time.FixedZone("x", 3600)), []byte("Subject: only headers"), true)
	w.Flush()
	want := "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: s\nX-Other: 1\n\n>From me\n\n" +
		"From MAILER-DAEMON Sat Mar  9 07:07:06 2024\nSubject: only headers\nStatus: RO\n\n"
	if b.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", b.String(), want)
	}
}
