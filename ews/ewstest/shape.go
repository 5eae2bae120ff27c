package ewstest

import (
	"encoding/base64"
	"encoding/binary"
	"html"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// shape is a parsed FolderShape or ItemShape.
type shape struct {
	base        string          // IdOnly, Default or AllProperties
	props       map[string]bool // requested FieldURI local names ("Subject", "IsRead")
	ext         []extProp
	includeMIME bool
	bodyType    string // Best, HTML or Text
	// pre2013 is set for a request whose RequestServerVersion predates
	// Exchange2013: Exchange answers in the requested schema version, so
	// the Exchange 2013 item properties (Flag, InstanceKey, Preview) are
	// left out.
	pre2013 bool
}

// extProp is a requested ExtendedFieldURI.
type extProp struct {
	tag   int // -1 for named properties
	typ   string
	attrs []string // the ExtendedFieldURI as echoed
	// key is the property's extKey ("" when it names no valid property),
	// computed once per request rather than per item.
	key string
}

var validBaseShapes = map[string]bool{"IdOnly": true, "Default": true, "AllProperties": true}

// parseShape reads an ItemShape or FolderShape element.
func parseShape(el *etree.Element) (*shape, error) {
	if el == nil {
		return nil, schemaFault("the required shape element is missing")
	}
	sh := &shape{props: map[string]bool{}, bodyType: "Best"}
	bs := childT(el, "BaseShape")
	if bs == nil {
		return nil, schemaFault("BaseShape is required")
	}
	sh.base = textOf(bs)
	if !validBaseShapes[sh.base] {
		return nil, schemaFault("the value %q is invalid for BaseShape", sh.base)
	}
	if e := childT(el, "IncludeMimeContent"); e != nil {
		v, err := parseBool(textOf(e))
		if err != nil {
			return nil, err
		}
		sh.includeMIME = v
	}
	if e := childT(el, "BodyType"); e != nil {
		switch v := textOf(e); v {
		case "Best", "HTML", "Text":
			sh.bodyType = v
		default:
			return nil, schemaFault("the value %q is invalid for BodyType", v)
		}
	}
	if ap := childT(el, "AdditionalProperties"); ap != nil {
		for _, p := range ap.ChildElements() {
			switch p.Tag {
			case "FieldURI", "IndexedFieldURI":
				name, err := fieldName(attr(p, "FieldURI"))
				if err != nil {
					return nil, err
				}
				sh.props[name] = true
			case "ExtendedFieldURI":
				e, err := parseExtendedFieldURI(p)
				if err != nil {
					return nil, err
				}
				sh.ext = append(sh.ext, e)
			default:
				return nil, schemaFault("unexpected element %s in AdditionalProperties", p.Tag)
			}
		}
	}
	return sh, nil
}

// fieldName returns the local part of a FieldURI such as "item:Subject".
func fieldName(uri string) (string, error) {
	prefix, name, ok := strings.Cut(uri, ":")
	if !ok || name == "" {
		return "", schemaFault("the FieldURI %q is invalid", uri)
	}
	switch prefix {
	case "folder", "item", "message", "meeting", "meetingRequest", "calendar", "task", "contacts", "distributionlist",
		"postitem", "conversation", "persona", "itemrecurrence", "calendarview", "timezone":
		return name, nil
	}
	return "", schemaFault("the FieldURI %q is invalid", uri)
}

func parseExtendedFieldURI(p *etree.Element) (extProp, error) {
	e := extProp{tag: -1, typ: attr(p, "PropertyType")}
	if e.typ == "" {
		return e, schemaFault("the required attribute 'PropertyType' is missing")
	}
	for _, a := range p.Attr {
		if a.Key == "PropertyTag" {
			continue
		}
		e.attrs = append(e.attrs, a.Key, a.Value)
	}
	if t := attr(p, "PropertyTag"); t != "" {
		var v uint64
		var err error
		if strings.HasPrefix(strings.ToLower(t), "0x") {
			v, err = strconv.ParseUint(t[2:], 16, 16)
		} else {
			v, err = strconv.ParseUint(t, 10, 16)
		}
		if err != nil {
			return e, schemaFault("the PropertyTag %q is invalid", t)
		}
		if v >= 0x8000 && v <= 0xFFFE {
			return e, &Fault{Code: "ErrorInvalidPropertyRequest", Message: "Property tags in the named property range cannot be requested by tag."}
		}
		e.tag = int(v)
		e.attrs = append([]string{"PropertyTag", "0x" + strconv.FormatUint(v, 16)}, e.attrs...)
	}
	e.key, _ = extKey(e)
	return e, nil
}

// want reports whether the shape asks for the property name, given
// whether it belongs to the base shape's default set.
func (sh *shape) want(name string, inDefault bool) bool {
	switch {
	case sh.props[name]:
		return true
	case sh.base == "AllProperties":
		return true
	case sh.base == "Default":
		return inDefault
	}
	return false
}

// wantDetail is want for the body, the attachments and the recipient
// lists, which FindItem and SyncFolderItems (full false) do not return
// even for AllProperties (Microsoft's FindItem and SyncFolderItems
// references); only an explicit AdditionalProperties path asks for them
// there.
func (sh *shape) wantDetail(name string, full itemShapeFull) bool {
	if !full {
		return sh.props[name]
	}
	return sh.want(name, true)
}

// Folder rendering.

func folderElement(class string) string {
	switch {
	case strings.HasPrefix(class, "IPF.Appointment"):
		return "t:CalendarFolder"
	case strings.HasPrefix(class, "IPF.Contact"):
		return "t:ContactsFolder"
	case strings.HasPrefix(class, "IPF.Task"):
		return "t:TasksFolder"
	}
	return "t:Folder"
}

func (m *Mailbox) writeFolderID(w *xw, tag string, f *folder) {
	w.empty(tag, "Id", f.id, "ChangeKey", m.changeKey(true, f.changeCN))
}

func writeEffectiveRights(w *xw) {
	w.open("t:EffectiveRights")
	for _, n := range []string{"CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify", "Read", "ViewPrivateItems"} {
		w.elem("t:"+n, "true")
	}
	w.close("t:EffectiveRights")
}

// writeFolder renders f with the shape. Caller holds m.mu.
func (m *Mailbox) writeFolder(w *xw, f *folder, sh *shape) {
	el := folderElement(f.class)
	w.open(el)
	m.writeFolderID(w, "t:FolderId", f)
	if f.parent != nil && sh.want("ParentFolderId", false) {
		m.writeFolderID(w, "t:ParentFolderId", f.parent)
	}
	if f.class != "" && sh.want("FolderClass", false) {
		w.elem("t:FolderClass", f.class)
	}
	if sh.want("DisplayName", true) {
		w.elem("t:DisplayName", f.name)
	}
	if sh.want("TotalCount", true) {
		w.elemInt("t:TotalCount", int64(f.live))
	}
	if sh.want("ChildFolderCount", true) {
		w.elemInt("t:ChildFolderCount", int64(len(f.children)))
	}
	for _, e := range sh.ext {
		m.writeFolderExt(w, f, e)
	}
	if sh.want("EffectiveRights", false) {
		writeEffectiveRights(w)
	}
	// folder:DistinguishedFolderId (Exchange 2013, BaseFolderType after
	// EffectiveRights): the well-known name, when a shape names it.
	if f.dist != "" && !sh.pre2013 && sh.props["DistinguishedFolderId"] {
		w.elem("t:DistinguishedFolderId", f.dist)
	}
	if el == "t:Folder" || el == "t:TasksFolder" {
		if sh.want("UnreadCount", true) {
			w.elemInt("t:UnreadCount", int64(f.unread))
		}
	}
	w.close(el)
}

func writeExt(w *xw, e extProp, value string) {
	w.open("t:ExtendedProperty")
	w.empty("t:ExtendedFieldURI", e.attrs...)
	w.elem("t:Value", value)
	w.close("t:ExtendedProperty")
}

// writeFolderExt renders the folder MAPI properties the fake keeps; an
// absent property is omitted, as Exchange does.
func (m *Mailbox) writeFolderExt(w *xw, f *folder, e extProp) {
	switch e.tag {
	case 0x670A: // PR_LOCAL_COMMIT_TIME_MAX
		writeExt(w, e, f.commitMax.UTC().Format("2006-01-02T15:04:05Z"))
	case 0x670B: // PR_DELETED_COUNT_TOTAL
		writeExt(w, e, strconv.FormatInt(f.deleted, 10))
	case 0x3001: // PR_DISPLAY_NAME
		writeExt(w, e, f.name)
	case 0x3602: // PR_CONTENT_COUNT
		writeExt(w, e, strconv.Itoa(f.live))
	case 0x3603: // PR_CONTENT_UNREAD
		writeExt(w, e, strconv.Itoa(f.unread))
	case 0x360A: // PR_SUBFOLDERS
		writeExt(w, e, strconv.FormatBool(len(f.children) > 0))
	case 0x3613: // PR_CONTAINER_CLASS
		if f.class != "" {
			writeExt(w, e, f.class)
		}
	case 0x10F4: // PR_ATTR_HIDDEN
		writeExt(w, e, strconv.FormatBool(f.hidden && f.dist != "root"))
	}
}

// Item rendering.

func itemElement(class string) string {
	switch {
	case strings.HasPrefix(class, "IPM.Appointment"):
		return "t:CalendarItem"
	case strings.HasPrefix(class, "IPM.Contact"):
		return "t:Contact"
	case strings.HasPrefix(class, "IPM.Task"):
		return "t:Task"
	case strings.HasPrefix(class, "IPM.Post"):
		return "t:PostItem"
	case strings.HasPrefix(class, "IPM.DistList"):
		return "t:DistributionList"
	case strings.HasPrefix(class, "IPM.Schedule.Meeting.Request"):
		return "t:MeetingRequest"
	}
	return "t:Message"
}

func (m *Mailbox) writeItemID(w *xw, tag string, it *item) {
	w.empty(tag, "Id", it.id, "ChangeKey", m.changeKey(false, it.keyCN()))
}

func (m *Mailbox) writeMailbox(w *xw, tag string, a Address) {
	w.open(tag)
	w.open("t:Mailbox")
	if a.Name != "" {
		w.elem("t:Name", a.Name)
	}
	w.elem("t:EmailAddress", a.Email)
	w.elem("t:RoutingType", "SMTP")
	if m.srv.Mailbox(a.Email) != nil {
		w.elem("t:MailboxType", "Mailbox")
	} else {
		w.elem("t:MailboxType", "OneOff")
	}
	w.close("t:Mailbox")
	w.close(tag)
}

func (m *Mailbox) writeRecipients(w *xw, tag string, as []Address) {
	if len(as) == 0 {
		return
	}
	w.open(tag)
	for _, a := range as {
		w.open("t:Mailbox")
		if a.Name != "" {
			w.elem("t:Name", a.Name)
		}
		w.elem("t:EmailAddress", a.Email)
		w.elem("t:RoutingType", "SMTP")
		w.close("t:Mailbox")
	}
	w.close(tag)
}

// itemShapeFull says whether Default includes the body and recipients
// (GetItem) or only summary properties (FindItem, SyncFolderItems).
type itemShapeFull bool

// writeItem renders it with the shape. Caller holds m.mu.
func (m *Mailbox) writeItem(w *xw, it *item, sh *shape, full itemShapeFull) {
	msg := &it.msg
	el := itemElement(msg.ItemClass)
	isMsg := el == "t:Message" || el == "t:MeetingRequest" || el == "t:PostItem"
	w.open(el)
	// FindItem and SyncFolderItems return summary properties only: no
	// MIME, body or attachments (GetItem has them).
	if bool(full) && (sh.includeMIME || sh.props["MimeContent"]) {
		w.open("t:MimeContent", "CharacterSet", "UTF-8")
		raw := msg.renderMIME()
		w.b.Grow(base64.StdEncoding.EncodedLen(len(raw)) + 2*len(msg.Body) + 2048)
		enc := base64.NewEncoder(base64.StdEncoding, &w.b)
		enc.Write(raw)
		enc.Close()
		w.close("t:MimeContent")
	}
	m.writeItemID(w, "t:ItemId", it)
	if sh.want("ParentFolderId", true) {
		m.writeFolderID(w, "t:ParentFolderId", it.folder)
	}
	if sh.want("ItemClass", true) {
		w.elem("t:ItemClass", msg.ItemClass)
	}
	if sh.want("Subject", true) {
		w.elem("t:Subject", msg.Subject)
	}
	if sh.want("Sensitivity", true) {
		w.elem("t:Sensitivity", msg.Sensitivity)
	}
	if sh.wantDetail("Body", full) {
		bt, body := msg.BodyType, msg.Body
		switch {
		case sh.bodyType == "HTML" && bt == "Text":
			bt, body = "HTML", "<html><body><pre>"+escapeText(body)+"</pre></body></html>"
		case sh.bodyType == "Text" && bt == "HTML":
			bt, body = "Text", stripTags(body)
		}
		w.open("t:Body", "BodyType", bt, "IsTruncated", "false")
		w.raw(escapeText(body))
		w.close("t:Body")
	}
	if len(msg.Attachments) > 0 && sh.wantDetail("Attachments", full) {
		w.open("t:Attachments")
		for i, a := range msg.Attachments {
			tag := "t:FileAttachment"
			if a.item != nil {
				tag = "t:ItemAttachment"
			}
			w.open(tag)
			w.empty("t:AttachmentId", "Id", attachmentID(it.id, i))
			w.elem("t:Name", a.Name)
			ct := a.ContentType
			if ct == "" {
				ct = "application/octet-stream"
			}
			w.elem("t:ContentType", ct)
			w.elemInt("t:Size", int64(len(a.Content)))
			w.elemBool("t:IsInline", false)
			if a.item == nil {
				w.elemBool("t:IsContactPhoto", false)
			}
			w.close(tag)
		}
		w.close("t:Attachments")
	}
	if sh.want("DateTimeReceived", true) {
		w.elemTime("t:DateTimeReceived", msg.DateTimeReceived)
	}
	if sh.want("Size", true) {
		w.elemInt("t:Size", int64(it.mimeSize()))
	}
	if len(msg.Categories) > 0 && sh.want("Categories", true) {
		w.open("t:Categories")
		for _, c := range msg.Categories {
			w.elem("t:String", c)
		}
		w.close("t:Categories")
	}
	if sh.want("Importance", true) {
		w.elem("t:Importance", msg.Importance)
	}
	if msg.InReplyTo != "" && sh.want("InReplyTo", false) {
		w.elem("t:InReplyTo", msg.InReplyTo)
	}
	if sh.want("IsSubmitted", true) {
		w.elemBool("t:IsSubmitted", false)
	}
	if sh.want("IsDraft", true) {
		w.elemBool("t:IsDraft", msg.IsDraft)
	}
	if sh.want("IsFromMe", true) {
		w.elemBool("t:IsFromMe", strings.EqualFold(msg.From.Email, m.address))
	}
	if sh.want("IsResend", true) {
		w.elemBool("t:IsResend", false)
	}
	if sh.want("IsUnmodified", true) {
		w.elemBool("t:IsUnmodified", !msg.IsDraft)
	}
	if sh.want("DateTimeSent", true) {
		w.elemTime("t:DateTimeSent", msg.DateTimeSent)
	}
	if sh.want("DateTimeCreated", true) {
		w.elemTime("t:DateTimeCreated", it.created)
	}
	if isMsg && sh.wantDetail("ResponseObjects", full) {
		// GetItem returns the response objects a message allows
		// (Microsoft's GetItem (email message) example).
		w.open("t:ResponseObjects")
		w.empty("t:ReplyToItem")
		w.empty("t:ReplyAllToItem")
		w.empty("t:ForwardItem")
		w.close("t:ResponseObjects")
	}
	if sh.want("ReminderIsSet", false) {
		w.elemBool("t:ReminderIsSet", false)
	}
	if sh.want("ReminderMinutesBeforeStart", false) {
		w.elem("t:ReminderMinutesBeforeStart", "0")
	}
	if sh.want("DisplayCc", true) {
		w.elem("t:DisplayCc", displayNames(msg.Cc))
	}
	if sh.want("DisplayTo", true) {
		w.elem("t:DisplayTo", displayNames(msg.To))
	}
	if sh.want("HasAttachments", true) {
		w.elemBool("t:HasAttachments", len(msg.Attachments) > 0)
	}
	for _, e := range sh.ext {
		m.writeItemExt(w, it, e)
	}
	if sh.want("Culture", true) {
		w.elem("t:Culture", "en-US")
	}
	if sh.want("EffectiveRights", true) {
		w.open("t:EffectiveRights")
		// As in Microsoft's SyncFolderItems example (EffectiveRightsType).
		for _, n := range []string{"CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify", "Read", "ViewPrivateItems"} {
			v := "false"
			if n == "Delete" || n == "Modify" || n == "Read" || n == "ViewPrivateItems" {
				v = "true"
			}
			w.elem("t:"+n, v)
		}
		w.close("t:EffectiveRights")
	}
	if sh.want("LastModifiedName", true) {
		w.elem("t:LastModifiedName", m.user)
	}
	if sh.want("LastModifiedTime", true) {
		w.elemTime("t:LastModifiedTime", it.modified)
	}
	if sh.want("IsAssociated", true) {
		w.elemBool("t:IsAssociated", false)
	}
	if sh.want("ConversationId", true) {
		w.empty("t:ConversationId", "Id", conversationID(msg.Subject))
	}
	if sh.props["UniqueBody"] { // shape_bodies.go
		writeBodyVariant(w, "t:UniqueBody", sh, msg)
	}
	if !sh.pre2013 && sh.want("Flag", true) {
		w.open("t:Flag")
		w.elem("t:FlagStatus", msg.FlagStatus)
		w.close("t:Flag")
	}
	if !sh.pre2013 && sh.want("InstanceKey", false) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], it.arrivedCN)
		w.elem("t:InstanceKey", base64.StdEncoding.EncodeToString(b[:]))
	}
	if !sh.pre2013 && sh.props["NormalizedBody"] {
		writeBodyVariant(w, "t:NormalizedBody", sh, msg)
	}
	if !sh.pre2013 && sh.want("Preview", false) {
		p := msg.Body
		if msg.BodyType == "HTML" {
			p = stripTags(p)
		}
		p = strings.Join(strings.Fields(p), " ")
		if r := []rune(p); len(r) > 255 {
			p = string(r[:255])
		}
		w.elem("t:Preview", p)
	}
	if !sh.pre2013 && sh.props["TextBody"] {
		writeBodyVariant(w, "t:TextBody", sh, msg)
	}
	if isMsg {
		m.writeMessageProps(w, it, sh, full)
	}
	m.writeBag(w, it, sh, full) // calendar.go
	w.close(el)
}

func (m *Mailbox) writeMessageProps(w *xw, it *item, sh *shape, full itemShapeFull) {
	msg := &it.msg
	if s := msg.sender(); s.Email != "" && sh.want("Sender", true) {
		m.writeMailbox(w, "t:Sender", s)
	}
	if sh.wantDetail("ToRecipients", full) {
		m.writeRecipients(w, "t:ToRecipients", msg.To)
	}
	if sh.wantDetail("CcRecipients", full) {
		m.writeRecipients(w, "t:CcRecipients", msg.Cc)
	}
	if sh.wantDetail("BccRecipients", full) {
		m.writeRecipients(w, "t:BccRecipients", msg.Bcc)
	}
	if sh.want("IsReadReceiptRequested", true) {
		w.elemBool("t:IsReadReceiptRequested", false)
	}
	if sh.want("IsDeliveryReceiptRequested", true) {
		w.elemBool("t:IsDeliveryReceiptRequested", false)
	}
	if sh.want("ConversationIndex", false) {
		var b [22]byte
		b[0] = 0x01
		binary.BigEndian.PutUint64(b[6:], splitmix64(uint64(len(msg.Subject))))
		w.elem("t:ConversationIndex", base64.StdEncoding.EncodeToString(b[:]))
	}
	if sh.want("ConversationTopic", true) {
		w.elem("t:ConversationTopic", conversationTopic(msg.Subject))
	}
	if msg.From.Email != "" && sh.want("From", true) {
		m.writeMailbox(w, "t:From", msg.From)
	}
	if sh.want("InternetMessageId", true) {
		w.elem("t:InternetMessageId", msg.InternetMessageID)
	}
	if sh.want("IsRead", true) {
		w.elemBool("t:IsRead", msg.IsRead)
	}
	if sh.want("IsResponseRequested", false) {
		w.elemBool("t:IsResponseRequested", false)
	}
	if msg.References != "" && sh.want("References", false) {
		w.elem("t:References", msg.References)
	}
	if sh.want("ReceivedBy", false) {
		m.writeMailbox(w, "t:ReceivedBy", Address{Name: m.user, Email: m.address})
	}
	if sh.want("ReceivedRepresenting", false) {
		m.writeMailbox(w, "t:ReceivedRepresenting", Address{Name: m.user, Email: m.address})
	}
}

func (m *Mailbox) writeItemExt(w *xw, it *item, e extProp) {
	switch e.tag {
	case 0x0E08: // PR_MESSAGE_SIZE
		writeExt(w, e, strconv.Itoa(it.mimeSize()))
	case 0x0037: // PR_SUBJECT
		writeExt(w, e, it.msg.Subject)
	case 0x001A: // PR_MESSAGE_CLASS
		writeExt(w, e, it.msg.ItemClass)
	case 0x1035: // PR_INTERNET_MESSAGE_ID
		writeExt(w, e, it.msg.InternetMessageID)
	case 0x0E06: // PR_MESSAGE_DELIVERY_TIME
		writeExt(w, e, it.msg.DateTimeReceived.Format("2006-01-02T15:04:05Z"))
	case 0x3008: // PR_LAST_MODIFICATION_TIME
		writeExt(w, e, it.modified.UTC().Format("2006-01-02T15:04:05Z"))
	case 0x0E23: // PR_INTERNET_ARTICLE_NUMBER: the IMAP UID, rising with each arrival in the folder
		writeExt(w, e, strconv.FormatUint(it.arrivedCN, 10))
	case 0x0FF9: // PR_RECORD_KEY: unique and stable for the item
		writeExt(w, e, it.id)
	case 0x0E07: // PR_MESSAGE_FLAGS
		f := 0
		if it.msg.IsRead {
			f |= 0x01 // MSGFLAG_READ
		}
		if it.msg.IsDraft {
			f |= 0x08 // MSGFLAG_UNSENT
		} else {
			f |= 0x02 // MSGFLAG_UNMODIFIED
		}
		if len(it.msg.Attachments) > 0 {
			f |= 0x10 // MSGFLAG_HASATTACH
		}
		writeExt(w, e, strconv.Itoa(f))
	case prFlagStatus: // PR_FLAG_STATUS, absent unless flagged or complete
		if v, ok := flagStatusMAPI[it.msg.FlagStatus]; ok {
			writeExt(w, e, v)
		}
	default:
		if e.key == keywordsKey {
			if len(it.msg.Categories) > 0 { // Keywords is the Categories
				writeStoredExt(w, e, extValue{multi: true, values: it.msg.Categories})
			}
		} else if v, ok := it.msg.ext[e.key]; ok && e.key != "" {
			writeStoredExt(w, e, v)
		}
	}
}

// stripTags removes markup from HTML for a Text body and decodes
// character references (Exchange's text of "a &amp; b" is "a & b").
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return html.UnescapeString(b.String())
}
