package ewstest

import (
	"encoding/base64"
	"errors"
	"strconv"

	"github.com/beevik/etree"
)

func init() {
	registerOp("GetFolder", opGetFolder)
	registerOp("FindFolder", opFindFolder)
	registerOp("CreateFolder", opCreateFolder)
	registerOp("UpdateFolder", opUpdateFolder)
	registerOp("DeleteFolder", opDeleteFolder)
	registerOp("MoveFolder", opMoveFolder)
	registerOp("SyncFolderHierarchy", opSyncFolderHierarchy)
}

// asFault returns err as a request-wide fault when it is one.
func asFault(err error) (*Fault, bool) {
	var f *Fault
	if errors.As(err, &f) {
		return f, true
	}
	return nil, false
}

// inFolder resolves el (a t:FolderId or t:DistinguishedFolderId) and runs
// fn on the folder with its mailbox locked. A request-wide fault from
// resolving (ExchangeImpersonation or access to another mailbox refused)
// comes back as the *Fault, which ends the request; a failure of this
// folder alone (malformed or unknown id, or fn's own error) as err, for
// the caller's per-folder error message. fn may write the response
// message: nothing else changes the mailbox while it runs.
func (r *request) inFolder(el *etree.Element, fn func(m *Mailbox, f *folder) error) (*Fault, error) {
	m, key, err := r.resolveFolder(el)
	if f, ok := asFault(err); ok {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(key)
	if err != nil {
		return nil, err
	}
	return nil, fn(m, f)
}

func opGetFolder(r *request) error {
	sh, err := parseShape(childM(r.body, "FolderShape"))
	if err != nil {
		return err
	}
	ids, err := folderIDList(childM(r.body, "FolderIds"), "FolderIds")
	if err != nil {
		return err
	}
	r.respBegin()
	for _, el := range ids {
		fault, err := r.inFolder(el, func(m *Mailbox, f *folder) error {
			r.msgOK()
			r.w.open("m:Folders")
			m.writeFolder(r.w, f, sh)
			r.w.close("m:Folders")
			r.msgClose()
			return nil
		})
		if fault != nil {
			return fault
		}
		if err != nil {
			r.msgError(err, "m:Folders")
		}
	}
	r.respEnd()
	return nil
}

// pageView is a parsed IndexedPage*View.
type pageView struct {
	max     int // 0 = unlimited
	offset  int
	fromEnd bool
}

func parsePageView(el *etree.Element) (pageView, error) {
	var v pageView
	if el == nil {
		return v, nil
	}
	if el.Tag != "IndexedPageItemView" && el.Tag != "IndexedPageFolderView" {
		return v, &Fault{Code: "ErrorInvalidRequest", Message: "The request is invalid: only indexed paging is supported by this server."}
	}
	if s := attr(el, "MaxEntriesReturned"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return v, codeErr("ErrorInvalidPagingMaxRows", "The paging max rows value is invalid.")
		}
		v.max = n
	}
	n, err := strconv.Atoi(attr(el, "Offset"))
	if err != nil || n < 0 {
		return v, schemaFault("the Offset attribute of %s is invalid", el.Tag)
	}
	v.offset = n
	switch attr(el, "BasePoint") {
	case "Beginning":
	case "End":
		v.fromEnd = true
	default:
		return v, schemaFault("the BasePoint attribute of %s is invalid", el.Tag)
	}
	return v, nil
}

// window applies the view to n rows: it returns [lo, hi) and the
// IndexedPagingOffset to report.
func (v pageView) window(n int) (lo, hi, next int) {
	if v.fromEnd {
		hi = max(n-v.offset, 0)
		lo = 0
		if v.max > 0 {
			lo = max(hi-v.max, 0)
		}
		return lo, hi, v.offset + (hi - lo)
	}
	lo = min(v.offset, n)
	hi = n
	if v.max > 0 {
		hi = min(lo+v.max, n)
	}
	return lo, hi, hi
}

func opFindFolder(r *request) error {
	trav := attr(r.body, "Traversal")
	switch trav {
	case "Shallow", "Deep":
	case "SoftDeleted":
		return &Fault{Code: "ErrorInvalidRequest", Message: "The request is invalid: SoftDeleted traversal is not supported by this server."}
	default:
		return schemaFault("the Traversal attribute is missing or invalid")
	}
	sh, err := parseShape(childM(r.body, "FolderShape"))
	if err != nil {
		return err
	}
	var view pageView
	var pred func(*folder) bool
	for _, c := range r.body.ChildElements() {
		switch c.Tag {
		case "IndexedPageFolderView", "FractionalPageFolderView":
			if view, err = parsePageView(c); err != nil {
				return err
			}
		case "Restriction":
			// Microsoft's FindFolder reference: restrictions are permitted
			// on folder properties (the hidden-folders how-to restricts on
			// PidTagAttributeHidden).
			cs := c.ChildElements()
			if len(cs) != 1 {
				return schemaFault("Restriction needs one search expression")
			}
			if pred, err = compileFolderRestriction(cs[0]); err != nil {
				return toFault(err)
			}
		}
	}
	ids, err := folderIDList(childM(r.body, "ParentFolderIds"), "ParentFolderIds")
	if err != nil {
		return err
	}
	r.respBegin()
	for _, el := range ids {
		fault, err := r.inFolder(el, func(m *Mailbox, p *folder) error {
			var list []*folder
			var walk func(f *folder)
			walk = func(f *folder) {
				for _, c := range f.children {
					if pred == nil || pred(c) {
						list = append(list, c)
					}
					if trav == "Deep" {
						walk(c)
					}
				}
			}
			walk(p)
			// EWSFindCountLimit caps FindFolder rows too.
			v := view
			if v.max == 0 || v.max > findCountLimit {
				v.max = findCountLimit
			}
			lo, hi, next := v.window(len(list))
			r.msgOK()
			r.w.open("m:RootFolder", "IndexedPagingOffset", strconv.Itoa(next), "TotalItemsInView", strconv.Itoa(len(list)),
				"IncludesLastItemInRange", strconv.FormatBool(hi == len(list) && !v.fromEnd || v.fromEnd && lo == 0))
			r.w.open("t:Folders")
			for _, f := range list[lo:hi] {
				m.writeFolder(r.w, f, sh)
			}
			r.w.close("t:Folders")
			r.w.close("m:RootFolder")
			r.msgClose()
			return nil
		})
		if fault != nil {
			return fault
		}
		if err != nil {
			r.msgError(err)
		}
	}
	r.respEnd()
	return nil
}

var folderElements = map[string]string{
	"Folder": "", "CalendarFolder": "IPF.Appointment", "ContactsFolder": "IPF.Contact",
	"TasksFolder": "IPF.Task", "SearchFolder": "",
}

func opCreateFolder(r *request) error {
	pel := childM(r.body, "ParentFolderId")
	if pel == nil || len(pel.ChildElements()) != 1 {
		return schemaFault("ParentFolderId must hold one folder id")
	}
	fsEl := childM(r.body, "Folders")
	if fsEl == nil || len(fsEl.ChildElements()) == 0 {
		return schemaFault("Folders must hold at least one folder")
	}
	for _, fe := range fsEl.ChildElements() {
		if _, ok := folderElements[fe.Tag]; !ok || fe.NamespaceURI() != nsT {
			return schemaFault("unexpected element %s in Folders", fe.Tag)
		}
	}
	m, key, perr := r.resolveFolder(pel.ChildElements()[0])
	if f, ok := asFault(perr); ok {
		return f
	}
	r.respBegin()
	for _, fe := range fsEl.ChildElements() {
		if perr != nil {
			r.msgError(perr, "m:Folders")
			continue
		}
		if fe.Tag == "SearchFolder" {
			r.msgError(codeErr("ErrorInvalidOperation", "Search folders are not supported by this server."), "m:Folders")
			continue
		}
		class := textOf(childT(fe, "FolderClass"))
		if class != "" && folderElements[fe.Tag] != "" {
			// A typed folder element fixes the class ("Work with folders by
			// using EWS in Exchange": ErrorNoFolderClassOverride).
			r.msgError(codeErr("ErrorNoFolderClassOverride", "The folder class cannot be overridden for this folder type."), "m:Folders")
			continue
		}
		if class == "" {
			class = folderElements[fe.Tag]
		}
		m.mu.Lock()
		p, err := m.lookupFolder(key)
		var f *folder
		if err == nil {
			f, err = m.createFolderLocked(p, textOf(childT(fe, "DisplayName")), class)
		}
		if err == nil && class == "" {
			// A generic t:Folder created without FolderClass has none on
			// Exchange (exchangelib's Folder(...).save() then refresh()
			// relies on it: an IPF.Note folder comes back as Messages).
			f.class = ""
		}
		if err != nil {
			m.mu.Unlock()
			r.msgError(err, "m:Folders")
			continue
		}
		r.msgOK()
		r.w.open("m:Folders")
		el := folderElement(f.class)
		r.w.open(el)
		m.writeFolderID(r.w, "t:FolderId", f)
		r.w.close(el)
		r.w.close("m:Folders")
		r.msgClose()
		m.mu.Unlock()
	}
	r.respEnd()
	return nil
}

func opUpdateFolder(r *request) error {
	chs := childM(r.body, "FolderChanges")
	if chs == nil || len(chs.ChildElements()) == 0 {
		return schemaFault("FolderChanges must hold at least one FolderChange")
	}
	r.respBegin()
	for _, ch := range chs.ChildElements() {
		var idEl, upd *etree.Element
		for _, c := range ch.ChildElements() {
			switch c.Tag {
			case "FolderId", "DistinguishedFolderId":
				idEl = c
			case "Updates":
				upd = c
			}
		}
		if idEl == nil || upd == nil {
			return schemaFault("FolderChange needs a folder id and Updates")
		}
		var newName *string
		for _, u := range upd.ChildElements() {
			uri := childT(u, "FieldURI")
			if uri == nil {
				if childT(u, "ExtendedFieldURI") != nil || childT(u, "IndexedFieldURI") != nil {
					// The schema allows any property path (Microsoft's
					// hidden-folders how-to sets PidTagAttributeHidden);
					// extended properties are accepted and not stored.
					continue
				}
				return schemaFault("%s needs a FieldURI", u.Tag)
			}
			name, err := fieldName(attr(uri, "FieldURI"))
			if err != nil {
				return err
			}
			if name != "DisplayName" || u.Tag != "SetFolderField" {
				continue // properties the fake does not keep are accepted and dropped
			}
			var val *etree.Element
			for _, c := range u.ChildElements() {
				if _, ok := folderElements[c.Tag]; ok {
					val = childT(c, "DisplayName")
				}
			}
			if val == nil {
				return schemaFault("SetFolderField for DisplayName needs a folder element with DisplayName")
			}
			s := textOf(val)
			newName = &s
		}
		m, key, err := r.resolveFolder(idEl)
		if f, ok := asFault(err); ok {
			return f
		}
		if err == nil && !validFolderChangeKey(attr(idEl, "ChangeKey")) {
			// Microsoft's UpdateFolder reference: an invalid ChangeKey
			// gives ErrorInvalidChangeKey.
			err = codeErr("ErrorInvalidChangeKey", "The change key is invalid.")
		}
		if err != nil {
			r.msgError(err, "m:Folders")
			continue
		}
		m.mu.Lock()
		f, err := m.lookupFolder(key)
		if err == nil && newName != nil {
			err = m.renameFolderLocked(f, *newName)
		}
		if err != nil {
			m.mu.Unlock()
			r.msgError(err, "m:Folders")
			continue
		}
		r.msgOK()
		r.w.open("m:Folders")
		el := folderElement(f.class)
		r.w.open(el)
		m.writeFolderID(r.w, "t:FolderId", f)
		r.w.close(el)
		r.w.close("m:Folders")
		r.msgClose()
		m.mu.Unlock()
	}
	r.respEnd()
	return nil
}

func opDeleteFolder(r *request) error {
	mode, ok := parseDeleteMode(attr(r.body, "DeleteType"))
	if !ok {
		return schemaFault("the DeleteType attribute is missing or invalid")
	}
	ids, err := folderIDList(childM(r.body, "FolderIds"), "FolderIds")
	if err != nil {
		return err
	}
	r.respBegin()
	for _, el := range ids {
		fault, err := r.inFolder(el, func(m *Mailbox, f *folder) error {
			return m.deleteFolderLocked(f, mode)
		})
		if fault != nil {
			return fault
		}
		if ResponseCode(err) == "ErrorFolderNotFound" {
			// Microsoft's DeleteFolder reference shows ErrorItemNotFound
			// for a folder that is not in the mailbox.
			err = codeErr("ErrorItemNotFound", "The specified object was not found in the store.")
		}
		if err != nil {
			r.msgError(err)
			continue
		}
		r.msgOK()
		r.msgClose()
	}
	r.respEnd()
	return nil
}

func opMoveFolder(r *request) error {
	to := childM(r.body, "ToFolderId")
	if to == nil || len(to.ChildElements()) != 1 {
		return schemaFault("ToFolderId must hold one folder id")
	}
	ids, err := folderIDList(childM(r.body, "FolderIds"), "FolderIds")
	if err != nil {
		return err
	}
	tm, tkey, terr := r.resolveFolder(to.ChildElements()[0])
	if f, ok := asFault(terr); ok {
		return f
	}
	r.respBegin()
	for _, el := range ids {
		m, key, err := r.resolveFolder(el)
		if f, ok := asFault(err); ok {
			return f
		}
		if err == nil && terr != nil {
			err = terr
		}
		if err == nil && m != tm {
			err = codeErr("ErrorMoveCopyFailed", "Folders cannot be moved between mailboxes.")
		}
		var f *folder
		if err == nil {
			m.mu.Lock()
			var dst *folder
			if f, err = m.lookupFolder(key); err == nil {
				if dst, err = m.lookupFolder(tkey); err == nil {
					err = m.moveFolderLocked(f, dst)
				}
			}
			if err != nil {
				m.mu.Unlock()
			}
		}
		if err != nil {
			if errors.Is(err, ErrDistinguishedFolder) {
				err = codeErr("ErrorMoveDistinguishedFolder", "Cannot move distinguished folder.")
			}
			r.msgError(err, "m:Folders")
			continue
		}
		r.msgOK()
		r.w.open("m:Folders")
		el := folderElement(f.class)
		r.w.open(el)
		m.writeFolderID(r.w, "t:FolderId", f)
		r.w.close(el)
		r.w.close("m:Folders")
		r.msgClose()
		m.mu.Unlock()
	}
	r.respEnd()
	return nil
}

func opSyncFolderHierarchy(r *request) error {
	sh, err := parseShape(childM(r.body, "FolderShape"))
	if err != nil {
		return err
	}
	m, rootKey := r.mb, ""
	var root *folder
	if sf := childM(r.body, "SyncFolderId"); sf != nil {
		if len(sf.ChildElements()) != 1 {
			return schemaFault("SyncFolderId must hold one folder id")
		}
		mm, key, err := r.resolveFolder(sf.ChildElements()[0])
		if f, ok := asFault(err); ok {
			return f
		}
		if err != nil {
			r.syncHierarchyError(err)
			return nil
		}
		m = mm
		mm.mu.Lock()
		root, err = mm.lookupFolder(key)
		mm.mu.Unlock()
		if err != nil {
			r.syncHierarchyError(codeErr("ErrorSyncFolderNotFound", "The specified folder could not be found in the store."))
			return nil
		}
		rootKey = root.id
	}
	state := textOf(childM(r.body, "SyncState"))
	if r.s.faults.takeInvalidSync() {
		r.syncHierarchyError(ErrInvalidSyncState)
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if root == nil {
		root = m.root
	}
	st, err := m.folderState(rootKey, state)
	if err != nil {
		r.syncHierarchyError(err)
		return nil
	}
	changes := m.syncFoldersLocked(root, st)
	r.respBegin()
	r.msgOK()
	r.w.elem("m:SyncState", st.encode())
	r.w.elemBool("m:IncludesLastFolderInRange", true)
	r.w.open("m:Changes")
	for _, c := range changes {
		switch c.kind {
		case changeDelete:
			r.w.open("t:Delete")
			r.w.empty("t:FolderId", "Id", c.id)
			r.w.close("t:Delete")
		default:
			tag := "t:" + c.kind.String()
			r.w.open(tag)
			m.writeFolder(r.w, c.f, sh)
			r.w.close(tag)
		}
	}
	r.w.close("m:Changes")
	r.msgClose()
	r.respEnd()
	return nil
}

func (r *request) syncHierarchyError(err error) {
	r.w = newXW()
	r.respBegin()
	code := ResponseCode(err)
	r.w.open("m:"+r.op+"ResponseMessage", "ResponseClass", "Error")
	r.w.elem("m:MessageText", messageText(code))
	r.w.elem("m:ResponseCode", code)
	r.w.elem("m:DescriptiveLinkKey", "0")
	r.w.empty("m:SyncState")
	if r.op == "SyncFolderItems" {
		r.w.elemBool("m:IncludesLastItemInRange", true)
	} else {
		r.w.elemBool("m:IncludesLastFolderInRange", true)
	}
	r.msgClose()
	r.respEnd()
}

// validFolderChangeKey reports whether ck is absent or has the form of a
// folder ChangeKey this server issues.
func validFolderChangeKey(ck string) bool {
	if ck == "" {
		return true
	}
	b, err := base64.StdEncoding.DecodeString(ck)
	return err == nil && len(b) == 24 && b[0] == 0x01
}

// folderRestrictionPath returns the value getter of the folder property a
// FindFolder search expression names.
func folderRestrictionPath(el *etree.Element) (getter[*folder], error) {
	for _, c := range el.ChildElements() {
		switch c.Tag {
		case "FieldURI":
			name, err := fieldName(attr(c, "FieldURI"))
			if err != nil {
				return nil, err
			}
			switch name {
			case "DisplayName":
				return func(f *folder) any { return f.name }, nil
			case "FolderClass":
				return func(f *folder) any { return f.class }, nil
			case "TotalCount":
				return func(f *folder) any { return int64(f.live) }, nil
			case "UnreadCount":
				return func(f *folder) any { return int64(f.unread) }, nil
			case "ChildFolderCount":
				return func(f *folder) any { return int64(len(f.children)) }, nil
			}
		case "ExtendedFieldURI":
			e, err := parseExtendedFieldURI(c)
			if err != nil {
				return nil, err
			}
			switch e.tag {
			case 0x10F4: // PR_ATTR_HIDDEN
				return func(f *folder) any { return f.hidden && f.dist != "root" }, nil
			case 0x670A: // PR_LOCAL_COMMIT_TIME_MAX
				return func(f *folder) any { return f.commitMax.UTC() }, nil
			case 0x670B: // PR_DELETED_COUNT_TOTAL
				return func(f *folder) any { return f.deleted }, nil
			case 0x3001: // PR_DISPLAY_NAME
				return func(f *folder) any { return f.name }, nil
			case 0x3613: // PR_CONTAINER_CLASS
				return func(f *folder) any { return f.class }, nil
			}
		case "IndexedFieldURI":
		default:
			continue
		}
		return nil, codeErr("ErrorUnsupportedPathForQuery", "The property path is not supported for folder queries by this server.")
	}
	return nil, schemaFault("%s needs a property path", el.Tag)
}

// compileFolderRestriction compiles a FindFolder search expression: And,
// Or, Not, Exists, the comparisons with a constant and Contains.
func compileFolderRestriction(el *etree.Element) (func(*folder) bool, error) {
	return compileExpr(el, folderRestrictionPath, &folder{})
}
