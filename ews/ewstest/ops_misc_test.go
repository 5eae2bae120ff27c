package ewstest

import (
	"encoding/base64"
	"slices"
	"testing"
	"time"
)

func TestMisc_ResolveNames(t *testing.T) {
	srv, _ := newTestServer(t, func(o *Options) {
		o.Users = append(o.Users, User{Name: "Bobby Tables", Password: "x", Address: "bobby@example.com"})
	})
	doc := call(t, srv, `<m:ResolveNames ReturnFullContactData="true"><m:UnresolvedEntry>bob</m:UnresolvedEntry>
		<m:UnresolvedEntry>tables</m:UnresolvedEntry><m:UnresolvedEntry>zed</m:UnresolvedEntry>
		<m:UnresolvedEntry>SMTP:alice@example.com</m:UnresolvedEntry></m:ResolveNames>`)
	msgs := find(doc, "ResolveNamesResponseMessage")
	if len(msgs) != 4 {
		t.Fatalf("%d response messages", len(msgs))
	}
	classes := []string{}
	for _, m := range msgs {
		classes = append(classes, m.SelectAttrValue("ResponseClass", ""))
	}
	if !slices.Equal(classes, []string{"Warning", "Success", "Error", "Success"}) {
		t.Errorf("classes = %v", classes)
	}
	if got := codes(doc); !slices.Equal(got, []string{"ErrorNameResolutionMultipleResults", "NoError", "ErrorNameResolutionNoResults", "NoError"}) {
		t.Errorf("codes = %v", got)
	}
	var emails []string
	for _, e := range msgs[0].FindElements(".//Resolution/Mailbox/EmailAddress") {
		emails = append(emails, e.Text())
	}
	if !slices.Equal(emails, []string{"bob@example.com", "bobby@example.com"}) || msgs[0].FindElement(".//ResolutionSet").SelectAttrValue("TotalItemsInView", "") != "2" {
		t.Errorf("bob resolves to %v", emails)
	}
	if e := msgs[1].FindElement(".//Contact/DisplayName"); e == nil || e.Text() != "Bobby Tables" {
		t.Errorf("full contact data missing for 'tables'")
	}
	status, fdoc := post(t, srv, envStart+`<m:ResolveNames/>`+envEnd, map[string]string{"X-AnchorMailbox": "alice@example.com"})
	if status != 500 || faultCode(t, fdoc) != "ErrorSchemaValidation" {
		t.Errorf("empty ResolveNames: %d %s", status, faultCode(t, fdoc))
	}
}

func TestMisc_OofAndTimeZones(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	doc := call(t, srv, `<m:GetUserOofSettingsRequest><t:Mailbox><t:Address>alice@example.com</t:Address></t:Mailbox></m:GetUserOofSettingsRequest>`)
	if first(t, doc, "OofState").Text() != "Disabled" || first(t, doc, "AllowExternalOof").Text() != "All" {
		t.Errorf("default OOF: %s", first(t, doc, "OofState").Text())
	}
	doc = call(t, srv, `<m:SetUserOofSettingsRequest><t:Mailbox><t:Address>alice@example.com</t:Address></t:Mailbox>
		<t:UserOofSettings><t:OofState>Scheduled</t:OofState><t:ExternalAudience>Known</t:ExternalAudience>
		<t:Duration><t:StartTime>2026-06-01T00:00:00Z</t:StartTime><t:EndTime>2026-06-10T00:00:00Z</t:EndTime></t:Duration>
		<t:InternalReply><t:Message>Back soon</t:Message></t:InternalReply></t:UserOofSettings></m:SetUserOofSettingsRequest>`)
	if first(t, doc, "ResponseMessage/ResponseCode").Text() != "NoError" {
		t.Fatalf("SetUserOofSettings failed")
	}
	doc = call(t, srv, `<m:GetUserOofSettingsRequest><t:Mailbox><t:Address>alice@example.com</t:Address></t:Mailbox></m:GetUserOofSettingsRequest>`)
	if first(t, doc, "OofState").Text() != "Scheduled" || first(t, doc, "ExternalAudience").Text() != "Known" ||
		first(t, doc, "StartTime").Text() != "2026-06-01T00:00:00Z" || first(t, doc, "InternalReply/Message").Text() != "Back soon" {
		t.Errorf("OOF did not round-trip")
	}
	for name, tc := range map[string]struct{ body, code string }{
		"bad state":      {`<t:UserOofSettings><t:OofState>Maybe</t:OofState></t:UserOofSettings>`, "ErrorSchemaValidation"},
		"scheduled only": {`<t:UserOofSettings><t:OofState>Scheduled</t:OofState></t:UserOofSettings>`, "ErrorSchemaValidation"},
		"backwards": {`<t:UserOofSettings><t:OofState>Enabled</t:OofState><t:Duration><t:StartTime>2026-06-10T00:00:00Z</t:StartTime>
			<t:EndTime>2026-06-01T00:00:00Z</t:EndTime></t:Duration></t:UserOofSettings>`, "ErrorOofSettingsInvalidDuration"},
	} {
		status, doc := post(t, srv, envStart+`<m:SetUserOofSettingsRequest><t:Mailbox><t:Address>alice@example.com</t:Address></t:Mailbox>`+
			tc.body+`</m:SetUserOofSettingsRequest>`+envEnd, map[string]string{"X-AnchorMailbox": "alice@example.com"})
		if status != 500 || faultCode(t, doc) != tc.code {
			t.Errorf("%s: %d %s, want %s", name, status, faultCode(t, doc), tc.code)
		}
	}
	status, fdoc := post(t, srv, envStart+`<m:GetUserOofSettingsRequest><t:Mailbox><t:Address>nobody@example.com</t:Address></t:Mailbox></m:GetUserOofSettingsRequest>`+envEnd,
		map[string]string{"X-AnchorMailbox": "alice@example.com"})
	if status != 500 || faultCode(t, fdoc) != "ErrorMailRecipientNotFound" {
		t.Errorf("unknown mailbox: %d %s", status, faultCode(t, fdoc))
	}

	doc = call(t, srv, `<m:GetServerTimeZones ReturnFullTimeZoneData="true"><m:Ids><t:Id>Tokyo Standard Time</t:Id></m:Ids></m:GetServerTimeZones>`)
	defs := find(doc, "TimeZoneDefinition")
	if len(defs) != 1 || defs[0].SelectAttrValue("Id", "") != "Tokyo Standard Time" || first(t, doc, "Period").SelectAttrValue("Bias", "") != "-PT540M" {
		t.Errorf("GetServerTimeZones with Ids: %d definitions", len(defs))
	}
	doc = call(t, srv, `<m:GetServerTimeZones ReturnFullTimeZoneData="false"/>`)
	if n := len(find(doc, "TimeZoneDefinition")); n != len(serverTimeZones) || len(find(doc, "Periods")) != 0 {
		t.Errorf("GetServerTimeZones: %d definitions", n)
	}
}

func TestMisc_AttachmentsArchiveDelegatesRooms(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	it := mustDeliver(t, m, "inbox", testMessage("with files"))
	content := base64.StdEncoding.EncodeToString([]byte("payload"))
	doc := call(t, srv, `<m:CreateAttachment><m:ParentItemId Id="`+it.ID+`" ChangeKey="`+it.ChangeKey+`"/><m:Attachments>
		<t:FileAttachment><t:Name>a.txt</t:Name><t:ContentType>text/plain</t:ContentType><t:Content>`+content+`</t:Content></t:FileAttachment>
		<t:ReferenceAttachment><t:Name>x</t:Name></t:ReferenceAttachment>
		<t:FileAttachment><t:Name>b.txt</t:Name><t:Content>`+content+`</t:Content></t:FileAttachment></m:Attachments></m:CreateAttachment>`)
	// The second file carries the (now stale) ChangeKey of the request.
	if got := codes(doc); !slices.Equal(got, []string{"NoError", "ErrorInvalidRequest", "ErrorIrresolvableConflict"}) {
		t.Fatalf("CreateAttachment codes = %v", got)
	}
	aid := first(t, doc, "AttachmentId")
	info, err := m.Item(it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if aid.SelectAttrValue("RootItemChangeKey", "") != info.ChangeKey || aid.SelectAttrValue("RootItemId", "") != it.ID ||
		len(info.Message.Attachments) != 1 || string(info.Message.Attachments[0].Content) != "payload" {
		t.Errorf("after CreateAttachment: %+v", info.Message.Attachments)
	}
	doc = call(t, srv, `<m:GetAttachment><m:AttachmentIds><t:AttachmentId Id="`+aid.SelectAttrValue("Id", "")+`"/></m:AttachmentIds></m:GetAttachment>`)
	if first(t, doc, "Content").Text() != content {
		t.Errorf("GetAttachment of the new attachment")
	}
	doc = call(t, srv, `<m:DeleteAttachment><m:AttachmentIds><t:AttachmentId Id="`+aid.SelectAttrValue("Id", "")+`"/>
		<t:AttachmentId Id="`+attachmentID(it.ID, 5)+`"/></m:AttachmentIds></m:DeleteAttachment>`)
	if got := codes(doc); !slices.Equal(got, []string{"NoError", "ErrorAttachmentNotFound"}) {
		t.Errorf("DeleteAttachment codes = %v", got)
	}
	if info, _ := m.Item(it.ID); len(info.Message.Attachments) != 0 || first(t, doc, "RootItemId").SelectAttrValue("RootItemChangeKey", "") != info.ChangeKey {
		t.Errorf("after DeleteAttachment: %d attachments", len(info.Message.Attachments))
	}
	status, fdoc := post(t, srv, envStart+`<m:CreateAttachment><m:ParentItemId Id="`+it.ID+`"/><m:Attachments><t:FileAttachment><t:Content>!!</t:Content></t:FileAttachment></m:Attachments></m:CreateAttachment>`+envEnd,
		map[string]string{"X-AnchorMailbox": "alice@example.com"})
	if status != 500 || faultCode(t, fdoc) != "ErrorSchemaValidation" {
		t.Errorf("bad base64: %d %s", status, faultCode(t, fdoc))
	}

	doc = call(t, srv, `<m:ArchiveItem><m:ArchiveSourceFolderId><t:DistinguishedFolderId Id="inbox"/></m:ArchiveSourceFolderId>
		<m:ItemIds><t:ItemId Id="`+it.ID+`"/></m:ItemIds></m:ArchiveItem>`)
	if got := codes(doc); !slices.Equal(got, []string{"ErrorArchiveMailboxNotEnabled"}) {
		t.Errorf("ArchiveItem = %v", got)
	}
	doc = call(t, srv, `<m:GetDelegate IncludePermissions="true"><m:Mailbox><t:EmailAddress>alice@example.com</t:EmailAddress></m:Mailbox></m:GetDelegate>`)
	if first(t, doc, "GetDelegateResponse").SelectAttrValue("ResponseClass", "") != "Success" || len(find(doc, "DelegateUser")) != 0 {
		t.Errorf("GetDelegate without delegates")
	}
	doc = call(t, srv, `<m:GetDelegate IncludePermissions="false"><m:Mailbox><t:EmailAddress>alice@example.com</t:EmailAddress></m:Mailbox>
		<m:UserIds><t:UserId><t:PrimarySmtpAddress>bob@example.com</t:PrimarySmtpAddress></t:UserId></m:UserIds></m:GetDelegate>`)
	if got := codes(doc); !slices.Contains(got, "ErrorNotDelegate") {
		t.Errorf("GetDelegate for a non-delegate: %v", got)
	}
	doc = call(t, srv, `<m:GetRoomLists/>`)
	if len(find(doc, "RoomLists")) != 1 || len(find(doc, "Address")) != 0 {
		t.Errorf("GetRoomLists")
	}
}

func TestMisc_MarkAsJunk(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	it := mustDeliver(t, m, "inbox", testMessage("offer"))
	doc := call(t, srv, `<m:MarkAsJunk IsJunk="true" MoveItem="false"><m:ItemIds><t:ItemId Id="`+it.ID+`"/></m:ItemIds></m:MarkAsJunk>`)
	if got := codes(doc); !slices.Equal(got, []string{"NoError"}) || len(find(doc, "MovedItemId")) != 0 {
		t.Errorf("MoveItem=false: %v", got)
	}
	doc = call(t, srv, `<m:MarkAsJunk IsJunk="true" MoveItem="true"><m:ItemIds><t:ItemId Id="`+it.ID+`"/><t:ItemId Id="`+it.ID+`"/></m:ItemIds></m:MarkAsJunk>`)
	if got := codes(doc); !slices.Equal(got, []string{"NoError", "ErrorItemNotFound"}) {
		t.Errorf("MarkAsJunk codes = %v", got)
	}
	moved := first(t, doc, "MovedItemId").SelectAttrValue("Id", "")
	junk, _ := m.Items("junkemail")
	if len(junk) != 1 || junk[0].ID != moved {
		t.Fatalf("junk folder holds %d items", len(junk))
	}
	doc = call(t, srv, `<m:MarkAsJunk IsJunk="false" MoveItem="true"><m:ItemIds><t:ItemId Id="`+moved+`"/></m:ItemIds></m:MarkAsJunk>`)
	if inbox, _ := m.Items("inbox"); len(inbox) != 1 || inbox[0].ID != first(t, doc, "MovedItemId").SelectAttrValue("Id", "") {
		t.Errorf("not junk did not return the item to the inbox")
	}
	status, fdoc := post(t, srv, envStart+`<m:MarkAsJunk IsJunk="perhaps" MoveItem="true"><m:ItemIds><t:ItemId Id="`+moved+`"/></m:ItemIds></m:MarkAsJunk>`+envEnd,
		map[string]string{"X-AnchorMailbox": "alice@example.com"})
	if status != 500 || faultCode(t, fdoc) != "ErrorSchemaValidation" {
		t.Errorf("bad IsJunk: %d %s", status, faultCode(t, fdoc))
	}
}

func TestMisc_MailTipsAndRooms(t *testing.T) {
	srv, clk := newTestServer(t, nil)
	now := clk.Now().UTC()
	call(t, srv, `<m:SetUserOofSettingsRequest><t:Mailbox><t:Address>bob@example.com</t:Address></t:Mailbox>
		<t:UserOofSettings><t:OofState>Scheduled</t:OofState><t:Duration><t:StartTime>`+now.Add(-time.Hour).Format(time.RFC3339)+`</t:StartTime>
		<t:EndTime>`+now.Add(time.Hour).Format(time.RFC3339)+`</t:EndTime></t:Duration>
		<t:InternalReply><t:Message>On leave</t:Message></t:InternalReply></t:UserOofSettings></m:SetUserOofSettingsRequest>`)
	doc := call(t, srv, `<m:GetMailTips><m:SendingAs><t:EmailAddress>alice@example.com</t:EmailAddress></m:SendingAs><m:Recipients>
		<t:Mailbox><t:EmailAddress>bob@example.com</t:EmailAddress></t:Mailbox><t:Mailbox><t:EmailAddress>carol@elsewhere.org</t:EmailAddress></t:Mailbox>
		</m:Recipients><m:MailTipsRequested>All</m:MailTipsRequested></m:GetMailTips>`)
	tips := find(doc, "MailTips")
	if len(tips) != 2 {
		t.Fatalf("%d MailTips", len(tips))
	}
	if e := tips[0].FindElement("./OutOfOffice/ReplyBody/Message"); e == nil || e.Text() != "On leave" {
		t.Errorf("bob's out-of-office tip missing")
	}
	if e := tips[1].FindElement("./ExternalMemberCount"); e == nil || e.Text() != "1" || tips[1].FindElement("./OutOfOffice") != nil {
		t.Errorf("external recipient tip wrong")
	}
	clk.Advance(2 * time.Hour)
	doc = call(t, srv, `<m:GetMailTips><m:SendingAs><t:EmailAddress>alice@example.com</t:EmailAddress></m:SendingAs><m:Recipients>
		<t:Mailbox><t:EmailAddress>bob@example.com</t:EmailAddress></t:Mailbox></m:Recipients></m:GetMailTips>`)
	if e := first(t, doc, "OutOfOffice/ReplyBody/Message"); e.Text() != "" {
		t.Errorf("expired scheduled OOF still reported: %q", e.Text())
	}
	doc = call(t, srv, `<m:GetRooms><m:RoomList><t:EmailAddress>rooms@example.com</t:EmailAddress></m:RoomList></m:GetRooms>`)
	if got := first(t, doc, "GetRoomsResponse/ResponseCode").Text(); got != "ErrorNameResolutionNoResults" {
		t.Errorf("GetRooms = %s", got)
	}
	status, fdoc := post(t, srv, envStart+`<m:GetMailTips><m:SendingAs><t:EmailAddress>alice@example.com</t:EmailAddress></m:SendingAs></m:GetMailTips>`+envEnd,
		map[string]string{"X-AnchorMailbox": "alice@example.com"})
	if status != 500 || faultCode(t, fdoc) != "ErrorSchemaValidation" {
		t.Errorf("GetMailTips without recipients: %d %s", status, faultCode(t, fdoc))
	}
}

func TestMisc_ItemAttachment(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	it := mustDeliver(t, m, "inbox", testMessage("outer"))
	doc := call(t, srv, `<m:CreateAttachment><m:ParentItemId Id="`+it.ID+`"/><m:Attachments>
		<t:ItemAttachment><t:Name>fwd</t:Name><t:Message><t:Subject>inner</t:Subject><t:Body BodyType="Text">inner body</t:Body></t:Message></t:ItemAttachment>
		</m:Attachments></m:CreateAttachment>`)
	aid := first(t, doc, "ItemAttachment/AttachmentId").SelectAttrValue("Id", "")
	doc = call(t, srv, `<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>
		<m:ItemIds><t:ItemId Id="`+it.ID+`"/></m:ItemIds></m:GetItem>`)
	ia := first(t, doc, "Attachments/ItemAttachment")
	if ia.FindElement("./IsContactPhoto") != nil || ia.FindElement("./ContentType").Text() != "message/rfc822" || first(t, doc, "Message/HasAttachments").Text() != "true" {
		t.Errorf("GetItem lists the item attachment wrongly: %v", childTags(ia))
	}
	doc = call(t, srv, `<m:GetAttachment><m:AttachmentIds><t:AttachmentId Id="`+aid+`"/></m:AttachmentIds></m:GetAttachment>`)
	if first(t, doc, "ItemAttachment/Message/Subject").Text() != "inner" || first(t, doc, "ItemAttachment/Message/Body").Text() != "inner body" {
		t.Errorf("GetAttachment embedded item wrong")
	}
	status, fdoc := post(t, srv, envStart+`<m:CreateAttachment><m:ParentItemId Id="`+it.ID+`"/><m:Attachments><t:ItemAttachment><t:Name>x</t:Name></t:ItemAttachment></m:Attachments></m:CreateAttachment>`+envEnd,
		map[string]string{"X-AnchorMailbox": "alice@example.com"})
	if status != 500 || faultCode(t, fdoc) != "ErrorSchemaValidation" {
		t.Errorf("ItemAttachment without an item: %d %s", status, faultCode(t, fdoc))
	}
}
