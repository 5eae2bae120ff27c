package ewstest

import (
	"encoding/base64"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

func init() {
	registerOp("GetItem", opGetItem)
	registerOp("FindItem", opFindItem)
	registerOp("CreateItem", opCreateItem)
	registerOp("UpdateItem", opUpdateItem)
	registerOp("DeleteItem", opDeleteItem)
	registerOp("MoveItem", func(r *request) error { return opMoveCopyItem(r, false) })
	registerOp("CopyItem", func(r *request) error { return opMoveCopyItem(r, true) })
	registerOp("SyncFolderItems", opSyncFolderItems)
}

func itemIDList(el *etree.Element, name string) ([]*etree.Element, error) {
	if el == nil {
		return nil, schemaFault("the required element %s is missing", name)
	}
	ids := el.ChildElements()
	if len(ids) == 0 {
		return nil, schemaFault("the element %s has no ids", name)
	}
	return ids, nil
}

func opGetItem(r *request) error {
	sh, err := parseShape(childM(r.body, "ItemShape"))
	if err != nil {
		return err
	}
	sh.pre2013 = !r.versionAtLeast("Exchange2013")
	ids, err := itemIDList(childM(r.body, "ItemIds"), "ItemIds")
	if err != nil {
		return err
	}
	r.respBegin()
	for _, el := range ids {
		m, id, err := r.resolveItem(el)
		if f, ok := asFault(err); ok {
			return f
		}
		if err != nil {
			r.msgError(err, "m:Items")
			continue
		}
		m.mu.Lock()
		it, err := m.lookupItem(id)
		if err != nil {
			m.mu.Unlock()
			r.msgError(err, "m:Items")
			continue
		}
		r.msgOK()
		r.w.open("m:Items")
		m.writeItem(r.w, it, sh, true)
		r.w.close("m:Items")
		r.msgClose()
		m.mu.Unlock()
	}
	r.respEnd()
	return nil
}

// Exchange's default EWSFindCountLimit, and the lower limit for restricted
// (and AQS) searches on Exchange 2013+ and Online.
const (
	findCountLimit           = 1000
	findCountLimitRestricted = 250
)

func opFindItem(r *request) error {
	trav := attr(r.body, "Traversal")
	switch trav {
	case "Shallow", "SoftDeleted", "Associated":
	default:
		return schemaFault("the Traversal attribute is missing or invalid")
	}
	sh, err := parseShape(childM(r.body, "ItemShape"))
	if err != nil {
		return err
	}
	sh.pre2013 = !r.versionAtLeast("Exchange2013")
	var view pageView
	var frac *fractionalView
	var calView *calendarView
	var contactsView *contactsViewSpec
	var grp *grouping
	var pred itemPred
	var keys []sortKey
	for _, c := range r.body.ChildElements() {
		switch c.Tag {
		case "IndexedPageItemView", "SeekToConditionPageItemView":
			if view, err = parsePageView(c); err != nil {
				return err
			}
		case "FractionalPageItemView":
			fv, err := parseFractionalView(c)
			if err != nil {
				return toFault(err)
			}
			frac = &fv
		case "GroupBy", "DistinguishedGroupBy":
			if grp, err = parseGroupBy(c); err != nil {
				return toFault(err)
			}
		case "CalendarView":
			if calView, err = parseCalendarView(c); err != nil {
				return toFault(err)
			}
		case "ContactsView":
			if contactsView, err = parseContactsView(c); err != nil {
				return toFault(err)
			}
		case "QueryString":
			if pred != nil {
				return schemaFault("Restriction and QueryString cannot both be given")
			}
			if pred, err = compileAQS(textOf(c), r.s.now()); err != nil {
				return toFault(err)
			}
		case "Restriction":
			cs := c.ChildElements()
			if len(cs) != 1 {
				return schemaFault("Restriction needs one expression")
			}
			if pred != nil {
				return schemaFault("Restriction and QueryString cannot both be given")
			}
			if pred, err = compileRestriction(cs[0]); err != nil {
				return toFault(err)
			}
		case "SortOrder":
			if keys, err = parseSortOrder(c); err != nil {
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
		fault, err := r.inFolder(el, func(m *Mailbox, f *folder) error {
			var list []*item
			if trav == "Shallow" {
				list = make([]*item, 0, f.live)
				for i := len(f.entries) - 1; i >= 0; i-- {
					if it := f.entries[i]; !it.deleted && (pred == nil || pred(it)) {
						list = append(list, it)
					}
				}
			}
			if len(keys) == 0 {
				sort.SliceStable(list, func(i, j int) bool {
					return list[i].msg.DateTimeReceived.After(list[j].msg.DateTimeReceived)
				})
			} else {
				sort.SliceStable(list, func(i, j int) bool {
					for _, k := range keys {
						c := less(k.get(list[i]), k.get(list[j]))
						if k.desc {
							c = -c
						}
						if c != 0 {
							return c < 0
						}
					}
					return false
				})
			}
			// EWSFindCountLimit: at most 1000 rows per FindItem (250 with a
			// restriction, as on Exchange 2013+); the client pages on.
			limit := findCountLimit
			if pred != nil {
				limit = findCountLimitRestricted
			}
			if contactsView != nil {
				list = contactsView.apply(list)
				if contactsView.max > 0 && contactsView.max < limit {
					limit = contactsView.max
				}
			}
			if calView != nil {
				list = calView.apply(list)
				limit = len(list)
				if calView.max > 0 && calView.max < limit {
					limit = calView.max
				}
			}
			var groups []*itemGroup
			if grp != nil {
				groups = grp.group(list)
				list = flatten(groups)
			}
			v := view
			if v.max == 0 || v.max > limit {
				v.max = limit
			}
			lo, hi, next := v.window(len(list))
			pagingAttrs := []string{"IndexedPagingOffset", strconv.Itoa(next)}
			last := hi == len(list) && !v.fromEnd || v.fromEnd && lo == 0
			if frac != nil {
				lo, hi = frac.window(len(list), limit)
				pagingAttrs = []string{"NumeratorOffset", strconv.Itoa(hi), "AbsoluteDenominator", strconv.Itoa(len(list))}
				last = hi == len(list)
			}
			if calView != nil {
				pagingAttrs = nil
				lo, hi, last = 0, limit, limit == len(list)
			}
			r.msgOK()
			r.w.open("m:RootFolder", append(pagingAttrs, "TotalItemsInView", strconv.Itoa(len(list)),
				"IncludesLastItemInRange", strconv.FormatBool(last))...)
			r.w.b.Grow((hi - lo) * 1600)
			if groups != nil {
				m.writeGroups(r.w, groups, lo, hi, sh)
			} else {
				r.w.open("t:Items")
				for _, it := range list[lo:hi] {
					m.writeItem(r.w, it, sh, false)
				}
				r.w.close("t:Items")
			}
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

// Item payload parsing (CreateItem, UpdateItem).

var itemElements = map[string]bool{"Message": true, "Item": true, "PostItem": true, "MeetingRequest": true,
	"CalendarItem": true, "Contact": true, "Task": true, "DistributionList": true, "MeetingMessage": true,
	"MeetingResponse": true, "MeetingCancellation": true}

func parseMailboxEl(el *etree.Element) Address {
	mb := childT(el, "Mailbox")
	if mb == nil {
		mb = el
	}
	return Address{Name: textOf(childT(mb, "Name")), Email: textOf(childT(mb, "EmailAddress"))}
}

func parseRecipients(el *etree.Element) []Address {
	var out []Address
	for _, mb := range childrenNS(el, nsT, "Mailbox") {
		out = append(out, parseMailboxEl(mb))
	}
	return out
}

func parseStrings(el *etree.Element) []string {
	var out []string
	for _, s := range childrenNS(el, nsT, "String") {
		out = append(out, textOf(s))
	}
	return out
}

// parseItemPayload reads a t:Message (or other item element) into a
// Message; set lists the property names present.
func parseItemPayload(el *etree.Element) (Message, map[string]bool, error) {
	var msg Message
	set := map[string]bool{}
	if mc := childT(el, "MimeContent"); mc != nil {
		raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(mc.Text()), ""))
		if err != nil {
			return msg, nil, codeErr("ErrorMimeContentInvalidBase64String", "The MIME content is not a valid Base64 string.")
		}
		if msg, err = parseMIME(raw); err != nil {
			return msg, nil, codeErr("ErrorMimeContentConversionFailed", "The MIME content could not be converted.")
		}
		set["MimeContent"] = true
	}
	for _, c := range el.ChildElements() {
		set[c.Tag] = true
		switch c.Tag {
		case "ItemClass":
			msg.ItemClass = textOf(c)
		case "Subject":
			msg.Subject = c.Text()
		case "Sensitivity":
			msg.Sensitivity = textOf(c)
			switch msg.Sensitivity {
			case "Normal", "Personal", "Private", "Confidential":
			default:
				return msg, nil, schemaFault("the value %q is invalid for Sensitivity", msg.Sensitivity)
			}
		case "Body":
			if err := textOnly(c); err != nil {
				return msg, nil, err
			}
			msg.Body = c.Text()
			msg.BodyType = attr(c, "BodyType")
			if msg.BodyType != "HTML" && msg.BodyType != "Text" {
				return msg, nil, schemaFault("the BodyType attribute is missing or invalid")
			}
		case "Categories":
			msg.Categories = parseStrings(c)
		case "Importance":
			msg.Importance = textOf(c)
			if msg.Importance != "Low" && msg.Importance != "Normal" && msg.Importance != "High" {
				return msg, nil, schemaFault("the value %q is invalid for Importance", msg.Importance)
			}
		case "IsRead":
			v, err := parseBool(textOf(c))
			if err != nil {
				return msg, nil, err
			}
			msg.IsRead = v
		case "From":
			msg.From = parseMailboxEl(c)
		case "Sender":
			msg.Sender = parseMailboxEl(c)
		case "ToRecipients":
			msg.To = parseRecipients(c)
		case "CcRecipients":
			msg.Cc = parseRecipients(c)
		case "BccRecipients":
			msg.Bcc = parseRecipients(c)
		case "InternetMessageId":
			msg.InternetMessageID = textOf(c)
		case "Flag":
			msg.FlagStatus = textOf(childT(c, "FlagStatus"))
			switch msg.FlagStatus {
			case FlagNotFlagged, FlagFlagged, FlagComplete:
			default:
				return msg, nil, schemaFault("the value %q is invalid for FlagStatus", msg.FlagStatus)
			}
		case "DateTimeSent", "DateTimeReceived":
			// Read-only on Exchange for new items; ignored.
		case "ExtendedProperty":
			e, v, err := parseExtendedProperty(c)
			if err != nil {
				return msg, nil, err
			}
			key, err := extKey(e)
			if err != nil {
				return msg, nil, err
			}
			msg.setExt(key, v)
		}
	}
	if err := parseBag(&msg, el); err != nil { // calendar.go
		return msg, nil, err
	}
	return msg, set, nil
}

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
	target, targetKey := r.mb, ""
	if sf := childM(r.body, "SavedItemFolderId"); sf != nil {
		if len(sf.ChildElements()) != 1 {
			return schemaFault("SavedItemFolderId must hold one folder id")
		}
		m, key, err := r.resolveFolder(sf.ChildElements()[0])
		if f, ok := asFault(err); ok {
			return f
		}
		if err != nil {
			r.respBegin()
			for range itemsEl.ChildElements() {
				r.msgError(err, "m:Items")
			}
			r.respEnd()
			return nil
		}
		target, targetKey = m, key
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
			target.mu.Lock()
			f, err := target.lookupFolder(key)
			if err != nil {
				target.mu.Unlock()
				r.msgError(err, "m:Items")
				continue
			}
			target.mu.Unlock()
			info, err := target.create(f.id, msg, false)
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
	r.respBegin()
	for _, c := range list {
		m, id, err := r.resolveItem(c.idEl)
		if f, ok := asFault(err); ok {
			return f
		}
		if err == nil && !validItemChangeKey(c.u.ChangeKey) {
			// A ChangeKey that is not one at all is ErrorInvalidChangeKey;
			// a well-formed but stale one is a conflict.
			err = codeErr("ErrorInvalidChangeKey", "The change key is invalid.")
		}
		if err != nil {
			r.msgError(err, "m:Items")
			continue
		}
		m.mu.Lock()
		it, err := m.lookupItem(id)
		if err == nil {
			err = m.updateLocked(it, c.u)
		}
		if err == nil {
			err = m.updateBagLocked(it, c.bag)
		}
		if err != nil {
			m.mu.Unlock()
			r.msgError(err, "m:Items")
			continue
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
		m.mu.Unlock()
	}
	r.respEnd()
	return nil
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
	switch name {
	case "IsRead":
		if set["IsRead"] {
			v := msg.IsRead
			u.IsRead = &v
		}
	case "Subject":
		if set["Subject"] {
			v := msg.Subject
			u.Subject = &v
		}
	case "Categories":
		v := msg.Categories
		u.Categories = &v
	case "Flag":
		if set["Flag"] {
			v := msg.FlagStatus
			u.FlagStatus = &v
		}
	case "Importance":
		if set["Importance"] {
			v := msg.Importance
			u.Importance = &v
		}
	case "Sensitivity":
		if set["Sensitivity"] {
			v := msg.Sensitivity
			u.Sensitivity = &v
		}
	case "Body":
		if set["Body"] {
			v := msg.Body
			u.Body = &v
		}
	}
}

func applyDelete(u *ItemUpdate, name string) {
	switch name {
	case "Categories":
		v := []string{}
		u.Categories = &v
	case "Flag":
		v := FlagNotFlagged
		u.FlagStatus = &v
	case "Subject":
		v := ""
		u.Subject = &v
	case "Body":
		v := ""
		u.Body = &v
	}
}

func opDeleteItem(r *request) error {
	mode, ok := parseDeleteMode(attr(r.body, "DeleteType"))
	if !ok {
		return schemaFault("the DeleteType attribute is missing or invalid")
	}
	ids, err := itemIDList(childM(r.body, "ItemIds"), "ItemIds")
	if err != nil {
		return err
	}
	r.respBegin()
	for _, el := range ids {
		m, id, err := r.resolveItem(el)
		if f, ok := asFault(err); ok {
			return f
		}
		if err == nil {
			err = m.DeleteItem(id, mode)
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

func opMoveCopyItem(r *request, copyItem bool) error {
	to := childM(r.body, "ToFolderId")
	if to == nil || len(to.ChildElements()) != 1 {
		return schemaFault("ToFolderId must hold one folder id")
	}
	ids, err := itemIDList(childM(r.body, "ItemIds"), "ItemIds")
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
	tm, tkey, terr := r.resolveFolder(to.ChildElements()[0])
	if f, ok := asFault(terr); ok {
		return f
	}
	r.respBegin()
	for _, el := range ids {
		m, id, err := r.resolveItem(el)
		if f, ok := asFault(err); ok {
			return f
		}
		if err == nil && terr != nil {
			err = terr
		}
		if err == nil && m != tm {
			err = codeErr("ErrorMoveCopyFailed", "Items cannot be moved or copied between mailboxes by this server.")
		}
		var info ItemInfo
		if err == nil {
			if copyItem {
				info, err = m.CopyItem(id, tkey)
			} else {
				info, err = m.MoveItem(id, tkey)
			}
		}
		if err != nil {
			r.msgError(err, "m:Items")
			continue
		}
		r.msgOK()
		if returnIDs {
			r.w.open("m:Items")
			el := itemElement(info.Message.ItemClass)
			r.w.open(el)
			r.w.empty("t:ItemId", "Id", info.ID, "ChangeKey", info.ChangeKey)
			r.w.close(el)
			r.w.close("m:Items")
		} else {
			r.w.empty("m:Items")
		}
		r.msgClose()
	}
	r.respEnd()
	return nil
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
	state := textOf(childM(r.body, "SyncState"))
	if r.s.faults.takeInvalidSync() {
		r.syncHierarchyError(ErrInvalidSyncState)
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
