package ewstest

import "encoding/base64"

func init() { registerOp("GetAttachment", opGetAttachment) }

// opGetAttachment returns file attachments with their content.
func opGetAttachment(r *request) error {
	ids := childM(r.body, "AttachmentIds")
	if ids == nil || len(ids.ChildElements()) == 0 {
		return schemaFault("AttachmentIds must hold at least one AttachmentId")
	}
	r.respBegin()
	for _, el := range ids.ChildElements() {
		if el.Tag != "AttachmentId" || el.NamespaceURI() != nsT {
			return schemaFault("unexpected element %s in AttachmentIds", el.Tag)
		}
		itemID, idx, ok := parseAttachmentID(attr(el, "Id"))
		var m *Mailbox
		var err error
		if !ok {
			err = codeErr("ErrorInvalidIdMalformed", "Id is malformed.")
		} else if m, err = r.s.mailboxByID(itemID); err == nil && !r.mayAccess(m) {
			err = codeErr("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		}
		if err != nil {
			if ResponseCode(err) == "ErrorItemNotFound" {
				err = codeErr("ErrorAttachmentNotFound", "The attachment could not be found.")
			}
			r.msgError(err, "m:Attachments")
			continue
		}
		m.mu.Lock()
		it, err := m.lookupItem(itemID)
		if err != nil || idx >= len(it.msg.Attachments) {
			m.mu.Unlock()
			r.msgError(codeErr("ErrorAttachmentNotFound", "The attachment could not be found."), "m:Attachments")
			continue
		}
		a := it.msg.Attachments[idx]
		r.msgOK()
		r.w.open("m:Attachments")
		if a.item != nil { // ops_misc.go
			m.writeItemAttachment(r.w, it, a, attr(el, "Id"))
			r.w.close("m:Attachments")
			r.msgClose()
			m.mu.Unlock()
			continue
		}
		r.w.open("t:FileAttachment")
		r.w.empty("t:AttachmentId", "Id", attr(el, "Id"))
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
		r.w.close("m:Attachments")
		r.msgClose()
		m.mu.Unlock()
	}
	r.respEnd()
	return nil
}
