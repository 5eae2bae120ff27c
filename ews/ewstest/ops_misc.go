package ewstest

import (
	"encoding/base64"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

// Account-level operations third-party clients call beyond mail sync:
// ResolveNames, GetServerTimeZones, Get/SetUserOofSettings, GetRoomLists,
// GetDelegate, CreateAttachment, DeleteAttachment and ArchiveItem.

func init() {
	registerOp("ResolveNames", opResolveNames)
	registerOp("GetServerTimeZones", opGetServerTimeZones)
	registerOp("GetUserOofSettingsRequest", opGetUserOofSettings)
	registerOp("SetUserOofSettingsRequest", opSetUserOofSettings)
	registerOp("GetRoomLists", opGetRoomLists)
	registerOp("GetDelegate", opGetDelegate)
	registerOp("CreateAttachment", opCreateAttachment)
	registerOp("DeleteAttachment", opDeleteAttachment)
	registerOp("ArchiveItem", opArchiveItem)
}

// userEntry is a user as name resolution sees it.
type userEntry struct {
	name, address string
}

func (s *Server) userEntries() []userEntry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]userEntry, 0, len(s.mailboxes))
	for _, m := range s.mailboxes {
		out = append(out, userEntry{name: m.user, address: m.address})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].address < out[j].address })
	return out
}

// resolveMatches reports whether the unresolved entry q names u: the
// whole address, or a prefix of the logon name, the display name, the
// address or one of the name's words, case-insensitively ("SMTP:" and
// "smtp:" prefixes are ignored).
func resolveMatches(q string, u userEntry) bool {
	q = strings.ToLower(strings.TrimSpace(q))
	if rest, ok := strings.CutPrefix(q, "smtp:"); ok {
		return rest == u.address
	}
	if q == "" {
		return false
	}
	if strings.HasPrefix(u.address, q) || strings.HasPrefix(strings.ToLower(u.name), q) {
		return true
	}
	for _, w := range strings.Fields(strings.ToLower(u.name)) {
		if strings.HasPrefix(w, q) {
			return true
		}
	}
	return false
}

func opResolveNames(r *request) error {
	entries := childrenNS(r.body, nsM, "UnresolvedEntry")
	if len(entries) == 0 {
		return schemaFault("ResolveNames needs UnresolvedEntry")
	}
	full := false
	if v := attr(r.body, "ReturnFullContactData"); v != "" {
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		full = b
	}
	users := r.s.userEntries()
	r.respBegin()
	for _, e := range entries {
		var hits []userEntry
		for _, u := range users {
			if resolveMatches(textOf(e), u) {
				hits = append(hits, u)
			}
		}
		if len(hits) == 0 {
			r.msgError(codeErr("ErrorNameResolutionNoResults", "No results were found."))
			continue
		}
		if len(hits) > 1 {
			r.w.open("m:ResolveNamesResponseMessage", "ResponseClass", "Warning")
			r.w.elem("m:MessageText", "Multiple results were found.")
			r.w.elem("m:ResponseCode", "ErrorNameResolutionMultipleResults")
			r.w.elem("m:DescriptiveLinkKey", "0")
		} else {
			r.msgOK()
		}
		r.w.open("m:ResolutionSet", "TotalItemsInView", itoa(int64(len(hits))), "IncludesLastItemInRange", "true")
		for _, u := range hits {
			r.w.open("t:Resolution")
			r.w.open("t:Mailbox")
			r.w.elem("t:Name", u.name)
			r.w.elem("t:EmailAddress", u.address)
			r.w.elem("t:RoutingType", "SMTP")
			r.w.elem("t:MailboxType", "Mailbox")
			r.w.close("t:Mailbox")
			if full {
				r.w.open("t:Contact")
				r.w.elem("t:DisplayName", u.name)
				r.w.open("t:EmailAddresses")
				r.w.open("t:Entry", "Key", "EmailAddress1")
				r.w.raw(escapeText("SMTP:" + u.address))
				r.w.close("t:Entry")
				r.w.close("t:EmailAddresses")
				r.w.elem("t:ContactSource", "ActiveDirectory")
				r.w.close("t:Contact")
			}
			r.w.close("t:Resolution")
		}
		r.w.close("m:ResolutionSet")
		r.msgClose()
	}
	r.respEnd()
	return nil
}

// serverTimeZones are the fixed-offset Windows time zones the fake
// reports (no daylight saving, so one period each). Bias is minutes west
// of UTC.
var serverTimeZones = []struct {
	id, name string
	bias     int
}{
	{"UTC", "(UTC) Coordinated Universal Time", 0},
	{"Greenwich Standard Time", "(UTC+00:00) Monrovia, Reykjavik", 0},
	{"Arabian Standard Time", "(UTC+04:00) Abu Dhabi, Muscat", -240},
	{"India Standard Time", "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi", -330},
	{"China Standard Time", "(UTC+08:00) Beijing, Chongqing, Hong Kong, Urumqi", -480},
	{"Tokyo Standard Time", "(UTC+09:00) Osaka, Sapporo, Tokyo", -540},
	{"SA Pacific Standard Time", "(UTC-05:00) Bogota, Lima, Quito, Rio Branco", 300},
	{"Hawaiian Standard Time", "(UTC-10:00) Hawaii", 600},
}

func xsDuration(minutes int) string {
	if minutes < 0 {
		return "-PT" + itoa(int64(-minutes)) + "M"
	}
	return "PT" + itoa(int64(minutes)) + "M"
}

func opGetServerTimeZones(r *request) error {
	full := true
	if v := attr(r.body, "ReturnFullTimeZoneData"); v != "" {
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		full = b
	}
	var want map[string]bool
	if ids := childM(r.body, "Ids"); ids != nil {
		want = map[string]bool{}
		for _, c := range ids.ChildElements() {
			want[textOf(c)] = true
		}
	}
	r.respBegin()
	r.msgOK()
	r.w.open("m:TimeZoneDefinitions")
	for _, z := range serverTimeZones {
		if want != nil && !want[z.id] {
			continue
		}
		if !full {
			r.w.empty("t:TimeZoneDefinition", "Id", z.id, "Name", z.name)
			continue
		}
		period := "trule:Microsoft/Registry/" + z.id + "/1-Standard"
		r.w.open("t:TimeZoneDefinition", "Id", z.id, "Name", z.name)
		r.w.open("t:Periods")
		r.w.empty("t:Period", "Bias", xsDuration(z.bias), "Name", "Standard", "Id", period)
		r.w.close("t:Periods")
		r.w.open("t:TransitionsGroups")
		r.w.open("t:TransitionsGroup", "Id", "0")
		r.w.open("t:Transition")
		r.w.open("t:To", "Kind", "Period")
		r.w.raw(escapeText(period))
		r.w.close("t:To")
		r.w.close("t:Transition")
		r.w.close("t:TransitionsGroup")
		r.w.close("t:TransitionsGroups")
		r.w.open("t:Transitions")
		r.w.open("t:Transition")
		r.w.open("t:To", "Kind", "Group")
		r.w.raw("0")
		r.w.close("t:To")
		r.w.close("t:Transition")
		r.w.close("t:Transitions")
		r.w.close("t:TimeZoneDefinition")
	}
	r.w.close("m:TimeZoneDefinitions")
	r.msgClose()
	r.respEnd()
	return nil
}

// oofSettings is a mailbox's out-of-office configuration.
type oofSettings struct {
	state, audience         string
	start, end              time.Time
	internalReply, extReply string
	set                     bool
}

// oofTarget resolves the t:Mailbox/t:Address of an OOF request.
func (r *request) oofTarget() (*Mailbox, error) {
	mb := childT(r.body, "Mailbox")
	addr := textOf(childT(mb, "Address"))
	if mb == nil || addr == "" {
		return nil, schemaFault("the request needs Mailbox with Address")
	}
	m := r.s.Mailbox(addr)
	if m == nil {
		return nil, &Fault{Code: "ErrorMailRecipientNotFound", Message: "No mailbox with address " + addr + " was found."}
	}
	if !r.mayAccess(m) {
		return nil, &Fault{Code: "ErrorAccessDenied", Message: "Access is denied. Check credentials and try again."}
	}
	return m, nil
}

func opGetUserOofSettings(r *request) error {
	m, err := r.oofTarget()
	if err != nil {
		return err
	}
	m.mu.Lock()
	o := m.ext.oof
	m.mu.Unlock()
	if !o.set {
		now := r.s.now().Truncate(time.Hour)
		o = oofSettings{state: "Disabled", audience: "All", start: now, end: now.Add(24 * time.Hour)}
	}
	r.w.open("m:GetUserOofSettingsResponse", "xmlns:m", nsM, "xmlns:t", nsT)
	r.w.open("m:ResponseMessage", "ResponseClass", "Success")
	r.w.elem("m:ResponseCode", "NoError")
	r.w.close("m:ResponseMessage")
	r.w.open("t:OofSettings")
	r.w.elem("t:OofState", o.state)
	r.w.elem("t:ExternalAudience", o.audience)
	r.w.open("t:Duration")
	r.w.elemTime("t:StartTime", o.start)
	r.w.elemTime("t:EndTime", o.end)
	r.w.close("t:Duration")
	r.w.open("t:InternalReply")
	r.w.elem("t:Message", o.internalReply)
	r.w.close("t:InternalReply")
	r.w.open("t:ExternalReply")
	r.w.elem("t:Message", o.extReply)
	r.w.close("t:ExternalReply")
	r.w.close("t:OofSettings")
	r.w.elem("m:AllowExternalOof", "All")
	r.w.close("m:GetUserOofSettingsResponse")
	return nil
}

func opSetUserOofSettings(r *request) error {
	m, err := r.oofTarget()
	if err != nil {
		return err
	}
	s := childT(r.body, "UserOofSettings")
	if s == nil {
		return schemaFault("SetUserOofSettingsRequest needs UserOofSettings")
	}
	o := oofSettings{set: true, state: textOf(childT(s, "OofState")), audience: textOf(childT(s, "ExternalAudience"))}
	switch o.state {
	case "Enabled", "Disabled", "Scheduled":
	default:
		return schemaFault("the value %q is invalid for OofState", o.state)
	}
	switch o.audience {
	case "":
		o.audience = "All"
	case "None", "Known", "All":
	default:
		return schemaFault("the value %q is invalid for ExternalAudience", o.audience)
	}
	now := r.s.now().Truncate(time.Hour)
	o.start, o.end = now, now.Add(24*time.Hour)
	if d := childT(s, "Duration"); d != nil {
		st, ok1 := parseXSDateTime(textOf(childT(d, "StartTime")))
		en, ok2 := parseXSDateTime(textOf(childT(d, "EndTime")))
		if !ok1 || !ok2 {
			return schemaFault("Duration needs valid StartTime and EndTime")
		}
		if !en.After(st) {
			return &Fault{Code: "ErrorOofSettingsInvalidDuration", Message: "The end time must be after the start time."}
		}
		o.start, o.end = st, en
	} else if o.state == "Scheduled" {
		return schemaFault("a Scheduled OofState needs Duration")
	}
	o.internalReply = textOf(childT(childT(s, "InternalReply"), "Message"))
	o.extReply = textOf(childT(childT(s, "ExternalReply"), "Message"))
	m.mu.Lock()
	m.ext.oof = o
	m.mu.Unlock()
	r.w.open("m:SetUserOofSettingsResponse", "xmlns:m", nsM, "xmlns:t", nsT)
	r.w.open("m:ResponseMessage", "ResponseClass", "Success")
	r.w.elem("m:ResponseCode", "NoError")
	r.w.close("m:ResponseMessage")
	r.w.close("m:SetUserOofSettingsResponse")
	return nil
}

// opGetRoomLists answers as an organization without room lists.
func opGetRoomLists(r *request) error {
	r.w.open("m:GetRoomListsResponse", "xmlns:m", nsM, "xmlns:t", nsT, "ResponseClass", "Success")
	r.w.elem("m:ResponseCode", "NoError")
	r.w.empty("m:RoomLists")
	r.w.close("m:GetRoomListsResponse")
	return nil
}

// opGetDelegate answers as a mailbox without delegates.
func opGetDelegate(r *request) error {
	mb := childM(r.body, "Mailbox")
	addr := textOf(childT(mb, "EmailAddress"))
	if mb == nil || addr == "" {
		return schemaFault("GetDelegate needs Mailbox with EmailAddress")
	}
	m := r.s.Mailbox(addr)
	if m == nil {
		return &Fault{Code: "ErrorNonExistentMailbox", Message: "No mailbox with such guid."}
	}
	if !r.mayAccess(m) {
		return &Fault{Code: "ErrorDelegateNoUser", Message: "Access is denied."}
	}
	if ids := childM(r.body, "UserIds"); ids != nil && len(ids.ChildElements()) > 0 {
		r.w.open("m:GetDelegateResponse", "xmlns:m", nsM, "xmlns:t", nsT, "ResponseClass", "Success")
		r.w.elem("m:ResponseCode", "NoError")
		r.w.open("m:ResponseMessages")
		for range ids.ChildElements() {
			r.w.open("m:DelegateUserResponseMessageType", "ResponseClass", "Error")
			r.w.elem("m:MessageText", "The delegate does not exist in the delegate list.")
			r.w.elem("m:ResponseCode", "ErrorNotDelegate")
			r.w.elem("m:DescriptiveLinkKey", "0")
			r.w.close("m:DelegateUserResponseMessageType")
		}
		r.w.close("m:ResponseMessages")
	} else {
		r.w.open("m:GetDelegateResponse", "xmlns:m", nsM, "xmlns:t", nsT, "ResponseClass", "Success")
		r.w.elem("m:ResponseCode", "NoError")
	}
	r.w.elem("m:DeliverMeetingRequests", "DelegatesAndMe")
	r.w.close("m:GetDelegateResponse")
	return nil
}

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
			r.msgError(err)
			continue
		}
		m.mu.Lock()
		it, err := m.lookupItem(itemID)
		if err != nil || idx >= len(it.msg.Attachments) {
			m.mu.Unlock()
			r.msgError(codeErr("ErrorAttachmentNotFound", "The attachment could not be found."))
			continue
		}
		list := slices.Delete(slices.Clone(it.msg.Attachments), idx, idx+1)
		m.changeAttachmentsLocked(it, list)
		r.msgOK()
		r.w.empty("m:RootItemId", "RootItemId", it.id, "RootItemChangeKey", m.changeKey(false, it.keyCN()))
		r.msgClose()
		m.mu.Unlock()
	}
	r.respEnd()
	return nil
}

// opArchiveItem answers as Exchange does for a mailbox without an archive
// mailbox: every item fails with ErrorArchiveMailboxNotEnabled.
func opArchiveItem(r *request) error {
	if childM(r.body, "ArchiveSourceFolderId") == nil {
		return schemaFault("ArchiveItem needs ArchiveSourceFolderId")
	}
	ids, err := itemIDList(childM(r.body, "ItemIds"), "ItemIds")
	if err != nil {
		return err
	}
	r.respBegin()
	for range ids {
		r.msgError(codeErr("ErrorArchiveMailboxNotEnabled", "The archive mailbox is not enabled for this user."), "m:Items")
	}
	r.respEnd()
	return nil
}

// mailboxExt holds per-mailbox state of the operations in this file;
// guarded by Mailbox.mu.
type mailboxExt struct {
	oof oofSettings
}

func init() { registerOp("MarkAsJunk", opMarkAsJunk) }

// opMarkAsJunk marks items as junk or not junk; with MoveItem it moves
// them to Junk Email (IsJunk true) or the Inbox (false) and returns the
// moved item's new id. The fake keeps no blocked-senders list.
func opMarkAsJunk(r *request) error {
	isJunk, err := parseBool(attr(r.body, "IsJunk"))
	if err != nil {
		return schemaFault("the IsJunk attribute is missing or invalid")
	}
	move, err := parseBool(attr(r.body, "MoveItem"))
	if err != nil {
		return schemaFault("the MoveItem attribute is missing or invalid")
	}
	ids, err := itemIDList(childM(r.body, "ItemIds"), "ItemIds")
	if err != nil {
		return err
	}
	to := "inbox"
	if isJunk {
		to = "junkemail"
	}
	r.respBegin()
	for _, el := range ids {
		m, id, err := r.resolveItem(el)
		if f, ok := asFault(err); ok {
			return f
		}
		if err == nil {
			_, err = m.Item(id)
		}
		if err != nil {
			r.msgError(err)
			continue
		}
		if !move {
			r.msgOK()
			r.msgClose()
			continue
		}
		info, err := m.MoveItem(id, to)
		if err != nil {
			r.msgError(err)
			continue
		}
		r.msgOK()
		r.w.empty("m:MovedItemId", "Id", info.ID, "ChangeKey", info.ChangeKey)
		r.msgClose()
	}
	r.respEnd()
	return nil
}

func init() {
	registerOp("GetMailTips", opGetMailTips)
	registerOp("GetRooms", opGetRooms)
}

// maxMessageSize is the MaxMessageSize mail tip (Exchange's default 35 MB
// send limit, in bytes).
const maxMessageSize = 36700160

// opGetMailTips answers for each recipient from what the server knows:
// unknown addresses are external (ExternalMemberCount 1), a local
// mailbox's active out-of-office reply is its OutOfOffice tip.
func opGetMailTips(r *request) error {
	if childM(r.body, "SendingAs") == nil {
		return schemaFault("GetMailTips needs SendingAs")
	}
	rcpts := childM(r.body, "Recipients")
	if rcpts == nil || len(rcpts.ChildElements()) == 0 {
		return schemaFault("GetMailTips needs Recipients with at least one Mailbox")
	}
	now := r.s.now()
	r.w.open("m:GetMailTipsResponse", "xmlns:m", nsM, "xmlns:t", nsT, "ResponseClass", "Success")
	r.w.elem("m:ResponseCode", "NoError")
	r.w.open("m:ResponseMessages")
	for _, mb := range rcpts.ChildElements() {
		addr := textOf(childT(mb, "EmailAddress"))
		m := r.s.Mailbox(addr)
		r.w.open("m:MailTipsResponseMessageType", "ResponseClass", "Success")
		r.w.elem("m:ResponseCode", "NoError")
		r.w.open("m:MailTips")
		r.w.open("t:RecipientAddress")
		name := addr
		if m != nil {
			name = m.user
		}
		r.w.elem("t:Name", name)
		r.w.elem("t:EmailAddress", addr)
		r.w.elem("t:RoutingType", "SMTP")
		r.w.close("t:RecipientAddress")
		r.w.elem("t:PendingMailTips", "")
		if m != nil {
			m.mu.Lock()
			o := m.ext.oof
			m.mu.Unlock()
			active := o.set && (o.state == "Enabled" || o.state == "Scheduled" && !now.Before(o.start) && now.Before(o.end))
			r.w.open("t:OutOfOffice")
			r.w.open("t:ReplyBody")
			if active {
				r.w.elem("t:Message", o.internalReply)
			} else {
				r.w.elem("t:Message", "")
			}
			r.w.close("t:ReplyBody")
			if active && o.state == "Scheduled" {
				r.w.open("t:Duration")
				r.w.elemTime("t:StartTime", o.start)
				r.w.elemTime("t:EndTime", o.end)
				r.w.close("t:Duration")
			}
			r.w.close("t:OutOfOffice")
			r.w.elemBool("t:MailboxFull", false)
		}
		r.w.elem("t:TotalMemberCount", "1")
		if m == nil {
			r.w.elem("t:ExternalMemberCount", "1")
		} else {
			r.w.elem("t:ExternalMemberCount", "0")
		}
		r.w.elemInt("t:MaxMessageSize", maxMessageSize)
		r.w.elemBool("t:DeliveryRestricted", false)
		r.w.elemBool("t:IsModerated", false)
		r.w.elemBool("t:InvalidRecipient", false)
		r.w.close("m:MailTips")
		r.w.close("m:MailTipsResponseMessageType")
	}
	r.w.close("m:ResponseMessages")
	r.w.close("m:GetMailTipsResponse")
	return nil
}

// opGetRooms answers as an organization without room lists: the list
// named does not resolve.
func opGetRooms(r *request) error {
	rl := childM(r.body, "RoomList")
	if rl == nil || textOf(childT(rl, "EmailAddress")) == "" {
		return schemaFault("GetRooms needs RoomList with EmailAddress")
	}
	r.w.open("m:GetRoomsResponse", "xmlns:m", nsM, "xmlns:t", nsT, "ResponseClass", "Error")
	r.w.elem("m:MessageText", "No results were found.")
	r.w.elem("m:ResponseCode", "ErrorNameResolutionNoResults")
	r.w.elem("m:DescriptiveLinkKey", "0")
	r.w.close("m:GetRoomsResponse")
	return nil
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
