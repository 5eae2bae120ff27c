package ewstest

import (
	"encoding/base64"
	"slices"
	"strings"

	"github.com/beevik/etree"
	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

// opGetAttachment returns file attachments with their content.
func opGetAttachment(r *request) error {
	return r.eachAttachment([]string{"m:Attachments"}, func(m *Mailbox, it *item, idx int, id string) error {
		a := it.msg.Attachments[idx]
		r.msgOK()
		r.w.open("m:Attachments")
		if a.item != nil {
			m.writeItemAttachment(r.w, it, a, id)
		} else {
			r.w.open("t:FileAttachment")
			r.w.empty("t:AttachmentId", "Id", id)
			r.w.elem("t:Name", a.Name)
			ct := a.ContentType
			if ct == "" {
				ct = "application/octet-stream"
			}
			r.w.elem("t:ContentType", ct)
			r.w.elemInt("t:Size", int64(len(a.Content)))
			r.w.elemBool("t:IsInline", false)
			r.w.elemBool("t:IsContactPhoto", false)
			r.w.elem("t:Content", base64.StdEncoding.EncodeToString(a.Content))
			r.w.close("t:FileAttachment")
		}
		r.w.close("m:Attachments")
		r.msgClose()
		return nil
	})
}

// eachAttachment writes the operation's response with one message per
// t:AttachmentId of its AttachmentIds: fn runs on the attachment's item
// and index, with the mailbox locked, and writes the Success message; a
// malformed or unknown id, or fn's error, becomes an Error message with
// the empty containers named.
func (r *request) eachAttachment(empty []string, fn func(m *Mailbox, it *item, idx int, id string) error) error {
	ids := childM(r.body, "AttachmentIds")
	if ids == nil || len(ids.ChildElements()) == 0 {
		return schemaFault("AttachmentIds must hold at least one AttachmentId")
	}
	return each(r, ids.ChildElements(), empty, func(el *etree.Element) (*Fault, error) {
		if el.Tag != "AttachmentId" || el.NamespaceURI() != nsT {
			return schemaFault("unexpected element %s in AttachmentIds", el.Tag), nil
		}
		id := attr(el, "Id")
		itemID, idx, ok := parseAttachmentID(id)
		var m *Mailbox
		var err error
		if !ok {
			err = codeErr("ErrorInvalidIdMalformed", "Id is malformed.")
		} else if m, err = r.s.mailboxByID(itemID); err == nil && !r.mayAccess(m) {
			err = codeErr("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		}
		if ResponseCode(err) == "ErrorItemNotFound" {
			return nil, errAttachmentNotFound
		}
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		it, err := m.lookupItem(itemID)
		if err != nil || idx >= len(it.msg.Attachments) {
			return nil, errAttachmentNotFound
		}
		return nil, fn(m, it, idx, id)
	})
}

var errAttachmentNotFound = codeErr("ErrorAttachmentNotFound", "The attachment could not be found.")

// changeAttachmentsLocked replaces the item's attachments as a content
// change: a new ChangeKey, ModifiedEvent, and an Update for sync.
func (m *Mailbox) changeAttachmentsLocked(it *item, atts []Attachment) {
	now := m.now()
	cn := m.nextCN()
	it.msg.Attachments = atts
	it.msg.MIME = nil
	it.size = 0
	it.changeCN = cn
	it.modified = now
	m.touchContent(it.folder, cn, now, true)
	m.publish(m.itemEvent(notify.ModifiedEvent, it, now))
}

func opCreateAttachment(r *request) error {
	parent := childM(r.body, "ParentItemId")
	atts := childM(r.body, "Attachments")
	if parent == nil || atts == nil || len(atts.ChildElements()) == 0 {
		return schemaFault("CreateAttachment needs ParentItemId and Attachments")
	}
	key := attr(parent, "Id")
	if key == "" {
		return schemaFault("the required attribute 'Id' is missing")
	}
	m, err := r.s.mailboxByID(key)
	if err == nil && !r.mayAccess(m) {
		err = codeErr("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	}
	r.respBegin()
	for _, a := range atts.ChildElements() {
		if err != nil {
			r.msgError(err, "m:Attachments")
			continue
		}
		var embedded *Message
		if a.Tag == "ItemAttachment" {
			var inner *etree.Element
			for _, c := range a.ChildElements() {
				if itemElements[c.Tag] {
					inner = c
				}
			}
			if inner == nil {
				return schemaFault("ItemAttachment needs an item")
			}
			msg, _, perr := parseItemPayload(inner)
			if perr != nil {
				return toFault(perr)
			}
			msg.normalize(r.s.now(), 0)
			embedded = &msg
		} else if a.Tag != "FileAttachment" {
			if a.Tag == "ReferenceAttachment" {
				r.msgError(codeErr("ErrorInvalidRequest", "The request is invalid: %s is not supported by this server.", a.Tag), "m:Attachments")
				continue
			}
			return schemaFault("unexpected element %s in Attachments", a.Tag)
		}
		var content []byte
		ctype := textOf(childT(a, "ContentType"))
		if embedded != nil {
			content, ctype = embedded.renderMIME(), "message/rfc822"
		} else {
			var derr error
			if content, derr = base64.StdEncoding.DecodeString(strings.TrimSpace(textOf(childT(a, "Content")))); derr != nil {
				return schemaFault("the attachment Content is not valid base64")
			}
		}
		name := textOf(childT(a, "Name"))
		m.mu.Lock()
		it, lerr := m.lookupItem(key)
		if lerr != nil {
			m.mu.Unlock()
			r.msgError(lerr, "m:Attachments")
			continue
		}
		if ck := attr(parent, "ChangeKey"); ck != "" && ck != m.changeKey(false, it.keyCN()) {
			m.mu.Unlock()
			r.msgError(codeErr("ErrorIrresolvableConflict", "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item."), "m:Attachments")
			continue
		}
		list := append(slices.Clone(it.msg.Attachments), Attachment{Name: name, ContentType: ctype, Content: content, item: embedded})
		m.changeAttachmentsLocked(it, list)
		r.msgOK()
		tag := "t:FileAttachment"
		if embedded != nil {
			tag = "t:ItemAttachment"
		}
		r.w.open("m:Attachments")
		r.w.open(tag)
		r.w.empty("t:AttachmentId", "Id", attachmentID(it.id, len(list)-1), "RootItemId", it.id, "RootItemChangeKey", m.changeKey(false, it.keyCN()))
		r.w.close(tag)
		r.w.close("m:Attachments")
		r.msgClose()
		m.mu.Unlock()
	}
	r.respEnd()
	return nil
}

func opDeleteAttachment(r *request) error {
	return r.eachAttachment(nil, func(m *Mailbox, it *item, idx int, _ string) error {
		m.changeAttachmentsLocked(it, slices.Delete(slices.Clone(it.msg.Attachments), idx, idx+1))
		r.msgOK()
		r.w.empty("m:RootItemId", "RootItemId", it.id, "RootItemChangeKey", m.changeKey(false, it.keyCN()))
		r.msgClose()
		return nil
	})
}

// writeItemAttachment writes an item attachment with its embedded item
// (all properties, as GetAttachment returns it); the embedded item's
// ItemId is the attachment id.
func (m *Mailbox) writeItemAttachment(w *xw, parent *item, a Attachment, id string) {
	w.open("t:ItemAttachment")
	w.empty("t:AttachmentId", "Id", id)
	w.elem("t:Name", a.Name)
	w.elem("t:ContentType", a.ContentType)
	w.elemInt("t:Size", int64(len(a.Content)))
	w.elemBool("t:IsInline", false)
	emb := &item{id: id, folder: parent.folder, msg: *a.item, arrivedCN: parent.arrivedCN, changeCN: parent.changeCN,
		created: parent.created, modified: parent.modified}
	sh := &shape{base: "AllProperties", props: map[string]bool{}, bodyType: "Best"}
	m.writeItem(w, emb, sh, true)
	w.close("t:ItemAttachment")
}

// attachmentID names attachment i of an item: base64 of the item id, a
// zero byte and the 16-bit index.
func attachmentID(itemID string, i int) string {
	return base64.StdEncoding.EncodeToString(append([]byte(itemID), 0x00, byte(i>>8), byte(i)))
}

// parseAttachmentID reverses attachmentID.
func parseAttachmentID(id string) (string, int, bool) {
	b, err := base64.StdEncoding.DecodeString(id)
	if err != nil || len(b) < 4 || b[len(b)-3] != 0x00 {
		return "", 0, false
	}
	return string(b[:len(b)-3]), int(b[len(b)-2])<<8 | int(b[len(b)-1]), true
}
