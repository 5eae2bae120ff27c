package ewstest

import "strconv"

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
	state, ok := r.syncState()
	if !ok {
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

// syncState returns the request's SyncState, or false after answering
// ErrorInvalidSyncStateData when Faults.InvalidSyncState asks for it.
func (r *request) syncState() (string, bool) {
	if r.s.faults.takeInvalidSync() {
		r.syncHierarchyError(ErrInvalidSyncState)
		return "", false
	}
	return textOf(childM(r.body, "SyncState")), true
}

func (r *request) syncHierarchyError(err error) {
	r.w = newXW()
	r.respBegin()
	code := ResponseCode(err)
	r.w.status("m:"+r.op+"ResponseMessage", "Error", messageText(code), code)
	r.w.empty("m:SyncState")
	if r.op == "SyncFolderItems" {
		r.w.elemBool("m:IncludesLastItemInRange", true)
	} else {
		r.w.elemBool("m:IncludesLastFolderInRange", true)
	}
	r.msgClose()
	r.respEnd()
}

func opSyncFolderItems(r *request) error {
	sh, err := parseShape(childM(r.body, "ItemShape"))
	if err != nil {
		return err
	}
	sh.pre2013 = !r.versionAtLeast("Exchange2013")
	sf := childM(r.body, "SyncFolderId")
	if sf == nil || len(sf.ChildElements()) != 1 {
		return schemaFault("SyncFolderId must hold one folder id")
	}
	mcr := childM(r.body, "MaxChangesReturned")
	if mcr == nil {
		return schemaFault("MaxChangesReturned is required")
	}
	maxChanges, err := strconv.Atoi(textOf(mcr))
	if err != nil || maxChanges < 1 || maxChanges > 512 {
		return schemaFault("MaxChangesReturned must be between 1 and 512")
	}
	if sc := childM(r.body, "SyncScope"); sc != nil {
		if !r.versionAtLeast("Exchange2010") {
			return schemaFault("SyncScope is not valid before Exchange2010 (RequestServerVersion %s)", r.version)
		}
		switch textOf(sc) {
		case "NormalItems", "NormalAndAssociatedItems":
		default:
			return schemaFault("the value %q is invalid for SyncScope", textOf(sc))
		}
	}
	var ignore map[string]bool
	if ig := childM(r.body, "Ignore"); ig != nil {
		ignore = map[string]bool{}
		for _, e := range childrenNS(ig, nsT, "ItemId") {
			ignore[attr(e, "Id")] = true
		}
	}
	m, key, err := r.resolveFolder(sf.ChildElements()[0])
	if f, ok := asFault(err); ok {
		return f
	}
	if err != nil {
		if ResponseCode(err) == "ErrorFolderNotFound" {
			err = codeErr("ErrorSyncFolderNotFound", "The specified folder could not be found in the store.")
		}
		r.syncHierarchyError(err)
		return nil
	}
	state, ok := r.syncState()
	if !ok {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(key)
	if err != nil {
		r.syncHierarchyError(codeErr("ErrorSyncFolderNotFound", "The specified folder could not be found in the store."))
		return nil
	}
	st, err := m.itemState(f, state)
	if err != nil {
		r.syncHierarchyError(err)
		return nil
	}
	changes, last := m.syncItemsLocked(f, st, ignore, maxChanges)
	r.respBegin()
	r.msgOK()
	r.w.elem("m:SyncState", st.encode())
	r.w.elemBool("m:IncludesLastItemInRange", last)
	r.writeItemChanges(m, changes, sh)
	r.msgClose()
	r.respEnd()
	return nil
}

// writeItemChanges renders m:Changes. Caller holds m.mu.
func (r *request) writeItemChanges(m *Mailbox, changes []itemChange, sh *shape) {
	// Size the buffer once: growing it copies the page again and again.
	per := 1600
	if sh.base == "IdOnly" && len(sh.props) == 0 && len(sh.ext) == 0 {
		per = 220
	}
	r.w.b.Grow(len(changes)*per + 1024)
	r.w.open("m:Changes")
	for _, c := range changes {
		switch c.kind {
		case changeDelete:
			r.w.open("t:Delete")
			r.w.empty("t:ItemId", "Id", c.it.id)
			r.w.close("t:Delete")
		case changeReadFlag:
			r.w.open("t:ReadFlagChange")
			m.writeItemID(r.w, "t:ItemId", c.it)
			r.w.elemBool("t:IsRead", c.it.msg.IsRead)
			r.w.close("t:ReadFlagChange")
		default:
			tag := "t:" + c.kind.String()
			r.w.open(tag)
			m.writeItem(r.w, c.it, sh, false)
			r.w.close(tag)
		}
	}
	r.w.close("m:Changes")
}
