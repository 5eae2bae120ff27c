package ewstest

import (
	"fmt"
	"slices"
)

// CopyFolder (Microsoft's "CopyFolder operation"; the EWS Managed API's
// Folder.Copy, Thunderbird's EWS client) copies each folder with its items
// and its subfolders under ToFolderId and answers the copy's FolderId.

func init() { registerOp("CopyFolder", opCopyFolder) }

// CopyFolder copies the folder, its items and its subfolders under the
// folder toParentID. Copying a folder into its own subtree gives
// ErrMoveIntoSubtree; a sibling with the same name, ErrFolderExists. The
// copies raise CreatedEvent (folders) and CopiedEvent (items).
func (m *Mailbox) CopyFolder(folderID, toParentID string) (FolderInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(folderID)
	if err != nil {
		return FolderInfo{}, err
	}
	to, err := m.lookupFolder(toParentID)
	if err != nil {
		return FolderInfo{}, err
	}
	cp, err := m.copyFolderLocked(f, to)
	if err != nil {
		return FolderInfo{}, err
	}
	return m.folderInfo(cp), nil
}

// copyFolderLocked copies f under to. Caller holds m.mu.
func (m *Mailbox) copyFolderLocked(f, to *folder) (*folder, error) {
	if f.isAncestorOf(to) {
		return nil, fmt.Errorf("%w", ErrMoveIntoSubtree)
	}
	cp, err := m.createFolderLocked(to, f.name, f.class)
	if err != nil {
		return nil, err
	}
	for _, it := range slices.Clone(f.entries) {
		if !it.deleted {
			m.copyLocked(it, cp)
		}
	}
	for _, c := range slices.Clone(f.children) {
		if _, err := m.copyFolderLocked(c, cp); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

func opCopyFolder(r *request) error {
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
			err = codeErr("ErrorMoveCopyFailed", "Folders cannot be copied between mailboxes.")
		}
		var cp *folder
		if err == nil {
			m.mu.Lock()
			var src, dst *folder
			if src, err = m.lookupFolder(key); err == nil {
				if dst, err = m.lookupFolder(tkey); err == nil {
					cp, err = m.copyFolderLocked(src, dst)
				}
			}
			if err != nil {
				m.mu.Unlock()
			}
		}
		if err != nil {
			r.msgError(err, "m:Folders")
			continue
		}
		r.msgOK()
		r.w.open("m:Folders")
		el := folderElement(cp.class)
		r.w.open(el)
		m.writeFolderID(r.w, "t:FolderId", cp)
		r.w.close(el)
		r.w.close("m:Folders")
		r.msgClose()
		m.mu.Unlock()
	}
	r.respEnd()
	return nil
}
