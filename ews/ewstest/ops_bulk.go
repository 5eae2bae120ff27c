package ewstest

func init() {
	registerOp("MarkAllItemsAsRead", opMarkAllItemsAsRead)
	registerOp("EmptyFolder", opEmptyFolder)
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
	ids, err := folderIDList(childM(r.body, "FolderIds"), "FolderIds")
	if err != nil {
		return err
	}
	r.respBegin()
	for _, el := range ids {
		m, key, err := r.resolveFolder(el)
		if f, ok := asFault(err); ok {
			return f
		}
		if err == nil {
			_, err = m.MarkAllRead(key, read)
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

// opEmptyFolder deletes the items (and optionally the subfolders) of each
// folder. As on Exchange, emptying a search folder or the root of the
// message store is refused.
func opEmptyFolder(r *request) error {
	mode, ok := parseDeleteMode(attr(r.body, "DeleteType"))
	if !ok {
		return schemaFault("the DeleteType attribute is missing or invalid")
	}
	sub, err := parseBool(attr(r.body, "DeleteSubFolders"))
	if err != nil {
		return schemaFault("the DeleteSubFolders attribute is missing or invalid")
	}
	ids, err := folderIDList(childM(r.body, "FolderIds"), "FolderIds")
	if err != nil {
		return err
	}
	r.respBegin()
	for _, el := range ids {
		fault, err := r.inFolder(el, func(m *Mailbox, f *folder) error {
			switch f.dist {
			case "root", "msgfolderroot", "searchfolders", "recoverableitemsroot":
				return codeErr("ErrorCannotEmptyFolder", "The folder cannot be emptied.")
			}
			_, err := m.emptyFolderLocked(f, mode, sub)
			return err
		})
		if fault != nil {
			return fault
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
