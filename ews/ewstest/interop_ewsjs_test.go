package ewstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// ewsjsDir holds the ews-javascript-api script and its pinned
// package-lock.json; .ci/install-interop-js runs npm ci there.
var ewsjsDir = filepath.Join("testdata", "interop", "js")

func skipOrFailEwsjs(t *testing.T, why string) {
	t.Helper()
	if requireInterop() {
		t.Fatalf("interop test required (MAILSYNC_REQUIRE_INTEROP=1) but %s; install it with: bash .ci/install-interop-js", why)
	}
	t.Skipf("skipping ews-javascript-api interop: %s (bash .ci/install-interop-js; set MAILSYNC_REQUIRE_INTEROP=1 to make this a failure)", why)
}

// TestInterop_EwsJavascriptAPI drives the fake with ews-javascript-api, a
// TypeScript port of Microsoft's EWS Managed API that parses responses as
// strictly as the Managed API does: Folder.Bind with counts and MAPI
// properties, FindFolders, FindItems with paging and SearchFilters,
// Item.Bind and LoadPropertiesForItems with MIME, Save/Update/Move/Delete,
// SyncFolderHierarchy and SyncFolderItems (seeing exactly the changes made
// between passes), and pull and streaming subscriptions.
func TestInterop_EwsJavascriptAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test skipped in -short mode")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFailEwsjs(t, "node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(ewsjsDir, "node_modules", "ews-javascript-api", "package.json")); err != nil {
		skipOrFailEwsjs(t, "ews-javascript-api is not installed in "+ewsjsDir)
	}
	for _, tc := range []struct {
		auth        string
		impersonate bool
	}{{AuthBasic, false}, {AuthNTLM, false}, {AuthBasic, true}} {
		t.Run(fmt.Sprintf("auth=%s,impersonate=%v", tc.auth, tc.impersonate), func(t *testing.T) {
			runEwsJavascriptAPI(t, node, tc.auth, tc.impersonate)
		})
	}
}

// ewsjsResult is what interop.js prints.
type ewsjsResult struct {
	Errors        []string `json:"errors"`
	Auth          string   `json:"auth"`
	ServerVersion string   `json:"serverVersion"`
	Inbox         struct {
		DisplayName   string `json:"displayName"`
		Total         int    `json:"total"`
		Unread        int    `json:"unread"`
		IDNonEmpty    bool   `json:"idNonEmpty"`
		WellKnown     string `json:"wellKnown"`
		LastModified  string `json:"lastModified"`
		DeletedCount  *int   `json:"deletedCount"`
		ExtendedCount int    `json:"extendedCount"`
	} `json:"inbox"`
	Tree           []string `json:"tree"`
	TreeTotal      int      `json:"treeTotal"`
	TreeMore       bool     `json:"treeMore"`
	TreeInboxTotal int      `json:"treeInboxTotal"`
	PagedSubjects  []string `json:"pagedSubjects"`
	Pages          int      `json:"pages"`
	PagingTotal    int      `json:"pagingTotal"`
	UnreadFilter   []string `json:"unreadFilter"`
	SubjectFilter  []string `json:"subjectFilter"`
	AndFilter      []string `json:"andFilter"`
	Bind           struct {
		Subject        string `json:"subject"`
		From           string `json:"from"`
		IsRead         bool   `json:"isRead"`
		Received       string `json:"received"`
		MIMEHasSubject bool   `json:"mimeHasSubject"`
	} `json:"bind"`
	Loaded []struct {
		Subject string `json:"subject"`
		From    string `json:"from"`
		IsRead  bool   `json:"isRead"`
		MIME    bool   `json:"mime"`
	} `json:"loaded"`
	LoadedResults  []string `json:"loadedResults"`
	WithAttachment []string `json:"withAttachment"`
	Full           struct {
		Subject        string   `json:"subject"`
		BodyType       string   `json:"bodyType"`
		BodyHasSubject bool     `json:"bodyHasSubject"`
		To             []string `json:"to"`
		HasAttachments bool     `json:"hasAttachments"`
		Attachments    int      `json:"attachments"`
		Size           int      `json:"size"`
	} `json:"full"`
	Attachment []string `json:"attachment"`
	Bodies     struct {
		Text       []string `json:"text"`
		Unique     string   `json:"unique"`
		Normalized string   `json:"normalized"`
	} `json:"bodies"`
	HierarchyInitial    []string `json:"hierarchyInitial"`
	HierarchySecond     int      `json:"hierarchySecond"`
	HierarchySecondMore bool     `json:"hierarchySecondMore"`
	SyncInitial         []string `json:"syncInitial"`
	SyncInitialCalls    int      `json:"syncInitialCalls"`
	SyncSecond          []string `json:"syncSecond"`
	DraftHasID          bool     `json:"draftHasId"`
	DraftSaved          struct {
		Subject string `json:"subject"`
		IsRead  bool   `json:"isRead"`
	} `json:"draftSaved"`
	DraftUpdated struct {
		Subject string `json:"subject"`
		IsRead  bool   `json:"isRead"`
	} `json:"draftUpdated"`
	DeleteModes            map[string]bool `json:"deleteModes"`
	DeletedItems           []string        `json:"deletedItems"`
	Drafts                 []string        `json:"drafts"`
	MovedNewID             bool            `json:"movedNewId"`
	SyncAfter              []string        `json:"syncAfter"`
	SyncAfterSecond        []string        `json:"syncAfterSecond"`
	Mirror                 []string        `json:"mirror"`
	ArchiveFound           int             `json:"archiveFound"`
	FolderCopyNewID        bool            `json:"folderCopyNewId"`
	HierarchyAfter         []string        `json:"hierarchyAfter"`
	HierarchyDeleteIDMatch bool            `json:"hierarchyDeleteIdMatches"`
	HierarchyAfterSecond   int             `json:"hierarchyAfterSecond"`
	PullFolderEvents       []string        `json:"pullFolderEvents"`
	RawHTMLReply           string          `json:"rawHtmlReply"`
	LastVerbs              []int           `json:"lastVerbs"`
	SyncAfterReplies       []string        `json:"syncAfterReplies"`
	Reply                  *struct {
		To            []string `json:"to"`
		BodyType      string   `json:"bodyType"`
		Quotes        bool     `json:"quotes"`
		InReplyTo     bool     `json:"inReplyTo"`
		StartsWithNew bool     `json:"startsWithNew"`
	} `json:"reply"`
	Forward *struct {
		To          []string `json:"to"`
		Attachments []string `json:"attachments"`
		Quotes      bool     `json:"quotes"`
	} `json:"forward"`
	ReplyDraft *struct {
		To      []string `json:"to"`
		IsDraft bool     `json:"isDraft"`
		Quotes  bool     `json:"quotes"`
	} `json:"replyDraft"`
	PullHasID               bool     `json:"pullHasId"`
	PullFirst               int      `json:"pullFirst"`
	PullEvents              []string `json:"pullEvents"`
	PullSeesItem            bool     `json:"pullSeesItem"`
	PullUnsubscribed        bool     `json:"pullUnsubscribed"`
	PullAfterUnsubscribe    string   `json:"pullAfterUnsubscribe"`
	StreamHasID             bool     `json:"streamHasId"`
	StreamOpen              bool     `json:"streamOpen"`
	StreamDelivered         int      `json:"streamDelivered"`
	StreamSeesItem          bool     `json:"streamSeesItem"`
	StreamEvents            []string `json:"streamEvents"`
	StreamErrors            []string `json:"streamErrors"`
	StreamClosed            bool     `json:"streamClosed"`
	StreamUnsubscribed      bool     `json:"streamUnsubscribed"`
	StreamDisconnectedEvent bool     `json:"streamDisconnectedEvent"`
}

// runEwsJavascriptAPI runs the script as alice, or as the service account
// svc impersonating alice (ExchangeImpersonation with the right granted).
func runEwsJavascriptAPI(t *testing.T, node, auth string, impersonate bool) {
	// Record the Authorization schemes the client sends, to prove the
	// NTLM run does not fall back to Basic.
	var schemesMu sync.Mutex
	schemes := map[string]bool{}
	recordScheme := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a := r.Header.Get("Authorization"); a != "" {
				scheme, _, _ := strings.Cut(a, " ")
				schemesMu.Lock()
				schemes[scheme] = true
				schemesMu.Unlock()
			}
			next.ServeHTTP(w, r)
		})
	}
	srv := NewServer(Options{
		Users: []User{
			{Name: "alice", Password: "secret", Address: "alice@example.com"},
			{Name: "bob", Password: "hunter2", Address: "bob@example.com"},
			{Name: "svc", Password: "svc-pass", Address: "svc@example.com"},
		},
		ImpersonationUsers: []string{"svc"},
		Auth:               AuthOptions{Mode: auth},
		Middleware:         []func(http.Handler) http.Handler{recordScheme},
	})
	defer srv.Close()
	defer closeNotifications(srv)
	m := srv.Mailbox("alice@example.com")
	start := time.Now().UTC()
	base := start.Add(-48 * time.Hour)
	for i := range 12 {
		msg := testMessage(fmt.Sprintf("message %02d", i))
		msg.DateTimeReceived = base.Add(time.Duration(i) * time.Hour)
		msg.IsRead = i%3 == 0
		if i == 4 {
			msg.Attachments = []Attachment{{Name: "notes.txt", ContentType: "text/plain", Content: []byte("attached")}}
		}
		mustDeliver(t, m, "inbox", msg)
	}
	if _, err := m.CreateFolder("msgfolderroot", "Archive 2025", ""); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"interop.js", srv.URL, "alice", "secret", auth}
	if impersonate {
		args = []string{"interop.js", srv.URL, "svc", "svc-pass", auth, "alice@example.com"}
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = ewsjsDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ews-javascript-api script failed: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	var out ewsjsResult
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("ews-javascript-api saw: %s", stdout.String())
	if len(out.Errors) > 0 {
		t.Errorf("ews-javascript-api steps failed:\n%s\nstderr:\n%s", ewsjsLines(out.Errors), stderr.String())
	}
	schemesMu.Lock()
	wantScheme := map[string]string{AuthBasic: "Basic", AuthNTLM: "NTLM"}[auth]
	if len(schemes) != 1 || !schemes[wantScheme] {
		t.Errorf("Authorization schemes sent: %v, want only %s", schemes, wantScheme)
	}
	schemesMu.Unlock()
	checkEwsjsResult(t, &out, m, start)
}

// checkEwsjsResult compares what ews-javascript-api saw with the fixture
// and with the changes the script made.
func checkEwsjsResult(t *testing.T, out *ewsjsResult, m *Mailbox, start time.Time) {
	t.Helper()
	newestFirst := make([]string, 12)
	for i := range 12 {
		newestFirst[i] = fmt.Sprintf("message %02d", 11-i)
	}
	unread := []string{"message 01", "message 02", "message 04", "message 05", "message 07", "message 08", "message 10", "message 11"}

	// Folder.Bind with counts and the two MAPI properties.
	in := out.Inbox
	if in.DisplayName != "Inbox" || in.Total != 12 || in.Unread != 8 || !in.IDNonEmpty {
		t.Errorf("Folder.Bind(Inbox) = %+v, want Inbox 12 total 8 unread", in)
	}
	if in.WellKnown != "Inbox" {
		t.Errorf("FolderSchema.WellKnownFolderName = %q, want Inbox", in.WellKnown)
	}
	if in.ExtendedCount != 2 || in.DeletedCount == nil || *in.DeletedCount != 0 {
		t.Errorf("Folder.Bind(Inbox) extended properties: %d, 0x670B = %v", in.ExtendedCount, in.DeletedCount)
	}
	// The JavaScript Date string has one-second precision, as does 0x670A.
	if lm, err := time.Parse("Mon Jan 02 2006 15:04:05 GMT-0700", strings.TrimSpace(strings.SplitN(in.LastModified, " (", 2)[0])); err != nil {
		t.Errorf("0x670A = %q: %v", in.LastModified, err)
	} else if lm.Before(start.Truncate(time.Second)) || lm.After(time.Now().Add(time.Second)) {
		t.Errorf("0x670A = %v, want a time during the test (from %v)", lm, start)
	}
	if out.ServerVersion != fmt.Sprintf("%d.%d", DefaultServerVersion.MajorVersion, DefaultServerVersion.MinorVersion) {
		t.Errorf("ServerInfo = %q", out.ServerVersion)
	}

	// FindFolders deep from msgfolderroot sees the IPM subtree only.
	for _, want := range []string{"Inbox", "Drafts", "Sent Items", "Deleted Items", "Junk Email", "Outbox", "Archive 2025"} {
		if !slices.Contains(out.Tree, want) {
			t.Errorf("FindFolders tree lacks %q: %v", want, out.Tree)
		}
	}
	for _, hidden := range []string{"Top of Information Store", "Recoverable Items", "Deletions", "Finder"} {
		if slices.Contains(out.Tree, hidden) {
			t.Errorf("FindFolders under msgfolderroot shows %q: %v", hidden, out.Tree)
		}
	}
	if out.TreeTotal != len(out.Tree) || out.TreeMore || out.TreeInboxTotal != 12 {
		t.Errorf("FindFolders TotalCount=%d (%d rows) more=%v inbox total=%d", out.TreeTotal, len(out.Tree), out.TreeMore, out.TreeInboxTotal)
	}

	// FindItems: offset paging, filters.
	if !slices.Equal(out.PagedSubjects, newestFirst) || out.Pages != 3 || out.PagingTotal != 12 {
		t.Errorf("FindItems paging: %d pages, total %d, %v", out.Pages, out.PagingTotal, out.PagedSubjects)
	}
	if !slices.Equal(out.UnreadFilter, unread) {
		t.Errorf("IsEqualTo(IsRead, false) = %v, want %v", out.UnreadFilter, unread)
	}
	wantSub := slices.Clone(newestFirst[2:])
	slices.Reverse(wantSub)
	if !slices.Equal(out.SubjectFilter, wantSub) {
		t.Errorf("ContainsSubstring(Subject, MESSAGE 0, IgnoreCase) = %v, want %v", out.SubjectFilter, wantSub)
	}
	if !slices.Equal(out.AndFilter, []string{"message 10", "message 11"}) {
		t.Errorf("And(unread, subject contains message 1) = %v", out.AndFilter)
	}

	// Item.Bind and LoadPropertiesForItems.
	b := out.Bind
	if b.Subject != "message 11" || b.From != "ann@example.org" || b.IsRead || !b.MIMEHasSubject {
		t.Errorf("Item.Bind = %+v", b)
	}
	if rt, err := time.Parse(time.RFC3339, b.Received); err != nil || !rt.Equal(start.Add(-48*time.Hour+11*time.Hour).Truncate(time.Second)) {
		t.Errorf("DateTimeReceived = %q (%v), want %v", b.Received, err, start.Add(-37*time.Hour).Truncate(time.Second))
	}
	if len(out.Loaded) != 3 || !slices.Equal(out.LoadedResults, []string{"Success", "Success", "Success"}) {
		t.Errorf("LoadPropertiesForItems: %+v %v", out.Loaded, out.LoadedResults)
	}
	for i, l := range out.Loaded {
		if l.Subject != newestFirst[i] || l.From != "ann@example.org" || l.IsRead != (i == 2) || !l.MIME {
			t.Errorf("LoadPropertiesForItems[%d] = %+v", i, l)
		}
	}
	f := out.Full
	if !slices.Equal(out.WithAttachment, []string{"message 04"}) || f.Subject != "message 04" || f.BodyType != "Text" || !f.BodyHasSubject ||
		!slices.Equal(f.To, []string{"alice@example.com"}) || !f.HasAttachments || f.Attachments != 1 || f.Size <= 0 {
		t.Errorf("EmailMessage.Bind FirstClassProperties: found %v, %+v", out.WithAttachment, f)
	}
	if b := out.Bodies; !slices.Equal(b.Text, []string{"Text", "Hello,\nthis is message 04."}) || b.Unique != "HTML" || b.Normalized != "HTML" {
		t.Errorf("TextBody/UniqueBody/NormalizedBody = %+v", b)
	}
	if !slices.Equal(out.Attachment, []string{"notes.txt", "attached"}) {
		t.Errorf("FileAttachment.Load = %v", out.Attachment)
	}

	// Sync to completion, then nothing.
	if len(out.HierarchyInitial) < 15 || !slices.Contains(out.HierarchyInitial, "Create:Inbox") ||
		!slices.Contains(out.HierarchyInitial, "Create:Archive 2025") || out.HierarchySecond != 0 || out.HierarchySecondMore {
		t.Errorf("SyncFolderHierarchy: %v, then %d more=%v", out.HierarchyInitial, out.HierarchySecond, out.HierarchySecondMore)
	}
	wantInitial := make([]string, 12)
	for i, s := range newestFirst {
		wantInitial[i] = "Create:" + s
	}
	if !slices.Equal(out.SyncInitial, wantInitial) || out.SyncInitialCalls != 3 || len(out.SyncSecond) != 0 {
		t.Errorf("SyncFolderItems: %d calls %v, then %v", out.SyncInitialCalls, out.SyncInitial, out.SyncSecond)
	}

	// Save, Update, delete modes.
	if !out.DraftHasID || out.DraftSaved.Subject != "draft by ewsjs" ||
		out.DraftUpdated.Subject != "draft renamed by ewsjs" || out.DraftUpdated.IsRead == out.DraftSaved.IsRead {
		t.Errorf("draft saved %+v, updated %+v", out.DraftSaved, out.DraftUpdated)
	}
	for _, mode := range []string{"HardDelete", "SoftDelete", "MoveToDeletedItems"} {
		if !out.DeleteModes[mode] {
			t.Errorf("Delete(%s): item still binds (%v)", mode, out.DeleteModes)
		}
	}
	if !slices.Equal(out.DeletedItems, []string{"delete MoveToDeletedItems"}) || !slices.Equal(out.Drafts, []string{"draft renamed by ewsjs"}) {
		t.Errorf("Deleted Items %v, Drafts %v", out.DeletedItems, out.Drafts)
	}

	// Exactly the changes made between syncs.
	if !out.MovedNewID {
		t.Error("Move kept the item's id; Exchange gives a moved item a new id")
	}
	wantAfter := []string{"Create:draft renamed by ewsjs", "Delete:", "ReadFlagChange:message 01", "Update:renamed by ewsjs"}
	if !slices.Equal(out.SyncAfter, wantAfter) || len(out.SyncAfterSecond) != 0 {
		t.Errorf("SyncFolderItems after changes = %v, then %v; want %v", out.SyncAfter, out.SyncAfterSecond, wantAfter)
	}
	items, err := m.Items("inbox")
	if err != nil {
		t.Fatal(err)
	}
	var server []string
	for _, it := range items {
		if it.Message.Subject != "pulled by ewsjs" && it.Message.Subject != "streamed by ewsjs" {
			server = append(server, it.Message.Subject)
		}
	}
	slices.Sort(server)
	if !slices.Equal(out.Mirror, server) {
		t.Errorf("client mirror %v, server inbox %v", out.Mirror, server)
	}
	if out.ArchiveFound != 1 || !slices.Equal(out.HierarchyAfter, []string{"Create:ewsjs renamed", "Create:ewsjs renamed", "Delete:"}) || !out.FolderCopyNewID ||
		!out.HierarchyDeleteIDMatch || out.HierarchyAfterSecond != 0 {
		t.Errorf("SyncFolderHierarchy after folder changes = %v (delete id matches %v), then %d",
			out.HierarchyAfter, out.HierarchyDeleteIDMatch, out.HierarchyAfterSecond)
	}

	// Response objects (CreateItem with ReplyAllToItem, ForwardItem,
	// ReplyToItem).
	if out.RawHTMLReply != "a:ErrorSchemaValidation" {
		t.Errorf("a reply with unescaped HTML in NewBodyContent gave %q, want the ErrorSchemaValidation fault", out.RawHTMLReply)
	}
	if r := out.Reply; r == nil || !slices.Equal(r.To, []string{"ann@example.org"}) || r.BodyType != "HTML" || !r.Quotes || !r.InReplyTo || !r.StartsWithNew {
		t.Errorf("Reply(replyAll) in Sent Items = %+v", r)
	}
	if f := out.Forward; f == nil || !slices.Equal(f.To, []string{"bob@example.com"}) || !slices.Equal(f.Attachments, []string{"notes.txt"}) || !f.Quotes {
		t.Errorf("Forward in Sent Items = %+v", f)
	}
	if !slices.Equal(out.LastVerbs, []int{103, 104}) || !slices.Equal(out.SyncAfterReplies, []string{"Update:message 03", "Update:message 04"}) {
		t.Errorf("originals after reply all and forward: PR_LAST_VERB_EXECUTED %v, sync %v", out.LastVerbs, out.SyncAfterReplies)
	}
	if d := out.ReplyDraft; d == nil || !slices.Equal(d.To, []string{"ann@example.org"}) || !d.IsDraft || !d.Quotes {
		t.Errorf("CreateReply().Save(Drafts) = %+v", d)
	}

	// Notifications.
	if !out.PullHasID || out.PullFirst != 0 || !slices.Equal(out.PullEvents, []string{"Created"}) ||
		!slices.Equal(out.PullFolderEvents, []string{"Modified"}) || !out.PullSeesItem {
		t.Errorf("pull: id %v, first %d events, then items %v folders %v, sees item %v",
			out.PullHasID, out.PullFirst, out.PullEvents, out.PullFolderEvents, out.PullSeesItem)
	}
	if !out.PullUnsubscribed || out.PullAfterUnsubscribe != "ErrorSubscriptionNotFound" {
		t.Errorf("pull Unsubscribe %v, GetEvents after it: %s", out.PullUnsubscribed, out.PullAfterUnsubscribe)
	}
	if !out.StreamHasID || out.StreamDelivered != 1 || !out.StreamSeesItem || !out.StreamOpen ||
		!slices.Equal(out.StreamEvents, []string{"Created", "NewMail"}) || len(out.StreamErrors) != 0 {
		t.Errorf("streaming: id %v delivered %d sees %v open %v events %v errors %v",
			out.StreamHasID, out.StreamDelivered, out.StreamSeesItem, out.StreamOpen, out.StreamEvents, out.StreamErrors)
	}
	if !out.StreamClosed || !out.StreamUnsubscribed || !out.StreamDisconnectedEvent {
		t.Errorf("streaming close: closed %v unsubscribed %v OnDisconnect %v", out.StreamClosed, out.StreamUnsubscribed, out.StreamDisconnectedEvent)
	}
}
func ewsjsLines(ss []string) string {
	var b bytes.Buffer
	for _, s := range ss {
		b.WriteString("  ")
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.String()
}
