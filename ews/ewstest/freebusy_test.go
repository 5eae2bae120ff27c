package ewstest

import (
	"slices"
	"testing"
)

func TestFreeBusy_GetUserAvailability(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	createCalendarItem(t, srv, "Standup", "2025-04-01T09:00:00Z", "2025-04-01T09:30:00Z", "")
	createCalendarItem(t, srv, "Maybe", "2025-04-01T09:15:00Z", "2025-04-01T11:00:00Z", `<t:LegacyFreeBusyStatus>Tentative</t:LegacyFreeBusyStatus>`)
	createCalendarItem(t, srv, "Lunch", "2025-04-01T12:00:00Z", "2025-04-01T13:00:00Z", `<t:LegacyFreeBusyStatus>Free</t:LegacyFreeBusyStatus>`)
	call(t, srv, `<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items>
		<t:CalendarItem><t:Subject>Doctor</t:Subject><t:Sensitivity>Private</t:Sensitivity><t:Start>2025-04-01T14:00:00Z</t:Start>
		<t:End>2025-04-01T15:00:00Z</t:End><t:LegacyFreeBusyStatus>OOF</t:LegacyFreeBusyStatus></t:CalendarItem></m:Items></m:CreateItem>`)
	req := func(view, start, end string) string {
		return `<m:GetUserAvailabilityRequest><t:TimeZone><t:Bias>-60</t:Bias></t:TimeZone><m:MailboxDataArray>
			<t:MailboxData><t:Email><t:Address>alice@example.com</t:Address></t:Email><t:AttendeeType>Required</t:AttendeeType></t:MailboxData>
			<t:MailboxData><t:Email><t:Address>nobody@example.com</t:Address></t:Email><t:AttendeeType>Required</t:AttendeeType></t:MailboxData>
			</m:MailboxDataArray><t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>` + start + `</t:StartTime><t:EndTime>` + end + `</t:EndTime></t:TimeWindow>
			<t:MergedFreeBusyIntervalInMinutes>60</t:MergedFreeBusyIntervalInMinutes><t:RequestedView>` + view + `</t:RequestedView></t:FreeBusyViewOptions>
			</m:GetUserAvailabilityRequest>`
	}
	// 09:00 to 17:00 local (UTC+1) is 08:00 to 16:00 UTC.
	doc := call(t, srv, req("DetailedMerged", "2025-04-01T09:00:00", "2025-04-01T17:00:00"))
	resp := find(doc, "FreeBusyResponse")
	if len(resp) != 2 {
		t.Fatalf("%d FreeBusyResponse", len(resp))
	}
	if got := codes(doc); !slices.Equal(got, []string{"NoError", "ErrorMailRecipientNotFound"}) {
		t.Errorf("codes = %v", got)
	}
	// Hours (UTC) 08 09 10 11 12 13 14 15: Standup busy + Maybe tentative
	// at 09, Maybe at 10, Lunch free, Doctor OOF at 14.
	if got := resp[0].FindElement(".//MergedFreeBusy").Text(); got != "02100030" {
		t.Errorf("MergedFreeBusy = %s, want 02100030", got)
	}
	var evs []string
	for _, e := range resp[0].FindElements(".//CalendarEvent") {
		s := e.FindElement("./StartTime").Text() + " " + e.FindElement("./BusyType").Text()
		if sub := e.FindElement(".//Subject"); sub != nil {
			s += " " + sub.Text()
		}
		evs = append(evs, s)
	}
	want := []string{"2025-04-01T10:00:00 Busy Standup", "2025-04-01T10:15:00 Tentative Maybe", "2025-04-01T15:00:00 OOF"}
	if !slices.Equal(evs, want) {
		t.Errorf("events = %q, want %q", evs, want)
	}
	doc = call(t, srv, req("MergedOnly", "2025-04-01T09:00:00", "2025-04-01T17:00:00"))
	if len(find(doc, "CalendarEvent")) != 0 || len(find(doc, "MergedFreeBusy")) != 1 {
		t.Errorf("MergedOnly returned events")
	}
	for name, tc := range map[string]struct{ body, code string }{
		"backwards": {req("Detailed", "2025-04-02T00:00:00", "2025-04-01T00:00:00"), "ErrorInvalidTimeInterval"},
		"too long":  {req("Detailed", "2025-01-01T00:00:00", "2025-04-01T00:00:00"), "ErrorTimeIntervalTooBig"},
		"bad view":  {req("Everything", "2025-04-01T00:00:00", "2025-04-02T00:00:00"), "ErrorSchemaValidation"},
		"bad time":  {req("Detailed", "soon", "2025-04-02T00:00:00"), "ErrorSchemaValidation"},
	} {
		status, doc := post(t, srv, envStart+tc.body+envEnd, map[string]string{"X-AnchorMailbox": "alice@example.com"})
		if status != 500 || faultCode(t, doc) != tc.code {
			t.Errorf("%s: %d %s, want %s", name, status, faultCode(t, doc), tc.code)
		}
	}
}
