package ews

import (
	"cmp"
	"context"
	"iter"
	"strconv"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// SyncFolderHierarchyRequest asks for folder changes since SyncState.
type SyncFolderHierarchyRequest struct {
	// SyncFolder is the root of the synced subtree; nil omits the
	// element. Always send the same value as in the first call: absent
	// and "root" are different states.
	SyncFolder *FolderRef
	// SyncState is the state returned by the previous call; empty for
	// the first call.
	SyncState string
	// Shape says which properties of created/updated folders to return.
	Shape FolderShape
}

// FolderChange is one SyncFolderHierarchy change. For ChangeDelete only
// Folder.ID is set.
type FolderChange struct {
	Kind   ChangeKind
	Folder Folder
}

// SyncFolderHierarchyResult is one page of folder changes.
type SyncFolderHierarchyResult struct {
	// SyncState is the state to send next time (and to store with the
	// applied changes).
	SyncState string
	// IncludesLastFolderInRange is false when more changes remain: call
	// again with SyncState.
	IncludesLastFolderInRange bool
	Changes                   []FolderChange
}

// SyncFolderHierarchy returns folder changes since req.SyncState.
func (c *Client) SyncFolderHierarchy(ctx context.Context, req SyncFolderHierarchyRequest) (*SyncFolderHierarchyResult, error) {
	const op = "SyncFolderHierarchy"
	if err := validateFolderShape(op, req.Shape); err != nil {
		return nil, err
	}
	el := newOp(op)
	addFolderShape(el, req.Shape)
	if req.SyncFolder != nil {
		if err := req.SyncFolder.validate(); err != nil {
			return nil, invalidf(op, "sync folder: %v", err)
		}
		addFolderRef(el.CreateElement("m:SyncFolderId"), *req.SyncFolder)
	}
	if req.SyncState != "" {
		ewsxml.AddText(el, "m:SyncState", req.SyncState)
	}
	resp, err := c.call(ctx, &callRequest{Op: op, Body: el, Idempotent: true})
	if err != nil {
		return nil, err
	}
	return decodeSyncFolderHierarchy(resp)
}

func decodeSyncFolderHierarchy(resp *soapResponse) (*SyncFolderHierarchyResult, error) {
	const op = "SyncFolderHierarchy"
	m, err := singleMessage(op, resp)
	if err != nil {
		return nil, err
	}
	r := &SyncFolderHierarchyResult{}
	r.SyncState, r.IncludesLastFolderInRange, err = decodeSyncPage(op, m, "IncludesLastFolderInRange", func(c *etree.Element) (err error) {
		r.Changes, err = decodeFolderChanges(c)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// decodeSyncPage reads what a SyncFolderHierarchy and a SyncFolderItems
// response message share: the next SyncState, the flag lastTag
// (IncludesLast…InRange), and m:Changes, which it hands to changes.
func decodeSyncPage(op string, m responseMessage, lastTag string, changes func(*etree.Element) error) (state string, last bool, err error) {
	seenLast := false
	perr := payloadChildren(m.Elem, func(c *etree.Element) error {
		if c.Space != nsM {
			return nil
		}
		var err error
		switch c.Tag {
		case "SyncState":
			state = c.Text()
		case lastTag:
			seenLast = true
			last, err = ewsxml.ParseBool(c.Text())
		case "Changes":
			err = changes(c)
		}
		return err
	})
	if perr != nil {
		return "", false, malformed(op, perr)
	}
	if state == "" || !seenLast {
		return "", false, malformedf(op, "response lacks SyncState or %s", lastTag)
	}
	return state, last, nil
}

// changeElements yields the t: elements inside m:Changes whose tag names a
// ChangeKind, with that kind.
func changeElements(e *etree.Element) iter.Seq2[ChangeKind, *etree.Element] {
	return func(yield func(ChangeKind, *etree.Element) bool) {
		for c := range typesChildren(e) {
			if kind := changeKind(c.Tag); kind != 0 && !yield(kind, c) {
				return
			}
		}
	}
}

func decodeFolderChanges(e *etree.Element) ([]FolderChange, error) {
	out := make([]FolderChange, 0, len(e.Child)/2)
	for kind, c := range changeElements(e) {
		if kind == ChangeReadFlag {
			continue
		}
		ch := FolderChange{Kind: kind}
		found := false
		for g := range typesChildren(c) {
			var err error
			switch {
			case kind == ChangeDelete && g.Tag == "FolderId":
				ch.Folder.ID, err = decodeFolderID(g)
				ch.Folder.TotalCount, ch.Folder.UnreadCount, ch.Folder.ChildFolderCount, ch.Folder.DeletedCountTotal = -1, -1, -1, -1
				found = true
			case kind != ChangeDelete && !found: // Folder, CalendarFolder, ...
				ch.Folder, err = decodeFolder(g)
				found = true
			}
			if err != nil {
				return nil, err
			}
		}
		if !found {
			return nil, errorString(c.Tag + " change without a folder")
		}
		out = append(out, ch)
	}
	return out, nil
}

func changeKind(tag string) ChangeKind {
	switch tag {
	case "Create":
		return ChangeCreate
	case "Update":
		return ChangeUpdate
	case "Delete":
		return ChangeDelete
	case "ReadFlagChange":
		return ChangeReadFlag
	}
	return 0
}

// SyncScope says which items SyncFolderItems covers (Exchange 2010+).
type SyncScope string

// Sync scopes.
const (
	// NormalItems covers the folder's ordinary items.
	NormalItems SyncScope = "NormalItems"
	// NormalAndAssociatedItems also covers hidden folder-associated
	// items.
	NormalAndAssociatedItems SyncScope = "NormalAndAssociatedItems"
)

// MaxSyncChanges is the largest MaxChangesReturned Exchange accepts.
const MaxSyncChanges = 512

// SyncFolderItemsRequest asks for item changes in one folder since
// SyncState.
type SyncFolderItemsRequest struct {
	// Folder is the synced folder; always the same for one SyncState.
	Folder FolderRef
	// SyncState is the state returned by the previous call; empty for
	// the first call.
	SyncState string
	// Shape says which summary properties of created/updated items to
	// return; the zero value is IdOnly, which Microsoft advises.
	Shape ItemShape
	// Ignore lists items whose changes are skipped.
	Ignore []ItemID
	// MaxChangesReturned is 1–512; 0 means 512.
	MaxChangesReturned int
	// Scope is sent when non-empty.
	Scope SyncScope
}

// ItemChange is one SyncFolderItems change. Item.ID is always set; for
// ChangeCreate and ChangeUpdate, Item also holds the summary properties the
// shape asked for; for ChangeReadFlag, IsRead is the new flag.
type ItemChange struct {
	Kind   ChangeKind
	Item   Item
	IsRead bool
}

// SyncFolderItemsResult is one page of item changes.
type SyncFolderItemsResult struct {
	// SyncState is the state to send next time, to be stored in the
	// same transaction as the applied changes.
	SyncState string
	// IncludesLastItemInRange is false when more changes remain.
	IncludesLastItemInRange bool
	Changes                 []ItemChange
}

// SyncFolderItems returns up to MaxChangesReturned item changes in
// req.Folder since req.SyncState. ErrInvalidSyncStateData means the state
// must be dropped and the folder synced from scratch; ErrSyncFolderNotFound
// that the folder is gone.
func (c *Client) SyncFolderItems(ctx context.Context, req SyncFolderItemsRequest) (*SyncFolderItemsResult, error) {
	const op = "SyncFolderItems"
	max := cmp.Or(req.MaxChangesReturned, MaxSyncChanges)
	if max < 1 || max > MaxSyncChanges {
		return nil, invalidf(op, "MaxChangesReturned %d outside 1–%d", req.MaxChangesReturned, MaxSyncChanges)
	}
	if err := req.Folder.validate(); err != nil {
		return nil, invalidf(op, "folder: %v", err)
	}
	switch req.Scope {
	case "", NormalItems, NormalAndAssociatedItems:
	default:
		return nil, invalidf(op, "unknown SyncScope %q", string(req.Scope))
	}
	if req.Shape.IncludeMimeContent {
		return nil, invalidf(op, "SyncFolderItems cannot return MimeContent; use GetItem")
	}
	if err := validateItemShape(op, req.Shape); err != nil {
		return nil, err
	}
	el := newOp(op)
	addItemShape(el, req.Shape)
	addFolderRef(el.CreateElement("m:SyncFolderId"), req.Folder)
	if req.SyncState != "" {
		ewsxml.AddText(el, "m:SyncState", req.SyncState)
	}
	if len(req.Ignore) > 0 {
		ig := el.CreateElement("m:Ignore")
		for i, id := range req.Ignore {
			if id.ID == "" {
				return nil, invalidf(op, "Ignore[%d] has no Id", i)
			}
			addItemID(ig, id)
		}
	}
	ewsxml.AddText(el, "m:MaxChangesReturned", strconv.Itoa(max))
	if req.Scope != "" {
		ewsxml.AddText(el, "m:SyncScope", string(req.Scope))
	}
	resp, err := c.call(ctx, &callRequest{Op: op, Body: el, Idempotent: true})
	if err != nil {
		return nil, err
	}
	return decodeSyncFolderItems(resp)
}

func decodeSyncFolderItems(resp *soapResponse) (*SyncFolderItemsResult, error) {
	const op = "SyncFolderItems"
	m, err := singleMessage(op, resp)
	if err != nil {
		return nil, err
	}
	if r, ok := resp.fast.(*SyncFolderItemsResult); ok { // decoded by the fast path
		return r, nil
	}
	r := &SyncFolderItemsResult{}
	r.SyncState, r.IncludesLastItemInRange, err = decodeSyncPage(op, m, "IncludesLastItemInRange", func(c *etree.Element) (err error) {
		r.Changes, err = decodeItemChanges(c, resp.mime)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func decodeItemChanges(e *etree.Element, lifted [][]byte) ([]ItemChange, error) {
	out := make([]ItemChange, 0, len(e.Child)/2)
	for kind, c := range changeElements(e) {
		ch := ItemChange{Kind: kind}
		found, seenRead := false, false
		for g := range typesChildren(c) {
			var err error
			switch {
			case (kind == ChangeDelete || kind == ChangeReadFlag) && g.Tag == "ItemId":
				ch.Item.ID, err = decodeItemID(g)
				found = true
			case kind == ChangeReadFlag && g.Tag == "IsRead":
				ch.IsRead, err = ewsxml.ParseBool(g.Text())
				seenRead = true
			case (kind == ChangeCreate || kind == ChangeUpdate) && !found: // Message, MeetingRequest, ...
				ch.Item, err = decodeItem(g, lifted)
				found = true
			}
			if err != nil {
				return nil, err
			}
		}
		if !found {
			return nil, errorString(c.Tag + " change without an item")
		}
		if kind == ChangeReadFlag {
			if !seenRead {
				return nil, errorString("ReadFlagChange without IsRead")
			}
			ch.Item.IsRead = ch.IsRead
		}
		out = append(out, ch)
	}
	return out, nil
}

// singleMessage returns the only response message, or its error.
func singleMessage(op string, resp *soapResponse) (responseMessage, error) {
	if len(resp.Messages) != 1 {
		return responseMessage{}, malformedf(op, "%d response messages, want 1", len(resp.Messages))
	}
	m := resp.Messages[0]
	if m.Err != nil {
		return m, m.Err
	}
	return m, nil
}

// errorString is a constant error text.
type errorString string

func (e errorString) Error() string { return string(e) }

// SyncFolderItemsPages calls SyncFolderItems from req.SyncState until
// IncludesLastItemInRange, yielding each page in turn. The loop body should
// apply a page's Changes and store its SyncState together before
// continuing; the next call starts from that page's state. Breaking out
// stops without another call. Iteration ends after the first error, which
// is yielded once with a nil page.
func (c *Client) SyncFolderItemsPages(ctx context.Context, req SyncFolderItemsRequest) iter.Seq2[*SyncFolderItemsResult, error] {
	return syncPages(ctx, req, c.SyncFolderItems, func(req *SyncFolderItemsRequest, page *SyncFolderItemsResult) bool {
		req.SyncState = page.SyncState
		return !page.IncludesLastItemInRange
	})
}

// SyncFolderHierarchyPages is SyncFolderItemsPages for the folder
// hierarchy, ending at IncludesLastFolderInRange.
func (c *Client) SyncFolderHierarchyPages(ctx context.Context, req SyncFolderHierarchyRequest) iter.Seq2[*SyncFolderHierarchyResult, error] {
	return syncPages(ctx, req, c.SyncFolderHierarchy, func(req *SyncFolderHierarchyRequest, page *SyncFolderHierarchyResult) bool {
		req.SyncState = page.SyncState
		return !page.IncludesLastFolderInRange
	})
}

// syncPages yields the pages call returns, starting from req; after each
// page, next moves req on to the page's SyncState and reports whether more
// remain. See SyncFolderItemsPages.
func syncPages[R, P any](ctx context.Context, req R, call func(context.Context, R) (P, error), next func(*R, P) bool) iter.Seq2[P, error] {
	return func(yield func(P, error) bool) {
		for {
			page, err := call(ctx, req)
			if err != nil {
				var none P
				yield(none, err)
				return
			}
			if !yield(page, nil) || !next(&req, page) {
				return
			}
		}
	}
}
