package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mailsync/mailsync/localstore"
)

// The types of "syncdemo query -json dump". They carry the JSON names and
// Go types of ewstest's control-endpoint mailbox dump (ewstest.MailboxDump,
// FolderDump, ItemDump), so a mirror and a server can be diffed with any
// JSON tool. Fields the mirror does not know are left out rather than
// filled with made-up values: the mailbox's "database", a folder's
// "distinguishedId" and "changeNumber", an item's "flagStatus". The
// README's syncdemo section shows the jq filter that makes the two
// comparable. TestDumpJSON_matchesEwstest keeps the names and types in step.

// mailboxDump is one mailbox of "query -json dump".
type mailboxDump struct {
	Address string       `json:"address"`
	Folders []folderDump `json:"folders"`
}

// folderDump is one folder of a mailboxDump, parents before children.
// TotalCount, UnreadCount and ChildFolderCount are what the mirror holds;
// LocalCommitTimeMax and DeletedCountTotal are the values read from the
// server before the folder's last sync.
type folderDump struct {
	ID                 string     `json:"id"`
	ChangeKey          string     `json:"changeKey"`
	ParentID           string     `json:"parentId,omitempty"`
	DisplayName        string     `json:"displayName"`
	FolderClass        string     `json:"folderClass,omitempty"`
	TotalCount         int        `json:"totalCount"`
	UnreadCount        int        `json:"unreadCount"`
	ChildFolderCount   int        `json:"childFolderCount"`
	LocalCommitTimeMax time.Time  `json:"localCommitTimeMax"`
	DeletedCountTotal  int64      `json:"deletedCountTotal"`
	Items              []itemDump `json:"items,omitempty"`
}

// itemDump is one item of a folderDump, newest first.
type itemDump struct {
	ID               string    `json:"id"`
	ChangeKey        string    `json:"changeKey"`
	Subject          string    `json:"subject"`
	From             string    `json:"from"`
	DateTimeReceived time.Time `json:"dateTimeReceived"`
	IsRead           bool      `json:"isRead"`
	Categories       []string  `json:"categories,omitempty"`
	Size             int       `json:"size"`
}

// dumpMailbox reads one mailbox's folders and items in dump form.
func dumpMailbox(ctx context.Context, st *localstore.Store, mb localstore.Mailbox) (mailboxDump, *folderTree, error) {
	d := mailboxDump{Address: string(mb), Folders: []folderDump{}}
	t, err := loadTree(ctx, st, mb)
	if err != nil {
		return d, nil, err
	}
	for _, f := range t.list {
		fd := folderDump{ID: string(f.ID), ChangeKey: f.ChangeKey, ParentID: string(f.ParentID), DisplayName: f.DisplayName,
			FolderClass: f.FolderClass, TotalCount: int(f.LocalItems), UnreadCount: int(f.LocalUnread),
			ChildFolderCount: f.children, LocalCommitTimeMax: f.LocalCommitTimeMax, DeletedCountTotal: f.DeletedCountTotal}
		for it, err := range st.Items(ctx, mb, f.ID, localstore.Query{}) {
			if err != nil {
				return d, nil, err
			}
			fd.Items = append(fd.Items, itemDump{ID: string(it.ID), ChangeKey: it.ChangeKey, Subject: it.Subject,
				From: it.From.Email, DateTimeReceived: it.Received, IsRead: it.IsRead, Categories: it.Categories, Size: int(it.Size)})
		}
		d.Folders = append(d.Folders, fd)
	}
	return d, t, nil
}

func (q *queryRun) dump(ctx context.Context) error {
	mbs, err := q.mailboxes(ctx)
	if err != nil {
		return err
	}
	var dumps []mailboxDump
	for _, mb := range mbs {
		d, t, err := dumpMailbox(ctx, q.st, mb)
		if err != nil {
			return err
		}
		if q.cfg.json {
			dumps = append(dumps, d)
			continue
		}
		if err := q.dumpTable(ctx, t); err != nil {
			return err
		}
	}
	switch {
	case !q.cfg.json:
		return nil
	case len(dumps) == 1:
		return writeJSON(q.out, dumps[0])
	}
	return writeJSON(q.out, struct {
		Mailboxes []mailboxDump `json:"mailboxes"`
	}{dumps})
}

// dumpTable prints a mailbox's folders, each followed by its items.
func (q *queryRun) dumpTable(ctx context.Context, t *folderTree) error {
	fmt.Fprintf(q.out, "mailbox %s: %d folders\n", t.mailbox, len(t.list))
	for _, f := range t.list {
		fmt.Fprintf(q.out, "\n== %s (%d items, %d unread)\n", displayName(f.path()), f.LocalItems, f.LocalUnread)
		if f.LocalItems == 0 {
			continue
		}
		var list []localstore.Item
		for it, err := range q.st.Items(ctx, t.mailbox, f.ID, localstore.Query{}) {
			if err != nil {
				return err
			}
			list = append(list, it)
		}
		if err := q.itemTable(list, t, false); err != nil {
			return err
		}
	}
	return nil
}
