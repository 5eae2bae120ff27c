package ewstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// smokeSeed is what TestExchangelibSmoke puts in the Inbox before
// exchangelib looks: 20 messages one hour apart, every third one unread.
func smokeSeed(t *testing.T, m *Mailbox) (subjects []string, unread int) {
	t.Helper()
	inbox, err := m.FolderID("inbox")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	for i := range 20 {
		msg := Message{
			Subject:          fmt.Sprintf("message %02d", i),
			From:             Address{Name: "Bob", Email: "bob@example.com"},
			To:               []Address{{Name: "Alice", Email: "alice@example.com"}},
			Body:             fmt.Sprintf("body of message %02d", i),
			DateTimeReceived: base.Add(time.Duration(i) * time.Hour),
			IsRead:           i%3 != 0,
		}
		if !msg.IsRead {
			unread++
		}
		if i == 4 {
			msg.Attachments = []Attachment{{Name: "notes.txt", ContentType: "text/plain", Content: []byte("attached notes")}}
		}
		if _, err := m.Deliver(inbox, msg); err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, msg.Subject)
	}
	return subjects, unread
}

// TestExchangelibSmoke drives the fake with exchangelib features the
// interop test (interop_test.go) does not use: the folder tree, ordered
// and sliced queries, is_read filters, FindItem paging, refresh,
// bulk_create/bulk_update/bulk_delete, Folder save/rename/delete,
// GetFolder with the two MAPI properties registered as extended
// properties, move/copy/trash/soft delete, CreateItem from MIME and
// restrictions.
func TestExchangelibSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("exchangelib smoke test skipped in -short mode")
	}
	if _, err := os.Stat(interopPython); err != nil {
		skipOrFailInterop(t, interopPython+" is missing")
	}
	if err := exec.Command(interopPython, "-c", "import exchangelib").Run(); err != nil {
		skipOrFailInterop(t, "python3-exchangelib is not installed")
	}
	srv := NewServer(Options{
		Users:  []User{{Name: "alice", Password: "secret", Address: "alice@example.com"}},
		Auth:   AuthOptions{Mode: AuthBasic},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer srv.Close()
	m := srv.Mailbox("alice@example.com")
	subjects, unread := smokeSeed(t, m)

	cmd := exec.Command(interopPython, filepath.Join(msdocsDir, "exchangelib_smoke.py"), srv.URL, "alice", "secret", "alice@example.com")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("exchangelib smoke script failed: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s", err, stdout.String())
	}
	// step decodes one step's result, failing the subtest when exchangelib
	// raised.
	step := func(t *testing.T, name string, v any) bool {
		t.Helper()
		raw, ok := out[name]
		if !ok {
			t.Fatalf("step %s missing from the output", name)
		}
		var failed struct {
			Error string `json:"error"`
			Trace string `json:"trace"`
		}
		if json.Unmarshal(raw, &failed) == nil && failed.Error != "" {
			t.Fatalf("exchangelib raised %s\n%s", failed.Error, failed.Trace)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("decode %s: %v: %s", name, err, raw)
		}
		return true
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("exchangelib saw: %s", stdout.String())
		}
	})
	newest := slices.Clone(subjects)
	slices.Reverse(newest)

	t.Run("root.tree", func(t *testing.T) {
		var lines []string
		step(t, "root_tree", &lines)
		tree := strings.Join(lines, "\n")
		for _, name := range []string{"Root", "Top of Information Store", "Inbox", "Drafts", "Sent Items", "Deleted Items", "Junk Email", "Outbox"} {
			if !strings.Contains(tree, name) {
				t.Errorf("tree has no %q:\n%s", name, tree)
			}
		}
	})
	t.Run("order_by newest first, sliced", func(t *testing.T) {
		var got struct {
			Subjects []string `json:"subjects"`
			Received []string `json:"received"`
		}
		step(t, "newest_ten", &got)
		if !slices.Equal(got.Subjects, newest[:10]) {
			t.Errorf("subjects %v, want %v", got.Subjects, newest[:10])
		}
		for i := 1; i < len(got.Received); i++ {
			if got.Received[i] >= got.Received[i-1] {
				t.Errorf("datetime_received not descending: %v", got.Received)
				break
			}
		}
	})
	t.Run("filter is_read", func(t *testing.T) {
		var got struct {
			Unread   int      `json:"unread_count"`
			Read     int      `json:"read_count"`
			Subjects []string `json:"unread_subjects"`
		}
		step(t, "filter_is_read", &got)
		var want []string
		for i, s := range subjects {
			if i%3 == 0 {
				want = append(want, s)
			}
		}
		if got.Unread != unread || got.Read != len(subjects)-unread || !slices.Equal(got.Subjects, want) {
			t.Errorf("got %+v, want %d unread %v and %d read", got, unread, want, len(subjects)-unread)
		}
	})
	t.Run("FindItem paging", func(t *testing.T) {
		var got struct{ Count, Unique int }
		step(t, "paging", &got)
		if got.Count != len(subjects) || got.Unique != len(subjects) {
			t.Errorf("pages of 7 gave %d items (%d unique), want %d", got.Count, got.Unique, len(subjects))
		}
		var vl []string
		step(t, "values_list", &vl)
		if !slices.Equal(vl, subjects) {
			t.Errorf("values_list %v, want %v", vl, subjects)
		}
	})
	t.Run("item.refresh", func(t *testing.T) {
		var got struct {
			Before string `json:"before"`
			After  string `json:"after_refresh"`
			Size   bool   `json:"has_mime_size"`
		}
		step(t, "item_refresh", &got)
		if got.Before != newest[0] || got.After != got.Before || !got.Size {
			t.Errorf("got %+v, want the server's subject %q back and a size", got, newest[0])
		}
	})
	t.Run("bulk_create/update/delete", func(t *testing.T) {
		var got struct {
			Created     int      `json:"created"`
			Fetched     []string `json:"fetched_subjects"`
			Updated     int      `json:"updated"`
			After       []string `json:"after_subjects"`
			AfterRead   []bool   `json:"after_read"`
			Deleted     []bool   `json:"deleted"`
			AfterDelete []string `json:"fetch_after_delete"`
		}
		step(t, "bulk", &got)
		var want []string
		for i := range 5 {
			want = append(want, fmt.Sprintf("bulk %d updated", i))
		}
		if got.Created != 5 || got.Updated != 5 || !slices.Equal(got.After, want) ||
			!slices.Equal(got.AfterRead, []bool{true, true, true, true, true}) ||
			!slices.Equal(got.Deleted, []bool{true, true, true, true, true}) ||
			!slices.Equal(got.AfterDelete, []string{"ErrorItemNotFound", "ErrorItemNotFound", "ErrorItemNotFound", "ErrorItemNotFound", "ErrorItemNotFound"}) {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("Folder save/rename/delete", func(t *testing.T) {
		var got struct {
			IDStable    bool     `json:"id_stable"`
			Renamed     string   `json:"renamed"`
			AfterRename []string `json:"names_after_rename"`
			Children    int      `json:"child_count"`
			AfterDelete []string `json:"names_after_delete"`
		}
		step(t, "folder_lifecycle", &got)
		if !got.IDStable || got.Renamed != "Smoke Folder Renamed" || !slices.Contains(got.AfterRename, "Smoke Folder Renamed") ||
			got.Children != 1 || slices.Contains(got.AfterDelete, "Smoke Folder Renamed") || !slices.Contains(got.AfterDelete, "Inbox") {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("GetFolder with 0x670A and 0x670B", func(t *testing.T) {
		var got []struct {
			Name       string  `json:"name"`
			CommitTime *string `json:"commit_time"`
			Deleted    *int64  `json:"deleted"`
		}
		step(t, "extended_props", &got)
		if len(got) != 2 {
			t.Fatalf("got %+v, want Inbox and Deleted Items", got)
		}
		for _, f := range got {
			if f.CommitTime == nil || f.Deleted == nil {
				t.Errorf("%s: missing property: %+v", f.Name, f)
				continue
			}
			ts, err := time.Parse(time.RFC3339, *f.CommitTime)
			if err != nil || ts.Nanosecond() != 0 || ts.Year() < 2000 {
				t.Errorf("%s: PR_LOCAL_COMMIT_TIME_MAX %q is not a whole-second time (%v)", f.Name, *f.CommitTime, err)
			}
		}
		// By then the bulk step had deleted five items from the Inbox and
		// nothing had left Deleted Items.
		if got[0].Name != "Inbox" || got[0].Deleted == nil || *got[0].Deleted != 5 {
			t.Errorf("Inbox PR_DELETED_COUNT_TOTAL: %+v, want 5", got[0])
		}
		if got[1].Deleted == nil || *got[1].Deleted != 0 {
			t.Errorf("Deleted Items PR_DELETED_COUNT_TOTAL: %+v, want 0", got[1])
		}
	})
	t.Run("move/copy/move_to_trash/soft_delete", func(t *testing.T) {
		var got struct {
			InDrafts  int  `json:"in_drafts"`
			CopyIsID  bool `json:"copy_is_id"`
			Copies    int  `json:"copies_in_inbox"`
			InTrash   int  `json:"in_trash"`
			AfterSoft int  `json:"in_trash_after_soft_delete"`
		}
		step(t, "move_copy_delete", &got)
		if got.InDrafts != 1 || !got.CopyIsID || got.Copies != 1 || got.InTrash != 1 || got.AfterSoft != 0 {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("CreateItem from MIME", func(t *testing.T) {
		var got struct {
			Subject   string `json:"subject"`
			Sender    string `json:"sender"`
			MessageID string `json:"message_id"`
			MIME      bool   `json:"mime_has_subject"`
		}
		step(t, "mime_roundtrip", &got)
		if got.Subject != "from mime" || got.Sender != "carol@example.com" || got.MessageID != "<mime-1@example.com>" || !got.MIME {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("restrictions", func(t *testing.T) {
		var got struct {
			Contains int  `json:"contains"`
			Since    int  `json:"since_2000"`
			Exists   bool `json:"exists"`
		}
		step(t, "restrictions", &got)
		// By then the Inbox held the seeded messages, the copy of "to
		// move" and the message created from MIME.
		if got.Contains != len(subjects) || got.Since != len(subjects)+2 || got.Exists {
			t.Errorf("got %+v, want %d containing \"message\", %d since 2000, none with an unknown subject", got, len(subjects), len(subjects)+2)
		}
	})
	t.Run("folder paths, parent, walk, glob", func(t *testing.T) {
		var got struct {
			Same   bool     `json:"same_inbox"`
			Parent bool     `json:"parent_is_top"`
			Walk   []string `json:"walk_names"`
			Glob   []string `json:"glob"`
		}
		step(t, "navigation", &got)
		if !got.Same || !got.Parent || !slices.Contains(got.Walk, "Inbox") || !slices.Contains(got.Walk, "Sent Items") ||
			!slices.Equal(got.Glob, []string{"Deleted Items", "Sent Items"}) {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("save(update_fields)", func(t *testing.T) {
		var got struct {
			IsRead     bool     `json:"is_read"`
			Categories []string `json:"categories"`
			Importance string   `json:"importance"`
		}
		step(t, "update_fields", &got)
		if got.IsRead || !slices.Equal(got.Categories, []string{"Red", "Blue"}) || got.Importance != "High" {
			t.Errorf("got %+v, want unread, [Red Blue], High", got)
		}
	})
	t.Run("datetime_received__range", func(t *testing.T) {
		var got []string
		step(t, "date_range", &got)
		// Received 10:00 to 14:00 inclusive: messages 02 to 06.
		if !slices.Equal(got, subjects[2:7]) {
			t.Errorf("got %v, want %v", got, subjects[2:7])
		}
	})
	t.Run("attachments (GetAttachment)", func(t *testing.T) {
		var got []struct{ Name, Content string }
		step(t, "attachments", &got)
		if len(got) != 1 || got[0].Name != "notes.txt" || got[0].Content != "attached notes" {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("bulk_move and send", func(t *testing.T) {
		var got struct {
			Asked  int `json:"asked"`
			Moved  int `json:"moved"`
			Target int `json:"in_target"`
			Self   int `json:"self_in_inbox"`
			Sent   int `json:"copy_in_sent"`
		}
		step(t, "bulk_move_and_send", &got)
		if got.Asked != 10 || got.Moved != 10 || got.Target != 10 || got.Self != 1 || got.Sent != 1 {
			t.Errorf("got %+v, want 10 moved, the message sent to self in the Inbox and a copy in Sent Items", got)
		}
	})
	t.Run("sync_items only_fields, pages of 4", func(t *testing.T) {
		var got struct {
			Creates int  `json:"creates"`
			Subject bool `json:"all_have_subject"`
			Second  int  `json:"second"`
		}
		step(t, "sync_only_fields", &got)
		inbox, _ := m.FolderID("inbox")
		fi, _ := m.Folder(inbox)
		if got.Creates != fi.TotalCount || !got.Subject || got.Second != 0 {
			t.Errorf("got %+v, want %d creates with subjects, then nothing", got, fi.TotalCount)
		}
	})
	t.Run("folder counts", func(t *testing.T) {
		var got struct{ Total, Unread, Children int }
		step(t, "inbox_counts", &got)
		inbox, _ := m.FolderID("inbox")
		fi, _ := m.Folder(inbox)
		if got.Total != fi.TotalCount || got.Unread != fi.UnreadCount || got.Children != fi.ChildFolderCount {
			t.Errorf("exchangelib saw %+v, the mailbox has total %d unread %d children %d", got, fi.TotalCount, fi.UnreadCount, fi.ChildFolderCount)
		}
	})
}
