package ewstest

import (
	"time"
)

// Account-level operations third-party clients call beyond mail sync:
// ResolveNames, GetServerTimeZones, Get/SetUserOofSettings, GetRoomLists,
// GetDelegate, CreateAttachment, DeleteAttachment and ArchiveItem.

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
		writeTransition(r.w, "Period", period)
		r.w.close("t:TransitionsGroup")
		r.w.close("t:TransitionsGroups")
		r.w.open("t:Transitions")
		writeTransition(r.w, "Group", "0")
		r.w.close("t:Transitions")
		r.w.close("t:TimeZoneDefinition")
	}
	r.w.close("m:TimeZoneDefinitions")
	r.msgClose()
	r.respEnd()
	return nil
}

// writeTransition writes a t:Transition to the period or group (kind) id.
func writeTransition(w *xw, kind, id string) {
	w.open("t:Transition")
	w.open("t:To", "Kind", kind)
	w.raw(escapeText(id))
	w.close("t:To")
	w.close("t:Transition")
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
			r.w.status("m:DelegateUserResponseMessageType", "Error", "The delegate does not exist in the delegate list.", "ErrorNotDelegate")
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

// mailboxExt holds per-mailbox state of the operations in this file;
// guarded by Mailbox.mu.
type mailboxExt struct {
	oof oofSettings
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
	r.w.status("m:GetRoomsResponse", "Error", "No results were found.", "ErrorNameResolutionNoResults", "xmlns:m", nsM, "xmlns:t", nsT)
	r.w.close("m:GetRoomsResponse")
	return nil
}
