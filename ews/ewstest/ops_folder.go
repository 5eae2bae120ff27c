package ewstest

import (
	"encoding/base64"
	"errors"

	"github.com/beevik/etree"
)

func opGetFolder(r *request) error {
	sh, err := parseShape(childM(r.body, "FolderShape"))
	if err != nil {
		return err
	}
	ids, err := r.ids("FolderIds")
	if err != nil {
		return err
	}
	return r.eachFolder(ids, nil, []string{"m:Folders"}, func(m *Mailbox, f, _ *folder) error {
		r.msgOK()
		r.w.open("m:Folders")
		m.writeFolder(r.w, f, sh)
		r.w.close("m:Folders")
		r.msgClose()
		return nil
	})
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
	return each(r, fsEl.ChildElements(), []string{"m:Folders"}, func(fe *etree.Element) (*Fault, error) {
		class := textOf(childT(fe, "FolderClass"))
		var bad error
		switch {
		case fe.Tag == "SearchFolder":
			bad = codeErr("ErrorInvalidOperation", "Search folders are not supported by this server.")
		case class != "" && folderElements[fe.Tag] != "":
			// A typed folder element fixes the class ("Work with folders by
			// using EWS in Exchange": ErrorNoFolderClassOverride).
			bad = codeErr("ErrorNoFolderClassOverride", "The folder class cannot be overridden for this folder type.")
		case class == "":
			class = folderElements[fe.Tag]
		}
		return r.inFolder(pel.ChildElements()[0], precondition(bad), func(m *Mailbox, p, _ *folder) error {
			f, err := m.createFolderLocked(p, textOf(childT(fe, "DisplayName")), class)
			if err != nil {
				return err
			}
			if class == "" {
				// A generic t:Folder created without FolderClass has none
				// on Exchange (exchangelib's Folder(...).save() then
				// refresh() relies on it: an IPF.Note folder comes back as
				// Messages).
				f.class = ""
			}
			r.msgFolderID(m, f)
			return nil
		})
	})
}

func opUpdateFolder(r *request) error {
	chs := childM(r.body, "FolderChanges")
	if chs == nil || len(chs.ChildElements()) == 0 {
		return schemaFault("FolderChanges must hold at least one FolderChange")
	}
	return each(r, chs.ChildElements(), []string{"m:Folders"}, func(ch *etree.Element) (*Fault, error) {
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
			return schemaFault("FolderChange needs a folder id and Updates"), nil
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
				return schemaFault("%s needs a FieldURI", u.Tag), nil
			}
			name, err := fieldName(attr(uri, "FieldURI"))
			if err != nil {
				return toFault(err), nil
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
				return schemaFault("SetFolderField for DisplayName needs a folder element with DisplayName"), nil
			}
			s := textOf(val)
			newName = &s
		}
		var bad error
		if !validFolderChangeKey(attr(idEl, "ChangeKey")) {
			// Microsoft's UpdateFolder reference: an invalid ChangeKey
			// gives ErrorInvalidChangeKey.
			bad = codeErr("ErrorInvalidChangeKey", "The change key is invalid.")
		}
		return r.inFolder(idEl, precondition(bad), func(m *Mailbox, f, _ *folder) error {
			if newName != nil {
				if err := m.renameFolderLocked(f, *newName); err != nil {
					return err
				}
			}
			r.msgFolderID(m, f)
			return nil
		})
	})
}

func opDeleteFolder(r *request) error {
	mode, ok := parseDeleteMode(attr(r.body, "DeleteType"))
	if !ok {
		return schemaFault("the DeleteType attribute is missing or invalid")
	}
	ids, err := r.ids("FolderIds")
	if err != nil {
		return err
	}
	return each(r, ids, nil, func(el *etree.Element) (*Fault, error) {
		fault, err := r.inFolder(el, nil, func(m *Mailbox, f, _ *folder) error {
			if err := m.deleteFolderLocked(f, mode); err != nil {
				return err
			}
			r.msgDone()
			return nil
		})
		if ResponseCode(err) == "ErrorFolderNotFound" {
			// Microsoft's DeleteFolder reference shows ErrorItemNotFound
			// for a folder that is not in the mailbox.
			err = codeErr("ErrorItemNotFound", "The specified object was not found in the store.")
		}
		return fault, err
	})
}

func opMoveFolder(r *request) error {
	return moveCopyFolder(r, "Folders cannot be moved between mailboxes.", func(m *Mailbox, f, to *folder) (*folder, error) {
		err := m.moveFolderLocked(f, to)
		if errors.Is(err, ErrDistinguishedFolder) {
			err = codeErr("ErrorMoveDistinguishedFolder", "Cannot move distinguished folder.")
		}
		return f, err
	})
}

// moveCopyFolder serves MoveFolder and CopyFolder: do moves or copies a
// folder and returns the folder to answer with.
func moveCopyFolder(r *request, cross string, do func(m *Mailbox, f, to *folder) (*folder, error)) error {
	to, ids, err := r.dest("FolderIds", cross)
	if err != nil {
		return err
	}
	return r.eachFolder(ids, to, []string{"m:Folders"}, func(m *Mailbox, f, to *folder) error {
		res, err := do(m, f, to)
		if err != nil {
			return err
		}
		r.msgFolderID(m, res)
		return nil
	})
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

func opCopyFolder(r *request) error {
	return moveCopyFolder(r, "Folders cannot be copied between mailboxes.", (*Mailbox).copyFolderLocked)
}

// opMarkAllItemsAsRead sets the read flag of all items in each folder
// (Exchange 2013+).
func opMarkAllItemsAsRead(r *request) error {
	if !r.versionAtLeast("Exchange2013") {
		return schemaFault("MarkAllItemsAsRead is not valid before Exchange2013 (RequestServerVersion %s)", r.version)
	}
	rf := childM(r.body, "ReadFlag")
	if rf == nil {
		return schemaFault("ReadFlag is required")
	}
	read, err := parseBool(textOf(rf))
	if err != nil {
		return err
	}
	if srr := childM(r.body, "SuppressReadReceipts"); srr != nil {
		if _, err := parseBool(textOf(srr)); err != nil {
			return err
		}
	}
	ids, err := r.ids("FolderIds")
	if err != nil {
		return err
	}
	return r.eachFolder(ids, nil, nil, func(m *Mailbox, f, _ *folder) error {
		m.markAllReadLocked(f, read)
		r.msgDone()
		return nil
	})
}

// opEmptyFolder deletes the items (and optionally the subfolders) of each
// folder. As on Exchange, emptying a search folder or the root of the
// message store is refused.
func opEmptyFolder(r *request) error {
	mode, ok := parseDeleteMode(attr(r.body, "DeleteType"))
	if !ok {
		return schemaFault("the DeleteType attribute is missing or invalid")
	}
	sub, err := r.boolAttr("DeleteSubFolders")
	if err != nil {
		return err
	}
	ids, err := r.ids("FolderIds")
	if err != nil {
		return err
	}
	return r.eachFolder(ids, nil, nil, func(m *Mailbox, f, _ *folder) error {
		switch f.dist {
		case "root", "msgfolderroot", "searchfolders", "recoverableitemsroot":
			return codeErr("ErrorCannotEmptyFolder", "The folder cannot be emptied.")
		}
		if _, err := m.emptyFolderLocked(f, mode, sub); err != nil {
			return err
		}
		r.msgDone()
		return nil
	})
}
