package ewstest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// seedClientMailbox fills alice's inbox with six messages whose
// properties the client checks filter on.
func seedClientMailbox(t *testing.T, m *Mailbox) {
	t.Helper()
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	bob := Address{Name: "Bob Builder", Email: "bob@example.org"}
	ann := Address{Name: "Ann Sender", Email: "ann@example.org"}
	msgs := []Message{
		{Subject: "Weekly report", From: bob, IsRead: true, Categories: []string{"Work"}, Body: "The quarterly numbers are in."},
		{Subject: "Lunch plans", From: ann, To: []Address{{Name: "Carol", Email: "carol@example.com"}},
			InternetMessageID: "<lunch@example.org>", Sensitivity: "Private", Body: "Noon?"},
		{Subject: "Monthly report draft", From: bob, Importance: "High", Categories: []string{"Work", "Urgent"}, Body: "Draft attached.",
			Attachments: []Attachment{{Name: "draft.bin", ContentType: "application/octet-stream", Content: bytes.Repeat([]byte{0x42}, 5000)}}},
		{Subject: "Weekly report 2", From: Address{Name: "Dave", Email: "dave@example.org"}, IsRead: true, Categories: []string{"Home"}, Body: "Second week."},
		{Subject: "Party", From: ann, Importance: "High", Body: "Friday!"},
		{Subject: "Invoice", From: Address{Name: "Erin", Email: "erin@example.org"}, IsRead: true, Importance: "Low", Body: "Due.",
			Attachments: []Attachment{{Name: "invoice.txt", ContentType: "text/plain", Content: []byte("0123456789")}}},
	}
	for i, msg := range msgs {
		msg.DateTimeReceived = base.Add(time.Duration(i) * time.Hour)
		if msg.To == nil {
			msg.To = []Address{{Name: "Alice", Email: "alice@example.com"}}
		}
		mustDeliver(t, m, "inbox", msg)
	}
}

// runClientScript runs a script under testdata/interop against srv as
// alice and decodes its JSON object.
func runClientScript(t *testing.T, srv *Server, script string) map[string]json.RawMessage {
	t.Helper()
	if testing.Short() {
		t.Skip("interop test skipped in -short mode")
	}
	if _, err := os.Stat(interopPython); err != nil {
		skipOrFailInterop(t, interopPython+" is missing")
	}
	if err := exec.Command(interopPython, "-c", "import exchangelib").Run(); err != nil {
		skipOrFailInterop(t, "python3-exchangelib is not installed")
	}
	cmd := exec.Command(interopPython, filepath.Join("testdata", "interop", script), srv.URL, "alice", "secret", "alice@example.com")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s failed: %v\nstderr:\n%s\nstdout:\n%s", script, err, stderr.String(), stdout.String())
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return out
}

// checkClientResults compares each named result with the JSON of want.
func checkClientResults(t *testing.T, out map[string]json.RawMessage, want map[string]any) {
	t.Helper()
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		w, err := json.Marshal(want[name])
		if err != nil {
			t.Fatal(err)
		}
		got, ok := out[name]
		if !ok {
			t.Errorf("%s: no result", name)
			continue
		}
		var norm any
		if err := json.Unmarshal(got, &norm); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		g, _ := json.Marshal(norm)
		if string(g) != string(w) {
			t.Errorf("%s = %s, want %s", name, g, w)
		}
	}
	for name, got := range out {
		if _, ok := want[name]; !ok {
			t.Logf("%s (checked elsewhere): %s", name, got)
		}
	}
}

func newClientServer(t *testing.T) *Server {
	t.Helper()
	srv := NewServer(Options{
		Users: []User{
			{Name: "alice", Password: "secret", Address: "alice@example.com"},
			{Name: "bob", Password: "hunter2", Address: "bob@example.com"},
		},
		Auth: AuthOptions{Mode: AuthBasic},
	})
	t.Cleanup(srv.Close)
	return srv
}

// TestInterop_ExchangelibQueries drives FindItem restrictions, sort
// orders and FindFolder restrictions with exchangelib's QuerySet API.
func TestInterop_ExchangelibQueries(t *testing.T) {
	srv := newClientServer(t)
	seedClientMailbox(t, srv.Mailbox("alice@example.com"))
	out := runClientScript(t, srv, "clients_exchangelib.py")
	reports := []string{"Monthly report draft", "Weekly report", "Weekly report 2"}
	checkClientResults(t, out, map[string]any{
		"contains":           reports,
		"icontains":          reports,
		"startswith":         []string{"Weekly report", "Weekly report 2"},
		"iexact":             []string{"Lunch plans"},
		"exact":              []string{"Lunch plans"},
		"range":              []string{"Monthly report draft", "Party", "Weekly report 2"},
		"gte":                []string{"Invoice"},
		"unread":             []string{"Lunch plans", "Monthly report draft", "Party"},
		"categories":         []string{"Monthly report draft", "Weekly report"},
		"categories_all":     []string{"Monthly report draft"},
		"categories_in":      []string{"Monthly report draft", "Weekly report 2"},
		"sender":             []string{"Monthly report draft", "Weekly report"},
		"sender_mailbox":     []string{"Monthly report draft", "Weekly report"},
		"importance":         []string{"Monthly report draft", "Party"},
		"has_attachments":    []string{"Invoice", "Monthly report draft"},
		"size_gt":            []string{"Monthly report draft"},
		"exclude":            []string{"Invoice", "Lunch plans", "Party"},
		"q_or":               []string{"Lunch plans", "Monthly report draft", "Party"},
		"q_not":              []string{"Lunch plans"},
		"exists":             true,
		"not_exists":         false,
		"count":              3,
		"order_by_subject":   []string{"Invoice", "Lunch plans", "Monthly report draft", "Party", "Weekly report", "Weekly report 2"},
		"values_list":        [][]string{{"Monthly report draft", "High"}, {"Party", "High"}},
		"values_flat":        []string{"Invoice", "Monthly report draft"},
		"message_id":         []string{"Lunch plans"},
		"body_contains":      []string{"Weekly report"},
		"item_class":         6,
		"sensitivity":        []string{"Lunch plans"},
		"in_subjects":        []string{"Lunch plans", "Weekly report"},
		"aqs_subject":        reports,
		"aqs_from":           []string{"Monthly report draft", "Weekly report"},
		"aqs_free":           []string{"Weekly report"},
		"aqs_phrase":         []string{"Monthly report draft"},
		"aqs_bool":           []string{"Monthly report draft"},
		"aqs_or_not":         []string{},
		"aqs_received":       6,
		"aqs_received_after": 0,
		"folder_filter":      []string{"Inbox"},
		"folder_counts":      []string{"Inbox"},
		"collection_filter":  []string{"Lunch plans"},
	})
	var order []string
	if err := json.Unmarshal(out["order_by"], &order); err != nil || len(order) != 6 || order[0] != "Monthly report draft" {
		t.Errorf("order_by(-size, subject) = %s, want the 5 kB attachment first", out["order_by"])
	}
}

// TestInterop_ExchangelibAccount drives account-level services and
// non-mail items with exchangelib.
func TestInterop_ExchangelibAccount(t *testing.T) {
	srv := newClientServer(t)
	seedClientMailbox(t, srv.Mailbox("alice@example.com"))
	out := runClientScript(t, srv, "clients_account.py")
	checkClientResults(t, out, map[string]any{
		"tree_has_inbox": true,
		"inbox_children": []string{},
		"oof":            []string{"Enabled", "I am away", "Away", "All"},
		"timezones":      true,
		"tz_ids":         []string{"Tokyo Standard Time", "UTC"},
		"resolve_names":  []string{"bob@example.com"},
		"resolve_none":   []string{"ErrorNameResolutionNoResults"},
		"resolve_smtp":   []string{"alice@example.com"},
		"roomlists":      []string{},
		"delegates":      []string{},
		"attach":         []any{[]string{"hello.txt"}, "hello world", 0},
		"calendar": []any{"Room 1", "2025-04-01T09:00:00+00:00", "2025-04-01T10:00:00+00:00", []string{"Planning"},
			"Planning (moved)", []string{"Later", "Planning (moved)"}, 1},
		"contact":           []any{"Carol", "Jones", "Acme", 1},
		"task":              []any{"Write report", "InProgress"},
		"calendar_filters":  []any{"2025-06-02T08:00:00+00:00", []string{"Local"}, []string{"create"}},
		"contact_email":     []any{[]string{"dan@example.org"}, []string{"+45 1234"}},
		"folders_and_moves": []any{[]string{"Sub"}, 1, 0, true},
		"bulk":              []any{[]string{"bulk 0", "bulk 1", "bulk 2"}, []string{"bulk 0!", "bulk 1!", "bulk 2!"}, 0},
		"send":              1,
		"people":            []string{"Carol Jones", "Dan"},
		"calendar_order":    []string{"Local", "Local", "Later"},
		"contact_filter":    []string{"Carol Jones"},
		"item_attachment":   []string{"ItemAttachment", "forwarded", "inner", "inner body"},
		"mail_tips":         []any{"alice@example.com", "I am away", false, 36700160},
		"more_items":        []any{"PostItem", "posted", "DistributionList", "Team", []string{"bob@example.com"}, true, "2025-08-01", "50", 1},
		"export_upload": []any{[]any{[]any{"Invoice", true}, []any{"Party", false}},
			[]string{"2025-06-02T08:00:00+00:00", "2025-06-02T08:00:00+00:00"}},
		"junk": []int{1, 1, 0},
		"free_busy": []any{"DetailedMerged", "000000002200000000000000",
			[][]string{{"2025-06-02T08:00:00", "2025-06-02T10:00:00", "Busy", "Local"}}},
	})
	// Exchange without public folders or an archive mailbox: clean errors.
	for name, want := range map[string]string{
		"public_folders_root": "ERROR: ErrorFolderNotFound",
		"archive":             "ErrorArchiveMailboxNotEnabled",
		"rooms":               "ERROR: ErrorNameResolutionNoResults",
	} {
		if !strings.Contains(string(out[name]), want) {
			t.Errorf("%s = %s, want an error containing %s", name, out[name], want)
		}
	}
}
