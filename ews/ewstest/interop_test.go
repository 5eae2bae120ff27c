package ewstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// interopPython is Debian's interpreter, which sees the python3-exchangelib
// package (a pyenv python3 earlier on PATH does not).
const interopPython = "/usr/bin/python3"

// requireInterop reports whether CI demands the interop test run.
func requireInterop() bool { return os.Getenv("MAILSYNC_REQUIRE_INTEROP") == "1" }

func skipOrFailInterop(t *testing.T, why string) {
	t.Helper()
	if requireInterop() {
		t.Fatalf("interop test required (MAILSYNC_REQUIRE_INTEROP=1) but %s; install it with: apt-get install -y python3-exchangelib", why)
	}
	t.Skipf("skipping exchangelib interop: %s (apt-get install -y python3-exchangelib; set MAILSYNC_REQUIRE_INTEROP=1 to make this a failure)", why)
}

// TestInterop_Exchangelib drives the fake with exchangelib, a real EWS
// client nobody here wrote: folder tree, counts, reading items with MIME,
// sync_hierarchy and sync_items to completion, then creates, updates,
// moves and deletes and checks sync_items reports exactly those changes.
func TestInterop_Exchangelib(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test skipped in -short mode")
	}
	if _, err := os.Stat(interopPython); err != nil {
		skipOrFailInterop(t, interopPython+" is missing")
	}
	if err := exec.Command(interopPython, "-c", "import exchangelib").Run(); err != nil {
		skipOrFailInterop(t, "python3-exchangelib is not installed")
	}
	for _, tc := range []struct {
		auth        string
		fixed       bool
		impersonate bool
	}{{AuthBasic, false, false}, {AuthNTLM, true, false}, {AuthNTLM, true, true}} {
		t.Run(fmt.Sprintf("auth=%s,fixedVersion=%v,impersonate=%v", tc.auth, tc.fixed, tc.impersonate), func(t *testing.T) {
			runExchangelib(t, tc.auth, tc.fixed, tc.impersonate)
		})
	}
}

// runExchangelib runs the script as alice, or as the service account svc
// impersonating alice (ExchangeImpersonation with the right granted).
func runExchangelib(t *testing.T, auth string, fixedVersion, impersonate bool) {
	srv := NewServer(Options{
		Users: []User{
			{Name: "alice", Password: "secret", Address: "alice@example.com"},
			{Name: "bob", Password: "hunter2", Address: "bob@example.com"},
			{Name: "svc", Password: "svc-pass", Address: "svc@example.com"},
		},
		ImpersonationUsers: []string{"svc"},
		Auth:               AuthOptions{Mode: auth},
	})
	defer srv.Close()
	m := srv.Mailbox("alice@example.com")
	base := time.Now().UTC().Add(-48 * time.Hour)
	var subjects []string
	for i := range 12 {
		msg := testMessage(fmt.Sprintf("message %02d", i))
		msg.DateTimeReceived = base.Add(time.Duration(i) * time.Hour)
		msg.IsRead = i%3 == 0
		if i == 4 {
			msg.Attachments = []Attachment{{Name: "notes.txt", ContentType: "text/plain", Content: []byte("attached")}}
		}
		mustDeliver(t, m, "inbox", msg)
		subjects = append(subjects, msg.Subject)
	}
	if _, err := m.CreateFolder("msgfolderroot", "Archive 2025", ""); err != nil {
		t.Fatal(err)
	}

	// While a top-level folder named "Churn" exists, every SyncFolderItems
	// call first delivers three new messages (at most 15 in all) and flips
	// the read flag of an older one: the script pages (two changes a page)
	// through a mailbox that changes between pages.
	var churnMu sync.Mutex
	churned := 0
	srv.Faults().SetHook(func(op, mailbox string) *Fault {
		churnMu.Lock()
		defer churnMu.Unlock()
		if op != "SyncFolderItems" || mailbox != "alice@example.com" || churned >= 15 {
			return nil
		}
		for _, f := range m.Folders() {
			if f.DisplayName != "Churn" {
				continue
			}
			items, _ := m.Items("inbox")
			if len(items) > 4 {
				old := items[len(items)-1-churned%4]
				if _, err := m.SetRead(old.ID, !old.Message.IsRead); err != nil {
					t.Errorf("churn read flip: %v", err)
				}
			}
			for range 3 {
				churned++
				// The hook runs on a server goroutine: report, don't FailNow.
				if _, err := m.Deliver("inbox", testMessage(fmt.Sprintf("churn %d", churned))); err != nil {
					t.Errorf("churn delivery: %v", err)
				}
			}
			break
		}
		return nil
	})
	script := filepath.Join("testdata", "interop", "exchangelib_interop.py")
	user, pass := "alice", "secret"
	if impersonate {
		user, pass = "svc", "svc-pass"
	}
	cmd := exec.Command(interopPython, script, srv.URL, user, pass, "alice@example.com", auth)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if impersonate {
		cmd.Env = append(cmd.Env, "EWSTEST_INTEROP_IMPERSONATE=1")
	}
	if fixedVersion {
		cmd.Env = append(cmd.Env, "EWSTEST_INTEROP_FIXED_VERSION=1")
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("exchangelib script failed: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	var out struct {
		Version                      string     `json:"version"`
		Tree                         []string   `json:"tree"`
		RootChildren                 []string   `json:"root_children"`
		InboxTotal                   int        `json:"inbox_total_count"`
		InboxUnread                  int        `json:"inbox_unread_count"`
		InboxQueryCount              int        `json:"inbox_query_count"`
		InboxSubjects                []string   `json:"inbox_subjects"`
		FirstSubject                 string     `json:"first_subject"`
		FirstSender                  string     `json:"first_sender"`
		FirstMIMEStarts              string     `json:"first_mime_starts"`
		FirstSizeMatchesMIME         bool       `json:"first_size_matches_mime"`
		FirstBodyNonEmpty            bool       `json:"first_body_nonempty"`
		PagedCount                   int        `json:"paged_count"`
		HierarchyChanges             int        `json:"hierarchy_changes"`
		HierarchyCreatesIncludeInbox bool       `json:"hierarchy_creates_include_inbox"`
		HierarchySecond              int        `json:"hierarchy_second"`
		InitialSyncCreates           int        `json:"initial_sync_creates"`
		InitialSyncOther             int        `json:"initial_sync_other"`
		InitialSyncIDsUnique         bool       `json:"initial_sync_ids_unique"`
		SecondSync                   int        `json:"second_sync"`
		CreatedFolder                string     `json:"created_folder"`
		Changes                      []string   `json:"changes"`
		DeletedIDsMatch              bool       `json:"deleted_ids_match"`
		ReadFlagIDMatches            bool       `json:"read_flag_id_matches"`
		ThirdSync                    int        `json:"third_sync"`
		MovedFolderCreates           []string   `json:"moved_folder_creates"`
		HierarchyAfter               []string   `json:"hierarchy_after"`
		GarbageState                 string     `json:"garbage_state"`
		Attachment                   [][]string `json:"attachment"`
		UnreadFilterN                int        `json:"unread_filter"`
		SubjectFilter                []string   `json:"subject_filter"`
		CategoriesRoundtrip          []string   `json:"categories_roundtrip"`
		FetchKinds                   []string   `json:"fetch_kinds"`
		BulkDeleteResults            []any      `json:"bulk_delete_results"`
		Round2Changes                []string   `json:"round2_changes"`
		TrashHasMoved                bool       `json:"trash_has_moved"`
		HierarchyMove                []string   `json:"hierarchy_move"`
		HierarchyDelete              []string   `json:"hierarchy_delete"`
		ChurnCreated                 int        `json:"churn_created"`
		ChurnDuplicates              int        `json:"churn_duplicates"`
		ChurnUnknown                 int        `json:"churn_unknown"`
		ChurnMirrorMatches           bool       `json:"churn_mirror_matches"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("exchangelib saw: %s", stdout.String())

	for _, want := range []string{"Inbox", "Drafts", "Sent Items", "Deleted Items", "Junk Email", "Outbox", "Archive 2025"} {
		if !slices.Contains(out.Tree, want) {
			t.Errorf("folder tree lacks %q: %v", want, out.Tree)
		}
	}
	if out.InboxTotal != 12 || out.InboxQueryCount != 12 || out.InboxUnread != 8 {
		t.Errorf("inbox counts total=%d query=%d unread=%d, want 12 12 8", out.InboxTotal, out.InboxQueryCount, out.InboxUnread)
	}
	if len(out.InboxSubjects) != 12 || out.InboxSubjects[0] != "message 11" || out.InboxSubjects[11] != "message 00" {
		t.Errorf("inbox subjects newest first = %v", out.InboxSubjects)
	}
	if out.FirstSubject != "message 11" || out.FirstSender != "ann@example.org" || !out.FirstSizeMatchesMIME || !out.FirstBodyNonEmpty {
		t.Errorf("GetItem: subject=%q sender=%q sizeMatchesMIME=%v body=%v", out.FirstSubject, out.FirstSender, out.FirstSizeMatchesMIME, out.FirstBodyNonEmpty)
	}
	if fmt.Sprint(out.Attachment) != "[[notes.txt attached]]" {
		t.Errorf("attachment via GetAttachment = %v", out.Attachment)
	}
	if out.PagedCount != 7 {
		t.Errorf("sliced query returned %d items, want 7", out.PagedCount)
	}
	if !out.HierarchyCreatesIncludeInbox || out.HierarchyChanges < 14 || out.HierarchySecond != 0 {
		t.Errorf("sync_hierarchy: changes=%d includesInbox=%v second=%d", out.HierarchyChanges, out.HierarchyCreatesIncludeInbox, out.HierarchySecond)
	}
	if out.InitialSyncCreates != 12 || out.InitialSyncOther != 0 || !out.InitialSyncIDsUnique || out.SecondSync != 0 {
		t.Errorf("sync_items: creates=%d other=%d unique=%v second=%d", out.InitialSyncCreates, out.InitialSyncOther, out.InitialSyncIDsUnique, out.SecondSync)
	}
	wantChanges := []string{"create:created by exchangelib", "delete:", "delete:", "read_flag_change:", "update:renamed by exchangelib"}
	if !slices.Equal(out.Changes, wantChanges) {
		t.Errorf("changes after edits = %v, want %v", out.Changes, wantChanges)
	}
	if !out.DeletedIDsMatch || !out.ReadFlagIDMatches || out.ThirdSync != 0 {
		t.Errorf("deletedIDsMatch=%v readFlagIDMatches=%v thirdSync=%d", out.DeletedIDsMatch, out.ReadFlagIDMatches, out.ThirdSync)
	}
	if len(out.MovedFolderCreates) != 1 || out.MovedFolderCreates[0] != "message 09" {
		t.Errorf("moved folder creates = %v, want [message 09]", out.MovedFolderCreates)
	}
	if !slices.Contains(out.HierarchyAfter, "create:Projects renamed") {
		t.Errorf("sync_hierarchy after folder create+rename = %v", out.HierarchyAfter)
	}
	if out.GarbageState != "ErrorInvalidSyncStateData" {
		t.Errorf("garbage sync state gave %q", out.GarbageState)
	}
	// Second round: restrictions, batch calls with per-item errors, copy,
	// soft delete, move to trash, categories, folder move and delete.
	if out.UnreadFilterN != 7 || len(out.SubjectFilter) != 9 || out.SubjectFilter[0] != "message 00" {
		t.Errorf("restrictions: unread=%d subjects=%v", out.UnreadFilterN, out.SubjectFilter)
	}
	if !slices.Equal(out.CategoriesRoundtrip, []string{"Red", "Blue"}) {
		t.Errorf("categories = %v", out.CategoriesRoundtrip)
	}
	if !slices.Equal(out.FetchKinds, []string{"Message", "ErrorItemNotFound"}) {
		t.Errorf("batch GetItem with a deleted id = %v", out.FetchKinds)
	}
	if fmt.Sprint(out.BulkDeleteResults) != "[ErrorItemNotFound true]" {
		t.Errorf("batch DeleteItem = %v", out.BulkDeleteResults)
	}
	if !slices.Equal(out.Round2Changes, []string{"delete", "delete", "delete", "update"}) || !out.TrashHasMoved {
		t.Errorf("round 2 changes = %v, trash has moved item = %v", out.Round2Changes, out.TrashHasMoved)
	}
	if !slices.Equal(out.HierarchyMove, []string{"update:Projects renamed"}) || !slices.Equal(out.HierarchyDelete, []string{"delete"}) {
		t.Errorf("hierarchy after folder move = %v, after delete = %v", out.HierarchyMove, out.HierarchyDelete)
	}
	churnMu.Lock()
	defer churnMu.Unlock()
	if out.ChurnCreated != churned || churned != 15 || out.ChurnDuplicates != 0 || out.ChurnUnknown != 0 || !out.ChurnMirrorMatches {
		t.Errorf("paging across changes: %d messages delivered between pages, client saw %d creates, %d duplicates, %d changes for unknown items, mirror matches %v",
			churned, out.ChurnCreated, out.ChurnDuplicates, out.ChurnUnknown, out.ChurnMirrorMatches)
	}
	// The server's own view agrees with what exchangelib did.
	fi, err := m.Folder("inbox")
	if err != nil {
		t.Fatal(err)
	}
	if fi.TotalCount != 8+churned { // 12 - deleted - moved + created, 3 more deleted, the churn
		t.Errorf("inbox TotalCount = %d, want %d", fi.TotalCount, 8+churned)
	}
}
