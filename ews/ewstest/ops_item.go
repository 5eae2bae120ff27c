package ewstest

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
)

func opGetItem(r *request) error {
	sh, err := parseShape(childM(r.body, "ItemShape"))
	if err != nil {
		return err
	}
	sh.pre2013 = !r.versionAtLeast("Exchange2013")
	ids, err := r.ids("ItemIds")
	if err != nil {
		return err
	}
	return r.eachItem(ids, nil, []string{"m:Items"}, func(m *Mailbox, it *item, _ *folder) error {
		r.msgOK()
		r.w.open("m:Items")
		m.writeItem(r.w, it, sh, true)
		r.w.close("m:Items")
		r.msgClose()
		return nil
	})
}

// Item payload parsing (CreateItem, UpdateItem).

func opCreateItem(r *request) error {
	disp := attr(r.body, "MessageDisposition")
	switch disp {
	case "", "SaveOnly", "SendOnly", "SendAndSaveCopy":
	default:
		return schemaFault("the MessageDisposition attribute is invalid")
	}
	itemsEl := childM(r.body, "Items")
	if itemsEl == nil || len(itemsEl.ChildElements()) == 0 {
		return schemaFault("Items must hold at least one item")
	}
	target, targetKey, err := r.savedItemFolder()
	if f, ok := asFault(err); ok {
		return f
	}
	if err != nil {
		return each(r, itemsEl.ChildElements(), []string{"m:Items"}, func(*etree.Element) (*Fault, error) { return nil, err })
	}
	if target == nil {
		target = r.mb
	}
	type parsed struct {
		msg Message
		err error
	}
	var items []parsed
	for _, el := range itemsEl.ChildElements() {
		if _, ok := responseObjects[el.Tag]; ok && el.NamespaceURI() == nsT {
			if disp == "" {
				return codeErr("ErrorMessageDispositionRequired", "MessageDisposition is required for messages.")
			}
			msg, err := r.responseMessage(el) // ops_respond.go
			if f, ok := asFault(err); ok {
				return f
			}
			items = append(items, parsed{msg, err})
			continue
		}
		if !itemElements[el.Tag] || el.NamespaceURI() != nsT {
			return schemaFault("unexpected element %s in Items", el.Tag)
		}
		// Without IsRead a created item is unread: MAPI's initial
		// PR_MESSAGE_FLAGS are MSGFLAG_UNSENT|MSGFLAG_UNMODIFIED, without
		// MSGFLAG_READ (what EWS itself does is not documented).
		msg, _, err := parseItemPayload(el)
		if f, ok := asFault(err); ok {
			return f
		}
		if el.Tag == "Message" && disp == "" {
			return codeErr("ErrorMessageDispositionRequired", "MessageDisposition is required for messages.")
		}
		items = append(items, parsed{msg, err})
	}
	r.respBegin()
	for _, p := range items {
		if p.err != nil {
			r.msgError(p.err, "m:Items")
			continue
		}
		msg := p.msg
		if msg.From.Email == "" && disp != "SaveOnly" && disp != "" {
			msg.From = Address{Name: target.user, Email: target.address}
		}
		if disp == "SaveOnly" || disp == "" {
			key := targetKey
			if key == "" {
				key = "drafts"
			}
			// A PR_MESSAGE_FLAGS given at creation decides read and draft
			// state (DavMail's IMAP APPEND relies on it).
			if !msg.applyCreateFlags() {
				msg.IsDraft = true
			}
			fid, err := target.FolderID(key)
			if err != nil {
				r.msgError(err, "m:Items")
				continue
			}
			info, err := target.create(fid, msg, false)
			if err != nil {
				r.msgError(err, "m:Items")
				continue
			}
			r.msgOK()
			r.w.open("m:Items")
			r.w.open(itemElement(info.Message.ItemClass))
			r.w.empty("t:ItemId", "Id", info.ID, "ChangeKey", info.ChangeKey)
			r.w.close(itemElement(info.Message.ItemClass))
			r.w.close("m:Items")
			r.msgClose()
			continue
		}
		// Sending as another account needs the Send As right, which nobody
		// has here: Microsoft's CreateItem (email message) error example.
		if msg.From.Email != "" && !strings.EqualFold(msg.From.Email, r.mb.address) {
			r.msgError(codeErr("ErrorSendAsDenied", "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account."), "m:Items")
			continue
		}
		// Send: deliver to local recipients, keep a copy if asked.
		if disp == "SendAndSaveCopy" {
			key := targetKey
			if key == "" {
				key = "sentitems"
			}
			cp := msg
			cp.IsRead = true
			if _, err := target.create(key, cp, false); err != nil {
				r.msgError(err, "m:Items")
				continue
			}
		}
		msg.IsRead = false
		for _, rcpt := range slices.Concat(msg.To, msg.Cc, msg.Bcc) {
			if rm := r.s.Mailbox(rcpt.Email); rm != nil {
				in := msg
				in.Bcc = nil
				in.DateTimeReceived = time.Time{}
				rm.Deliver("inbox", in)
			}
		}
		r.msgOK()
		r.w.empty("m:Items")
		r.msgClose()
	}
	r.respEnd()
	return nil
}

func opUpdateItem(r *request) error {
	conflict := attr(r.body, "ConflictResolution")
	switch conflict {
	case "":
		conflict = "AutoResolve"
	case "NeverOverwrite", "AutoResolve", "AlwaysOverwrite":
	default:
		return schemaFault("the ConflictResolution attribute is invalid")
	}
	chs := childM(r.body, "ItemChanges")
	if chs == nil || len(chs.ChildElements()) == 0 {
		return schemaFault("ItemChanges must hold at least one ItemChange")
	}
	type change struct {
		idEl *etree.Element
		u    ItemUpdate
		bag  map[string]*etree.Element // calendar.go
	}
	var list []change
	for _, ch := range chs.ChildElements() {
		var c change
		var upd *etree.Element
		for _, e := range ch.ChildElements() {
			switch e.Tag {
			case "ItemId", "OccurrenceItemId", "RecurringMasterItemId":
				c.idEl = e
			case "Updates":
				upd = e
			}
		}
		if c.idEl == nil || upd == nil {
			return schemaFault("ItemChange needs an item id and Updates")
		}
		c.u.ChangeKey = attr(c.idEl, "ChangeKey")
		c.u.Overwrite = conflict == "AlwaysOverwrite"
		for _, u := range upd.ChildElements() {
			var path *etree.Element
			var payload *etree.Element
			for _, e := range u.ChildElements() {
				switch {
				case e.Tag == "FieldURI" || e.Tag == "IndexedFieldURI" || e.Tag == "ExtendedFieldURI":
					path = e
				case itemElements[e.Tag]:
					payload = e
				}
			}
			if path == nil {
				return schemaFault("%s needs a property path", u.Tag)
			}
			if path.Tag == "ExtendedFieldURI" {
				if err := extUpdate(&c.u, u, path, payload); err != nil {
					return toFault(err)
				}
				continue
			}
			if path.Tag != "FieldURI" {
				continue // indexed properties are accepted and not stored
			}
			name, err := fieldName(attr(path, "FieldURI"))
			if err != nil {
				return err
			}
			switch u.Tag {
			case "SetItemField", "AppendToItemField":
				if payload == nil {
					return schemaFault("%s needs an item element", u.Tag)
				}
				msg, set, err := parseItemPayload(payload)
				if err != nil {
					return toFault(err)
				}
				applySet(&c.u, name, msg, set)
				if e := bagField(payload, name); e != nil {
					if c.bag == nil {
						c.bag = map[string]*etree.Element{}
					}
					c.bag[name] = e
				}
				if u.Tag == "AppendToItemField" && name == "Body" && c.u.Body != nil {
					// AppendToItemField adds to the body (Microsoft's
					// UpdateItem reference).
					c.u.AppendBody = true
				}
			case "DeleteItemField":
				applyDelete(&c.u, name)
				if isBagField(name) {
					if c.bag == nil {
						c.bag = map[string]*etree.Element{}
					}
					c.bag[name] = nil
				}
			default:
				return schemaFault("unexpected element %s in Updates", u.Tag)
			}
		}
		list = append(list, c)
	}
	return each(r, list, []string{"m:Items"}, func(c change) (*Fault, error) {
		var bad error
		if !validItemChangeKey(c.u.ChangeKey) {
			// A ChangeKey that is not one at all is ErrorInvalidChangeKey;
			// a well-formed but stale one is a conflict.
			bad = codeErr("ErrorInvalidChangeKey", "The change key is invalid.")
		}
		return r.inItem(c.idEl, precondition(bad), func(m *Mailbox, it *item, _ *folder) error {
			if err := m.updateLocked(it, c.u); err != nil {
				return err
			}
			if err := m.updateBagLocked(it, c.bag); err != nil {
				return err
			}
			r.msgOK()
			r.w.open("m:Items")
			el := itemElement(it.msg.ItemClass)
			r.w.open(el)
			m.writeItemID(r.w, "t:ItemId", it)
			r.w.close(el)
			r.w.close("m:Items")
			r.w.open("m:ConflictResults")
			r.w.elem("t:Count", "0")
			r.w.close("m:ConflictResults")
			r.msgClose()
			return nil
		})
	})
}

// validItemChangeKey reports whether ck is absent or has the form of an
// item ChangeKey this server issues.
func validItemChangeKey(ck string) bool {
	if ck == "" {
		return true
	}
	b, err := base64.StdEncoding.DecodeString(ck)
	return err == nil && len(b) == 24 && b[0] == 0x09
}

func applySet(u *ItemUpdate, name string, msg Message, set map[string]bool) {
	if name == "Categories" {
		u.Categories = ptr(msg.Categories)
		return
	}
	if !set[name] {
		return
	}
	switch name {
	case "IsRead":
		u.IsRead = ptr(msg.IsRead)
	case "Subject":
		u.Subject = ptr(msg.Subject)
	case "Flag":
		u.FlagStatus = ptr(msg.FlagStatus)
	case "Importance":
		u.Importance = ptr(msg.Importance)
	case "Sensitivity":
		u.Sensitivity = ptr(msg.Sensitivity)
	case "Body":
		u.Body = ptr(msg.Body)
	}
}

func applyDelete(u *ItemUpdate, name string) {
	switch name {
	case "Categories":
		u.Categories = ptr([]string{})
	case "Flag":
		u.FlagStatus = ptr(FlagNotFlagged)
	case "Subject":
		u.Subject = ptr("")
	case "Body":
		u.Body = ptr("")
	}
}

func ptr[T any](v T) *T { return &v }

func opDeleteItem(r *request) error {
	mode, ok := parseDeleteMode(attr(r.body, "DeleteType"))
	if !ok {
		return schemaFault("the DeleteType attribute is missing or invalid")
	}
	ids, err := r.ids("ItemIds")
	if err != nil {
		return err
	}
	return r.eachItem(ids, nil, nil, func(m *Mailbox, it *item, _ *folder) error {
		if err := m.deleteLocked(it, mode); err != nil {
			return err
		}
		r.msgDone()
		return nil
	})
}

func opMoveItem(r *request) error {
	return moveCopyItem(r, func(m *Mailbox, it *item, to *folder) *item { return m.moveLocked(it, to, false) })
}

func opCopyItem(r *request) error { return moveCopyItem(r, (*Mailbox).copyLocked) }

// moveCopyItem serves MoveItem and CopyItem: do moves or copies an item
// and returns the item to answer with.
func moveCopyItem(r *request, do func(m *Mailbox, it *item, to *folder) *item) error {
	to, ids, err := r.dest("ItemIds", "Items cannot be moved or copied between mailboxes by this server.")
	if err != nil {
		return err
	}
	// ReturnNewItemIds (Exchange 2010 SP1+) is an element of MoveItem and
	// CopyItem; true when absent.
	returnIDs := true
	if e := childM(r.body, "ReturnNewItemIds"); e != nil {
		if returnIDs, err = parseBool(textOf(e)); err != nil {
			return err
		}
	}
	return r.eachItem(ids, to, []string{"m:Items"}, func(m *Mailbox, it *item, to *folder) error {
		res := do(m, it, to)
		if !returnIDs {
			r.msgOK()
			r.w.empty("m:Items")
			r.msgClose()
			return nil
		}
		r.msgItemID(res.msg.ItemClass, res.id, m.changeKey(false, res.keyCN()))
		return nil
	})
}

// opSendItem sends saved drafts.
func opSendItem(r *request) error {
	save, err := r.boolAttr("SaveItemToFolder")
	if err != nil {
		return err
	}
	ids, err := r.ids("ItemIds")
	if err != nil {
		return err
	}
	saveMB, saveTo, err := r.savedItemFolder()
	if err != nil {
		return toFault(err)
	}
	// Not inItem: SendItem delivers to the recipients, this mailbox
	// included, after unlocking the sender's.
	return each(r, ids, nil, func(el *etree.Element) (*Fault, error) {
		m, id, err := r.resolveItem(el)
		if f, ok := asFault(err); ok {
			return f, nil
		}
		if err == nil && saveMB != nil && saveMB != m {
			err = codeErr("ErrorInvalidRequest", "The sent item can only be saved in its own mailbox.")
		}
		if err == nil {
			_, err = m.SendItem(id, saveTo, save)
			if errors.Is(err, ErrInvalidArgument) {
				err = codeErr("ErrorInvalidRequest", "Only draft items can be sent.")
			}
		}
		if err == nil {
			r.msgDone()
		}
		return nil, err
	})
}

// opArchiveItem answers as Exchange does for a mailbox without an archive
// mailbox: every item fails with ErrorArchiveMailboxNotEnabled.
func opArchiveItem(r *request) error {
	if childM(r.body, "ArchiveSourceFolderId") == nil {
		return schemaFault("ArchiveItem needs ArchiveSourceFolderId")
	}
	ids, err := r.ids("ItemIds")
	if err != nil {
		return err
	}
	return each(r, ids, []string{"m:Items"}, func(*etree.Element) (*Fault, error) {
		return nil, codeErr("ErrorArchiveMailboxNotEnabled", "The archive mailbox is not enabled for this user.")
	})
}

// opMarkAsJunk marks items as junk or not junk; with MoveItem it moves
// them to Junk Email (IsJunk true) or the Inbox (false) and returns the
// moved item's new id. The fake keeps no blocked-senders list.
func opMarkAsJunk(r *request) error {
	isJunk, err := r.boolAttr("IsJunk")
	if err != nil {
		return err
	}
	move, err := r.boolAttr("MoveItem")
	if err != nil {
		return err
	}
	ids, err := r.ids("ItemIds")
	if err != nil {
		return err
	}
	toKey := "inbox"
	if isJunk {
		toKey = "junkemail"
	}
	return r.eachItem(ids, nil, nil, func(m *Mailbox, it *item, _ *folder) error {
		if !move {
			r.msgDone()
			return nil
		}
		to, err := m.lookupFolder(toKey)
		if err != nil {
			return err
		}
		moved := m.moveLocked(it, to, false)
		r.msgOK()
		m.writeItemID(r.w, "m:MovedItemId", moved)
		r.msgClose()
		return nil
	})
}
