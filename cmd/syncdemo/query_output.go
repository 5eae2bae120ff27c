package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/mailsync/mailsync/localstore"
)

// The JSON printed by "syncdemo query -json" (documented in the README).
// Counts named totalCount, unreadCount and childFolderCount are always the
// mirror's own (what it holds); the server's counters as last read are the
// server* fields.

// folderJSON is one folder of "query -json folders".
type folderJSON struct {
	ID                     string     `json:"id"`
	ChangeKey              string     `json:"changeKey"`
	ParentID               string     `json:"parentId,omitempty"`
	DisplayName            string     `json:"displayName"`
	FolderClass            string     `json:"folderClass,omitempty"`
	Path                   string     `json:"path"`
	Depth                  int        `json:"depth"`
	TotalCount             int        `json:"totalCount"`
	UnreadCount            int        `json:"unreadCount"`
	ChildFolderCount       int        `json:"childFolderCount"`
	ServerTotalCount       int        `json:"serverTotalCount"`
	ServerUnreadCount      int        `json:"serverUnreadCount"`
	ServerChildFolderCount int        `json:"serverChildFolderCount"`
	LocalCommitTimeMax     time.Time  `json:"localCommitTimeMax"`
	DeletedCountTotal      int64      `json:"deletedCountTotal"`
	Synced                 bool       `json:"synced"`               // a SyncState is stored
	LastSynced             *time.Time `json:"lastSynced,omitempty"` // when the last sync of the folder finished
}

// addressJSON is a recipient of itemJSON.
type addressJSON struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// itemJSON is one item of "query -json items" and "search".
type itemJSON struct {
	ID                string        `json:"id"`
	ChangeKey         string        `json:"changeKey"`
	FolderID          string        `json:"folderId"`
	FolderPath        string        `json:"folderPath"`
	ItemClass         string        `json:"itemClass,omitempty"`
	Subject           string        `json:"subject"`
	From              string        `json:"from"` // the sender's SMTP address, as in the dump
	FromName          string        `json:"fromName,omitempty"`
	To                []addressJSON `json:"to,omitempty"`
	Cc                []addressJSON `json:"cc,omitempty"`
	DateTimeReceived  time.Time     `json:"dateTimeReceived"`
	DateTimeSent      time.Time     `json:"dateTimeSent"`
	Size              int           `json:"size"`
	IsRead            bool          `json:"isRead"`
	HasAttachments    bool          `json:"hasAttachments"`
	Importance        string        `json:"importance"`
	Categories        []string      `json:"categories,omitempty"`
	InternetMessageID string        `json:"internetMessageId,omitempty"`
	ConversationID    string        `json:"conversationId,omitempty"`
}

// itemDetailJSON is "query -json item ID".
type itemDetailJSON struct {
	itemJSON
	MIMESize int `json:"mimeSize"` // bytes of stored MIME; 0 when none was mirrored
}

// statsJSON is one mailbox of "query -json stats".
type statsJSON struct {
	Address      string     `json:"address"`
	Folders      int64      `json:"folders"`
	Items        int64      `json:"items"`
	Unread       int64      `json:"unread"`
	MIMEItems    int64      `json:"mimeItems"`
	MIMEBytes    int64      `json:"mimeBytes"`
	Seq          uint64     `json:"seq"`
	Subscription string     `json:"subscription"` // none, streaming, pull or push
	LastSynced   *time.Time `json:"lastSynced,omitempty"`
}

func addresses(as []localstore.Address) []addressJSON {
	var out []addressJSON
	for _, a := range as {
		out = append(out, addressJSON(a))
	}
	return out
}

// collect reads seq to its end; the first error ends it.
func collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// itemsJSON converts list for -json output; it is never nil, so that no
// items print as [].
func itemsJSON(list []localstore.Item, t *folderTree) []itemJSON {
	out := make([]itemJSON, 0, len(list))
	for _, it := range list {
		out = append(out, toItemJSON(it, t))
	}
	return out
}

func toItemJSON(it localstore.Item, t *folderTree) itemJSON {
	j := itemJSON{ID: string(it.ID), ChangeKey: it.ChangeKey, FolderID: string(it.FolderID), ItemClass: it.ItemClass,
		Subject: it.Subject, From: it.From.Email, FromName: it.From.Name, To: addresses(it.To), Cc: addresses(it.Cc),
		DateTimeReceived: it.Received, DateTimeSent: it.Sent, Size: int(it.Size), IsRead: it.IsRead,
		HasAttachments: it.HasAttachments, Importance: it.Importance.String(), Categories: it.Categories,
		InternetMessageID: it.InternetMessageID, ConversationID: it.ConversationID}
	if f := t.byID[it.FolderID]; f != nil {
		j.FolderPath = f.path()
	}
	return j
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (q *queryRun) tree(ctx context.Context) (*folderTree, error) {
	mb, err := q.oneMailbox(ctx)
	if err != nil {
		return nil, err
	}
	return loadTree(ctx, q.st, mb)
}

func (q *queryRun) folders(ctx context.Context) error {
	t, err := q.tree(ctx)
	if err != nil {
		return err
	}
	if q.cfg.json {
		out := struct {
			Address string       `json:"address"`
			Folders []folderJSON `json:"folders"`
		}{Address: string(t.mailbox), Folders: []folderJSON{}}
		for _, f := range t.list {
			j := folderJSON{ID: string(f.ID), ChangeKey: f.ChangeKey, ParentID: string(f.ParentID), DisplayName: f.DisplayName,
				FolderClass: f.FolderClass, Path: f.path(), Depth: f.depth(), TotalCount: int(f.LocalItems),
				UnreadCount: int(f.LocalUnread), ChildFolderCount: f.children, ServerTotalCount: int(f.TotalCount),
				ServerUnreadCount: int(f.UnreadCount), ServerChildFolderCount: int(f.ChildFolderCount),
				LocalCommitTimeMax: f.LocalCommitTimeMax, DeletedCountTotal: f.DeletedCountTotal, Synced: f.SyncState != ""}
			if !f.LastSynced.IsZero() {
				ls := f.LastSynced
				j.LastSynced = &ls
			}
			out.Folders = append(out.Folders, j)
		}
		return writeJSON(q.out, out)
	}
	width := len("FOLDER")
	for _, f := range t.list {
		width = max(width, 2*f.depth()+utf8.RuneCountInString(displayName(f.DisplayName)))
	}
	fmt.Fprintf(q.out, "%-*s  %8s  %8s  %s\n", width, "FOLDER", "ITEMS", "UNREAD", "LAST SYNCED")
	var items, unread int64
	for _, f := range t.list {
		synced := "never"
		if !f.LastSynced.IsZero() {
			synced = f.LastSynced.Local().Format("2006-01-02 15:04:05")
		}
		name := strings.Repeat("  ", f.depth()) + clip(displayName(f.DisplayName), 1<<20)
		fmt.Fprintf(q.out, "%-*s  %8d  %8d  %s\n", width, name, f.LocalItems, f.LocalUnread, synced)
		items += f.LocalItems
		unread += f.LocalUnread
	}
	_, err = fmt.Fprintf(q.out, "%s: %d folders, %d items, %d unread\n", t.mailbox, len(t.list), items, unread)
	return err
}

// displayName shows an empty name as such rather than as nothing.
func displayName(s string) string {
	if s == "" {
		return "(no name)"
	}
	return s
}

func (q *queryRun) items(ctx context.Context) error {
	t, err := q.tree(ctx)
	if err != nil {
		return err
	}
	f, err := t.resolve(q.cfg.args[0])
	if err != nil {
		return err
	}
	lq := localstore.Query{Limit: q.cfg.limit, UnreadOnly: q.cfg.unread}
	if !q.cfg.before.IsZero() {
		// Items strictly after (before-1ns, "") in newest-first order are
		// exactly those received before -before.
		lq.After = localstore.Cursor{Received: q.cfg.before.Add(-time.Nanosecond)}
	}
	list, err := collect(q.st.Items(ctx, t.mailbox, f.ID, lq))
	if err != nil {
		return err
	}
	if q.cfg.json {
		return writeJSON(q.out, struct {
			Address string     `json:"address"`
			Folder  folderRef  `json:"folder"`
			Items   []itemJSON `json:"items"`
		}{Address: string(t.mailbox), Folder: folderRef{ID: string(f.ID), Path: f.path()}, Items: itemsJSON(list, t)})
	}
	if err := q.itemTable(list, t, false); err != nil {
		return err
	}
	_, err = fmt.Fprintf(q.out, "%s: %d items shown (folder holds %d, %d unread)%s\n", f.path(), len(list), f.LocalItems, f.LocalUnread, q.limitNote(len(list)))
	return err
}

// folderRef names the folder of "query -json items".
type folderRef struct {
	ID   string `json:"id"`
	Path string `json:"path"`
}

func (q *queryRun) limitNote(n int) string {
	if q.cfg.limit > 0 && n == q.cfg.limit {
		return fmt.Sprintf("; -limit %d reached, -limit 0 shows all", q.cfg.limit)
	}
	return ""
}

// itemTable prints items one per line: received time, unread mark, sender,
// subject, (folder,) id.
func (q *queryRun) itemTable(list []localstore.Item, t *folderTree, withFolder bool) error {
	tw := tabwriter.NewWriter(q.out, 0, 0, 2, ' ', 0)
	if withFolder {
		fmt.Fprint(tw, "RECEIVED\t \tFROM\tSUBJECT\tFOLDER\tID\n")
	} else {
		fmt.Fprint(tw, "RECEIVED\t \tFROM\tSUBJECT\tID\n")
	}
	for _, it := range list {
		mark := " "
		if !it.IsRead {
			mark = "*"
		}
		from := it.From.Name
		if from == "" {
			from = it.From.Email
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t", it.Received.Local().Format("2006-01-02 15:04"), mark, clip(from, 28), clip(it.Subject, 56))
		if withFolder {
			path := string(it.FolderID)
			if f := t.byID[it.FolderID]; f != nil {
				path = f.path()
			}
			fmt.Fprintf(tw, "%s\t", clip(path, 28))
		}
		fmt.Fprintf(tw, "%s\n", it.ID)
	}
	return tw.Flush()
}

// clip shortens s to n runes, marking the cut, and flattens tabs and line
// breaks so one item stays on one line.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func (q *queryRun) item(ctx context.Context) error {
	t, err := q.tree(ctx)
	if err != nil {
		return err
	}
	it, err := q.st.Item(ctx, t.mailbox, localstore.ItemID(q.cfg.args[0]))
	if err != nil {
		return fmt.Errorf("item %q of %s: %w", q.cfg.args[0], t.mailbox, err)
	}
	mime, err := q.st.MIMEBytes(ctx, t.mailbox, it.ID)
	if err != nil && !isNotFound(err) {
		return err
	}
	d := itemDetailJSON{itemJSON: toItemJSON(it, t), MIMESize: len(mime)}
	if q.cfg.json {
		return writeJSON(q.out, d)
	}
	tw := tabwriter.NewWriter(q.out, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Subject:", d.Subject)
	row("From:", formatAddress(it.From))
	row("To:", formatAddresses(it.To))
	if len(it.Cc) > 0 {
		row("Cc:", formatAddresses(it.Cc))
	}
	row("Received:", it.Received.Local().Format(time.RFC1123Z))
	row("Sent:", it.Sent.Local().Format(time.RFC1123Z))
	row("Folder:", d.FolderPath)
	row("Read:", yesNo(it.IsRead))
	row("Attachments:", yesNo(it.HasAttachments))
	row("Importance:", d.Importance)
	if len(it.Categories) > 0 {
		row("Categories:", strings.Join(it.Categories, ", "))
	}
	row("Size:", fmt.Sprintf("%d bytes", it.Size))
	if len(mime) > 0 {
		row("MIME:", fmt.Sprintf("%d bytes mirrored", len(mime)))
	} else {
		row("MIME:", "not mirrored")
	}
	row("Class:", it.ItemClass)
	row("Message-ID:", it.InternetMessageID)
	row("Id:", string(it.ID))
	row("ChangeKey:", it.ChangeKey)
	return tw.Flush()
}

func isNotFound(err error) bool { return errors.Is(err, localstore.ErrNotFound) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func formatAddress(a localstore.Address) string {
	switch {
	case a.Name == "":
		return a.Email
	case a.Email == "":
		return a.Name
	}
	return fmt.Sprintf("%s <%s>", a.Name, a.Email)
}

func formatAddresses(as []localstore.Address) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = formatAddress(a)
	}
	return strings.Join(s, ", ")
}

func (q *queryRun) search(ctx context.Context) error {
	t, err := q.tree(ctx)
	if err != nil {
		return err
	}
	sq := localstore.SearchQuery{Text: q.cfg.args[0], Limit: q.cfg.limit}
	if strings.TrimSpace(sq.Text) == "" {
		return fmt.Errorf("%w: search needs a non-empty TEXT", errUsage)
	}
	if q.cfg.folder != "" {
		f, err := t.resolve(q.cfg.folder)
		if err != nil {
			return err
		}
		sq.Folder = f.ID
	}
	list, err := collect(q.st.Search(ctx, t.mailbox, sq))
	if err != nil {
		return err
	}
	if q.cfg.json {
		return writeJSON(q.out, struct {
			Address string     `json:"address"`
			Text    string     `json:"text"`
			Items   []itemJSON `json:"items"`
		}{Address: string(t.mailbox), Text: sq.Text, Items: itemsJSON(list, t)})
	}
	if err := q.itemTable(list, t, true); err != nil {
		return err
	}
	_, err = fmt.Fprintf(q.out, "%d items match %q%s\n", len(list), sq.Text, q.limitNote(len(list)))
	return err
}

func (q *queryRun) stats(ctx context.Context) error {
	mbs, err := q.mailboxes(ctx)
	if err != nil {
		return err
	}
	var rows []statsJSON
	for _, mb := range mbs {
		s, err := q.st.Stats(ctx, mb)
		if err != nil {
			return err
		}
		ms, err := q.st.MailboxState(ctx, mb)
		if err != nil {
			return err
		}
		r := statsJSON{Address: string(mb), Folders: s.Folders, Items: s.Items, Unread: s.Unread, MIMEItems: s.MIMEItems,
			MIMEBytes: s.MIMEBytes, Seq: s.Seq, Subscription: ms.Subscription.Kind.String()}
		var last time.Time
		for f, err := range q.st.Folders(ctx, mb) {
			if err != nil {
				return err
			}
			if f.LastSynced.After(last) {
				last = f.LastSynced
			}
		}
		if !last.IsZero() {
			r.LastSynced = &last
		}
		rows = append(rows, r)
	}
	if q.cfg.json {
		var size int64
		if fi, err := os.Stat(q.st.Path()); err == nil {
			size = fi.Size()
		}
		return writeJSON(q.out, struct {
			Path      string      `json:"path"`
			FileSize  int64       `json:"fileSize"`
			Mailboxes []statsJSON `json:"mailboxes"`
		}{q.st.Path(), size, rows})
	}
	tw := tabwriter.NewWriter(q.out, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "MAILBOX\tFOLDERS\tITEMS\tUNREAD\tWITH MIME\tMIME BYTES\tSUBSCRIPTION\tLAST SYNCED\n")
	for _, r := range rows {
		last := "never"
		if r.LastSynced != nil {
			last = r.LastSynced.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.Address, r.Folders, r.Items, r.Unread, r.MIMEItems, r.MIMEBytes, r.Subscription, last)
	}
	return tw.Flush()
}
