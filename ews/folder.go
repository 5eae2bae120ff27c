package ews

import (
	"cmp"
	"context"
	"iter"
	"strconv"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// GetFolderRequest asks for folders by id or distinguished name.
type GetFolderRequest struct {
	// Folders to get, at least one. Exchange documents no cap; keep
	// batches to about 100.
	Folders []FolderRef
	// Shape says which properties to return; the zero value is IdOnly.
	// FolderSyncShape() returns the counters and recovery properties.
	Shape FolderShape
}

// FolderResult is the outcome for one requested folder.
type FolderResult struct {
	// Folder is valid when Err is nil.
	Folder Folder
	// Err is a *ResponseError (e.g. ErrFolderNotFound,
	// ErrInvalidIDMalformed) or a malformed-folder error, for this
	// folder only.
	Err error
}

// GetFolder gets folders in one call. It returns one FolderResult per
// requested folder, in request order; the error is reserved for failures
// of the whole request.
func (c *Client) GetFolder(ctx context.Context, req GetFolderRequest) ([]FolderResult, error) {
	const op = "GetFolder"
	if len(req.Folders) == 0 {
		return nil, invalidf(op, "no folders")
	}
	if err := validateFolderShape(op, req.Shape); err != nil {
		return nil, err
	}
	el := newOp(op)
	addFolderShape(el, req.Shape)
	ids := el.CreateElement("m:FolderIds")
	for i, r := range req.Folders {
		if err := r.validate(); err != nil {
			return nil, invalidf(op, "folder %d: %v", i, err)
		}
		addFolderRef(ids, r)
	}
	resp, err := c.call(ctx, &callRequest{Op: op, Body: el, Idempotent: true})
	if err != nil {
		return nil, err
	}
	return decodeGetFolder(resp, len(req.Folders))
}

// decodeGetFolder maps response messages to per-folder results.
func decodeGetFolder(resp *soapResponse, want int) ([]FolderResult, error) {
	const op = "GetFolder"
	if len(resp.Messages) != want {
		return nil, malformedf(op, "%d response messages for %d folders", len(resp.Messages), want)
	}
	out := make([]FolderResult, want)
	for i, m := range resp.Messages {
		var folders []Folder
		perr := payloadChildren(m.Elem, func(c *etree.Element) error {
			if !ewsxml.Is(c, nsM, "Folders") {
				return nil
			}
			fs, err := decodeFolders(c)
			folders = fs
			return err
		})
		switch {
		case perr != nil:
			out[i].Err = malformed(op, perr)
		case m.Err != nil:
			out[i].Err = m.Err
			if len(folders) == 1 {
				out[i].Folder = folders[0]
			}
		case len(folders) != 1:
			out[i].Err = malformedf(op, "message %d holds %d folders, want 1", i, len(folders))
		default:
			out[i].Folder = folders[0]
		}
	}
	return out, nil
}

// decodeFolders reads the folder elements of a Folders container.
func decodeFolders(e *etree.Element) ([]Folder, error) {
	var out []Folder
	for c := range typesChildren(e) { // Folder, CalendarFolder, SearchFolder, ...
		f, err := decodeFolder(c)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Traversal is the FindFolder traversal.
type Traversal string

// FindFolder traversals.
const (
	// Shallow returns the direct children of the parent.
	Shallow Traversal = "Shallow"
	// Deep returns all descendants (not for public folders).
	Deep Traversal = "Deep"
	// SoftDeleted returns soft-deleted children.
	SoftDeleted Traversal = "SoftDeleted"
)

// FindFolderRequest asks for the subfolders of one folder, one page at a
// time.
type FindFolderRequest struct {
	// Parent is the folder whose subfolders are listed.
	Parent FolderRef
	// Traversal defaults to Shallow.
	Traversal Traversal
	// Shape says which properties to return; the zero value is IdOnly.
	Shape FolderShape
	// Offset is the index of the first folder of the page.
	Offset int
	// MaxEntries bounds the page (1–1000); 0 means no paging element
	// (the server's own limit applies).
	MaxEntries int
}

// FindFolderPage is one page of FindFolder results.
type FindFolderPage struct {
	Folders []Folder
	// TotalItemsInView is the number of folders in the whole view.
	TotalItemsInView int
	// IncludesLastItemInRange is true on the last page.
	IncludesLastItemInRange bool
	// NextOffset is where the next page starts: IndexedPagingOffset, or
	// the request's Offset plus the folders returned when the server
	// omits it.
	NextOffset int
}

// FindFolder lists one page of subfolders of req.Parent.
func (c *Client) FindFolder(ctx context.Context, req FindFolderRequest) (*FindFolderPage, error) {
	const op = "FindFolder"
	if err := req.Parent.validate(); err != nil {
		return nil, invalidf(op, "parent: %v", err)
	}
	tr := cmp.Or(req.Traversal, Shallow)
	switch tr {
	case Shallow, Deep, SoftDeleted:
	default:
		return nil, invalidf(op, "unknown traversal %q", string(tr))
	}
	if req.Offset < 0 || req.MaxEntries < 0 || req.MaxEntries > 1000 {
		return nil, invalidf(op, "paging Offset %d MaxEntries %d out of range", req.Offset, req.MaxEntries)
	}
	if err := validateFolderShape(op, req.Shape); err != nil {
		return nil, err
	}
	el := newOp(op)
	el.CreateAttr("Traversal", string(tr))
	addFolderShape(el, req.Shape)
	if req.MaxEntries > 0 {
		v := el.CreateElement("m:IndexedPageFolderView")
		v.CreateAttr("MaxEntriesReturned", strconv.Itoa(req.MaxEntries))
		v.CreateAttr("Offset", strconv.Itoa(req.Offset))
		v.CreateAttr("BasePoint", "Beginning")
	}
	addFolderRef(el.CreateElement("m:ParentFolderIds"), req.Parent)
	resp, err := c.call(ctx, &callRequest{Op: op, Body: el, Idempotent: true})
	if err != nil {
		return nil, err
	}
	return decodeFindFolder(resp, req.Offset)
}

func decodeFindFolder(resp *soapResponse, offset int) (*FindFolderPage, error) {
	const op = "FindFolder"
	if len(resp.Messages) != 1 {
		return nil, malformedf(op, "%d response messages, want 1", len(resp.Messages))
	}
	m := resp.Messages[0]
	if m.Err != nil {
		return nil, m.Err
	}
	root := ewsxml.FirstChild(m.Elem, nsM, "RootFolder")
	if root == nil {
		return nil, malformedf(op, "no RootFolder")
	}
	p := &FindFolderPage{NextOffset: -1}
	var err error
	for _, a := range root.Attr {
		switch a.Key {
		case "TotalItemsInView":
			p.TotalItemsInView, err = strconv.Atoi(a.Value)
		case "IndexedPagingOffset":
			p.NextOffset, err = strconv.Atoi(a.Value)
			if err == nil && p.NextOffset < 0 {
				err = errorString("negative offset")
			}
		case "IncludesLastItemInRange":
			p.IncludesLastItemInRange, err = ewsxml.ParseBool(a.Value)
		}
		if err != nil {
			return nil, malformedf(op, "RootFolder %s=%q", a.Key, a.Value)
		}
	}
	if fs := ewsxml.FirstChild(root, nsT, "Folders"); fs != nil {
		if p.Folders, err = decodeFolders(fs); err != nil {
			return nil, malformed(op, err)
		}
	}
	if p.NextOffset < 0 { // not sent: the page follows the request's offset
		p.NextOffset = offset + len(p.Folders)
	}
	return p, nil
}

// AllFolders pages through FindFolder from req.Offset until the last page,
// yielding each folder; pageSize (1–1000, 0 for 100) sets MaxEntries.
// Iteration stops at the first error, which is yielded once. Memory is one
// page at a time.
func (c *Client) AllFolders(ctx context.Context, req FindFolderRequest, pageSize int) iter.Seq2[Folder, error] {
	pageSize = cmp.Or(pageSize, 100)
	return func(yield func(Folder, error) bool) {
		req.MaxEntries = pageSize
		for {
			page, err := c.FindFolder(ctx, req)
			if err != nil {
				yield(Folder{}, err)
				return
			}
			for _, f := range page.Folders {
				if !yield(f, nil) {
					return
				}
			}
			if page.IncludesLastItemInRange || len(page.Folders) == 0 {
				return
			}
			if page.NextOffset <= req.Offset {
				yield(Folder{}, malformedf("FindFolder", "paging offset did not advance (%d)", page.NextOffset))
				return
			}
			req.Offset = page.NextOffset
		}
	}
}
