package ewstest

import (
	"slices"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// childTags lists the local names of el's children in order.
func childTags(el *etree.Element) []string {
	var out []string
	for _, c := range el.ChildElements() {
		out = append(out, c.Tag)
	}
	return out
}

func createCalendarItem(t *testing.T, srv *Server, subject, start, end, extra string) string {
	t.Helper()
	doc := call(t, srv, `<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId>
		<m:Items><t:CalendarItem><t:Subject>`+subject+`</t:Subject><t:Start>`+start+`</t:Start><t:End>`+end+`</t:End>`+extra+`</t:CalendarItem></m:Items></m:CreateItem>`)
	id := first(t, doc, "CalendarItem/ItemId").SelectAttrValue("Id", "")
	if id == "" {
		t.Fatalf("CreateItem gave no CalendarItem id")
	}
	return id
}

func TestCalendar_RoundTripOrderAndShape(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	// Properties in an order other than the schema's.
	id := createCalendarItem(t, srv, "Planning", "2025-04-01T09:00:00Z", "2025-04-01T10:30:00Z",
		`<t:Location>Room 1</t:Location><t:LegacyFreeBusyStatus>Tentative</t:LegacyFreeBusyStatus>
		<t:RequiredAttendees><t:Attendee><t:Mailbox><t:EmailAddress>bob@example.com</t:EmailAddress></t:Mailbox></t:Attendee></t:RequiredAttendees>
		<t:IsAllDayEvent>false</t:IsAllDayEvent>`)
	doc := call(t, srv, `<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>
		<m:ItemIds><t:ItemId Id="`+id+`"/></m:ItemIds></m:GetItem>`)
	ci := first(t, doc, "CalendarItem")
	tags := childTags(ci)
	pos := func(n string) int { return slices.Index(tags, n) }
	for _, pair := range [][2]string{{"Subject", "Start"}, {"UID", "Start"}, {"Start", "End"}, {"End", "IsAllDayEvent"},
		{"IsAllDayEvent", "LegacyFreeBusyStatus"}, {"LegacyFreeBusyStatus", "Location"}, {"Location", "Organizer"},
		{"Organizer", "RequiredAttendees"}, {"RequiredAttendees", "Duration"}} {
		if pos(pair[0]) < 0 || pos(pair[1]) < 0 || pos(pair[0]) > pos(pair[1]) {
			t.Errorf("%s must come before %s: %v", pair[0], pair[1], tags)
		}
	}
	if got := first(t, doc, "CalendarItem/ItemClass").Text(); got != "IPM.Appointment" {
		t.Errorf("ItemClass = %q", got)
	}
	if got := first(t, doc, "CalendarItem/Duration").Text(); got != "PT1H30M" {
		t.Errorf("Duration = %q", got)
	}
	if got := first(t, doc, "CalendarItem/IsMeeting").Text(); got != "true" {
		t.Errorf("IsMeeting = %q with attendees", got)
	}
	if got := first(t, doc, "RequiredAttendees/Attendee/Mailbox/EmailAddress").Text(); got != "bob@example.com" {
		t.Errorf("attendee = %q", got)
	}
	if got := first(t, doc, "Organizer/Mailbox/EmailAddress").Text(); got != "alice@example.com" {
		t.Errorf("organizer = %q", got)
	}

	// IdOnly plus one property returns only that property.
	doc = call(t, srv, `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
		<t:FieldURI FieldURI="calendar:Location"/></t:AdditionalProperties></m:ItemShape>
		<m:ItemIds><t:ItemId Id="`+id+`"/></m:ItemIds></m:GetItem>`)
	if got := childTags(first(t, doc, "CalendarItem")); !slices.Equal(got, []string{"ItemId", "Location"}) {
		t.Errorf("IdOnly+Location returned %v", got)
	}
	// FindItem leaves out attendees even for AllProperties.
	doc = call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`)
	if len(find(doc, "RequiredAttendees")) != 0 || len(find(doc, "Location")) != 1 {
		t.Errorf("FindItem AllProperties: attendees %d, location %d", len(find(doc, "RequiredAttendees")), len(find(doc, "Location")))
	}
}

func TestCalendar_ViewUpdateRestrictAndSync(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	doc := call(t, srv, `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
		<m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId><m:MaxChangesReturned>100</m:MaxChangesReturned></m:SyncFolderItems>`)
	state := first(t, doc, "SyncState").Text()
	a := createCalendarItem(t, srv, "A", "2025-04-01T09:00:00Z", "2025-04-01T10:00:00Z", "")
	createCalendarItem(t, srv, "B", "2025-04-03T09:00:00Z", "2025-04-03T10:00:00Z", "")
	createCalendarItem(t, srv, "C", "2025-03-31T23:00:00Z", "2025-04-01T01:00:00Z", "")
	view := func(start, end, max string) []string {
		doc := call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>
			<t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>
			<m:CalendarView `+max+` StartDate="`+start+`" EndDate="`+end+`"/>
			<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`)
		var out []string
		for _, s := range find(doc, "Subject") {
			out = append(out, s.Text())
		}
		return out
	}
	if got := view("2025-04-01T00:00:00Z", "2025-04-02T00:00:00Z", ""); !slices.Equal(got, []string{"C", "A"}) {
		t.Errorf("view of April 1 = %q, want [C A] (overlap, by start)", got)
	}
	if got := view("2025-03-01T00:00:00Z", "2025-05-01T00:00:00Z", `MaxEntriesReturned="2"`); !slices.Equal(got, []string{"C", "A"}) {
		t.Errorf("view with max 2 = %q", got)
	}
	if got := findSubjectsIn(t, srv, "calendar", restriction(`<t:IsGreaterThan><t:FieldURI FieldURI="calendar:Start"/><t:FieldURIOrConstant><t:Constant Value="2025-04-02T00:00:00Z"/></t:FieldURIOrConstant></t:IsGreaterThan>`)); !slices.Equal(got, []string{"B"}) {
		t.Errorf("restriction on calendar:Start = %q", got)
	}

	// Update Location and delete End's neighbour property.
	doc = call(t, srv, `<m:UpdateItem ConflictResolution="AlwaysOverwrite" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange>
		<t:ItemId Id="`+a+`"/><t:Updates>
		<t:SetItemField><t:FieldURI FieldURI="calendar:Location"/><t:CalendarItem><t:Location>Room 9</t:Location></t:CalendarItem></t:SetItemField>
		<t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem><t:Start>2025-04-01T08:00:00Z</t:Start></t:CalendarItem></t:SetItemField>
		</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	if c := codes(doc); !slices.Equal(c, []string{"NoError"}) {
		t.Fatalf("UpdateItem: %v", c)
	}
	doc = call(t, srv, `<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>
		<m:ItemIds><t:ItemId Id="`+a+`"/></m:ItemIds></m:GetItem>`)
	if first(t, doc, "Location").Text() != "Room 9" || first(t, doc, "Start").Text() != "2025-04-01T08:00:00Z" || first(t, doc, "Duration").Text() != "PT2H" {
		t.Errorf("after update: location %q start %q duration %q", first(t, doc, "Location").Text(), first(t, doc, "Start").Text(), first(t, doc, "Duration").Text())
	}
	doc = call(t, srv, `<m:UpdateItem ConflictResolution="AlwaysOverwrite"><m:ItemChanges><t:ItemChange>
		<t:ItemId Id="`+a+`"/><t:Updates><t:DeleteItemField><t:FieldURI FieldURI="calendar:Location"/></t:DeleteItemField>
		</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	doc = call(t, srv, `<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>
		<m:ItemIds><t:ItemId Id="`+a+`"/></m:ItemIds></m:GetItem>`)
	if len(find(doc, "Location")) != 0 {
		t.Errorf("Location survived DeleteItemField")
	}

	// Sync reports the items as t:CalendarItem.
	doc = call(t, srv, `<m:SyncFolderItems><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>
		<m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId><m:SyncState>`+state+`</m:SyncState>
		<m:MaxChangesReturned>100</m:MaxChangesReturned></m:SyncFolderItems>`)
	if n := len(find(doc, "Create/CalendarItem")); n != 3 {
		t.Errorf("sync creates as CalendarItem: %d, want 3", n)
	}
	if len(find(doc, "Create/CalendarItem/Start")) != 3 {
		t.Errorf("synced calendar items lack Start")
	}
}

// findSubjectsIn is findSubjects on another folder.
func findSubjectsIn(t *testing.T, srv *Server, folder, restriction string) []string {
	t.Helper()
	doc := call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>
		<t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>`+
		restriction+`<m:ParentFolderIds><t:DistinguishedFolderId Id="`+folder+`"/></m:ParentFolderIds></m:FindItem>`)
	var out []string
	for _, s := range find(doc, "Subject") {
		out = append(out, s.Text())
	}
	return out
}

func TestCalendar_ContactsTasksAndBadInput(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	doc := call(t, srv, `<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts"/></m:SavedItemFolderId>
		<m:Items><t:Contact><t:Surname>Jones</t:Surname><t:GivenName>Carol</t:GivenName><t:DisplayName>Carol Jones</t:DisplayName>
		<t:EmailAddresses><t:Entry Key="EmailAddress1">carol@example.org</t:Entry></t:EmailAddresses></t:Contact>
		<t:Contact><t:DisplayName>Dan</t:DisplayName></t:Contact></m:Items></m:CreateItem>`)
	if n := len(find(doc, "Contact/ItemId")); n != 2 {
		t.Fatalf("created %d contacts", n)
	}
	doc = call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>
		<m:Restriction><t:IsEqualTo><t:IndexedFieldURI FieldURI="contacts:EmailAddress" FieldIndex="EmailAddress1"/>
		<t:FieldURIOrConstant><t:Constant Value="CAROL@example.org"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>`)
	c := find(doc, "Contact")
	if len(c) != 1 {
		t.Fatalf("indexed email restriction found %d contacts", len(c))
	}
	tags := childTags(c[0])
	if i, j := slices.Index(tags, "GivenName"), slices.Index(tags, "Surname"); i < 0 || j < i || slices.Index(tags, "EmailAddresses") > j {
		t.Errorf("contact element order %v", tags)
	}
	doc = call(t, srv, `<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="tasks"/></m:SavedItemFolderId>
		<m:Items><t:Task><t:Subject>Write</t:Subject><t:DueDate>2025-05-01T00:00:00Z</t:DueDate></t:Task></m:Items></m:CreateItem>`)
	tid := first(t, doc, "Task/ItemId").SelectAttrValue("Id", "")
	doc = call(t, srv, `<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>
		<m:ItemIds><t:ItemId Id="`+tid+`"/></m:ItemIds></m:GetItem>`)
	if first(t, doc, "Task/Status").Text() != "NotStarted" || first(t, doc, "Task/DueDate").Text() != "2025-05-01T00:00:00Z" ||
		first(t, doc, "Task/ItemClass").Text() != "IPM.Task" {
		t.Errorf("task: %v", childTags(first(t, doc, "Task")))
	}

	for name, tc := range map[string]struct{ body, code string }{
		"end before start": {`<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:CalendarItem>
			<t:Start>2025-04-02T00:00:00Z</t:Start><t:End>2025-04-01T00:00:00Z</t:End></t:CalendarItem></m:Items></m:CreateItem>`, "ErrorCalendarEndDateIsEarlierThanStartDate"},
		"bad start": {`<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:CalendarItem>
			<t:Start>soon</t:Start></t:CalendarItem></m:Items></m:CreateItem>`, "ErrorSchemaValidation"},
		"bad status": {`<m:CreateItem><m:Items><t:Task><t:Status>Procrastinating</t:Status></t:Task></m:Items></m:CreateItem>`, "ErrorSchemaValidation"},
		"view backwards": {`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
			<m:CalendarView StartDate="2025-04-02T00:00:00Z" EndDate="2025-04-01T00:00:00Z"/>
			<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`, "ErrorCalendarEndDateIsEarlierThanStartDate"},
		"view no dates": {`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
			<m:CalendarView/><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`, "ErrorSchemaValidation"},
	} {
		status, doc := post(t, srv, envStart+tc.body+envEnd, map[string]string{"X-AnchorMailbox": "alice@example.com"})
		got := ""
		if status == 500 {
			got = faultCode(t, doc)
		} else if cs := codes(doc); len(cs) > 0 {
			got = cs[0]
		}
		if got != tc.code {
			t.Errorf("%s: %d %q, want %s", name, status, got, tc.code)
		}
	}
	if !strings.HasPrefix(xsDurationOf(26*60*60*1e9+61*1e9), "P1DT2H1M1S") {
		t.Errorf("xsDurationOf = %s", xsDurationOf(26*60*60*1e9+61*1e9))
	}
}

func TestCalendar_ContactsView(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	call(t, srv, `<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts"/></m:SavedItemFolderId><m:Items>
		<t:Contact><t:DisplayName>Zoe</t:DisplayName></t:Contact><t:Contact><t:FileAs>Baker, Ann</t:FileAs><t:DisplayName>Ann Baker</t:DisplayName></t:Contact>
		<t:Contact><t:DisplayName>Carl</t:DisplayName></t:Contact><t:DistributionList><t:DisplayName>Dev team</t:DisplayName></t:DistributionList></m:Items></m:CreateItem>`)
	names := func(view string) []string {
		doc := call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>
			<t:AdditionalProperties><t:FieldURI FieldURI="contacts:DisplayName"/></t:AdditionalProperties></m:ItemShape>`+view+`
			<m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>`)
		var out []string
		for _, e := range find(doc, "DisplayName") {
			out = append(out, e.Text())
		}
		return out
	}
	if got := names(`<m:ContactsView/>`); !slices.Equal(got, []string{"Ann Baker", "Carl", "Dev team", "Zoe"}) {
		t.Errorf("all contacts by name = %q", got)
	}
	if got := names(`<m:ContactsView InitialName="b" FinalName="d" MaxEntriesReturned="2"/>`); !slices.Equal(got, []string{"Ann Baker", "Carl"}) {
		t.Errorf("b..d, max 2 = %q", got)
	}
	if n := len(find(call(t, srv, `<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts"/></m:SavedItemFolderId>
		<m:Items><t:DistributionList><t:DisplayName>x</t:DisplayName></t:DistributionList></m:Items></m:CreateItem>`), "DistributionList/ItemId")); n != 1 {
		t.Errorf("DistributionList create: %d", n)
	}
}

func TestCalendar_FindPeopleAndGetPersona(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	doc := call(t, srv, `<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts"/></m:SavedItemFolderId><m:Items>
		<t:Contact><t:DisplayName>Zoe</t:DisplayName></t:Contact>
		<t:Contact><t:DisplayName>Carol Jones</t:DisplayName><t:EmailAddresses><t:Entry Key="EmailAddress1">carol@example.org</t:Entry></t:EmailAddresses></t:Contact>
		<t:DistributionList><t:DisplayName>Team</t:DisplayName></t:DistributionList></m:Items></m:CreateItem>`)
	carol := find(doc, "Contact/ItemId")[1].SelectAttrValue("Id", "")
	people := func(extra string) ([]string, string) {
		doc := call(t, srv, `<m:FindPeople><m:PersonaShape><t:BaseShape>IdOnly</t:BaseShape></m:PersonaShape>
			<m:IndexedPageItemView MaxEntriesReturned="10" Offset="0" BasePoint="Beginning"/>
			<m:ParentFolderId><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderId>`+extra+`</m:FindPeople>`)
		var out []string
		for _, e := range find(doc, "Persona/DisplayName") {
			out = append(out, e.Text())
		}
		return out, first(t, doc, "TotalNumberOfPeopleInView").Text()
	}
	if got, total := people(""); !slices.Equal(got, []string{"Carol Jones", "Zoe"}) || total != "2" {
		t.Errorf("FindPeople = %q (%s)", got, total)
	}
	if got, _ := people(`<m:QueryString>example.org</m:QueryString>`); !slices.Equal(got, []string{"Carol Jones"}) {
		t.Errorf("FindPeople by address = %q", got)
	}
	doc = call(t, srv, `<m:GetPersona><m:PersonaId Id="`+carol+`"/></m:GetPersona>`)
	if first(t, doc, "Persona/EmailAddress/EmailAddress").Text() != "carol@example.org" {
		t.Errorf("GetPersona lacks the address")
	}
	doc = call(t, srv, `<m:GetPersona><m:PersonaId Id="`+attachmentID(carol, 0)+`"/></m:GetPersona>`)
	if first(t, doc, "GetPersonaResponseMessage").SelectAttrValue("ResponseClass", "") != "Error" {
		t.Errorf("GetPersona of a bad id succeeded")
	}
}
