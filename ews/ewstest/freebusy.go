package ewstest

import (
	"strconv"
	"strings"
	"time"
)

// GetUserAvailability (free/busy) computed from the calendar items in
// each requested mailbox's Calendar folder.

// busyDigits are the MergedFreeBusy digits by LegacyFreeBusyStatus.
var busyDigits = map[string]byte{"Free": '0', "Tentative": '1', "Busy": '2', "OOF": '3', "WorkingElsewhere": '4', "NoData": '5'}

var validFreeBusyViews = map[string]bool{"None": true, "MergedOnly": true, "FreeBusy": true, "FreeBusyMerged": true,
	"Detailed": true, "DetailedMerged": true}

// busyEvent is one calendar item as free/busy sees it.
type busyEvent struct {
	start, end                      time.Time
	status, subject, location, id   string
	isMeeting, isRecurring, private bool
}

func opGetUserAvailability(r *request) error {
	// The request's time zone: Bias in minutes west of UTC (daylight
	// saving rules are not applied).
	bias := 0
	if tz := childT(r.body, "TimeZone"); tz != nil {
		if b := textOf(childT(tz, "Bias")); b != "" {
			n, err := strconv.Atoi(b)
			if err != nil {
				return schemaFault("the TimeZone Bias %q is invalid", b)
			}
			bias = n
		}
	}
	loc := time.FixedZone("request", -bias*60)
	opts := childT(r.body, "FreeBusyViewOptions")
	if opts == nil {
		return &Fault{Code: "ErrorInvalidRequest", Message: "The request is invalid: only FreeBusyViewOptions is supported by this server."}
	}
	win := childT(opts, "TimeWindow")
	start, ok1 := parseLocalTime(textOf(childT(win, "StartTime")), loc)
	end, ok2 := parseLocalTime(textOf(childT(win, "EndTime")), loc)
	if win == nil || !ok1 || !ok2 {
		return schemaFault("FreeBusyViewOptions needs a TimeWindow with StartTime and EndTime")
	}
	if !end.After(start) {
		return &Fault{Code: "ErrorInvalidTimeInterval", Message: "The time interval is invalid."}
	}
	if end.Sub(start) > 62*24*time.Hour {
		return &Fault{Code: "ErrorTimeIntervalTooBig", Message: "The time window exceeds the allowed 62 days."}
	}
	interval := 30
	if s := textOf(childT(opts, "MergedFreeBusyIntervalInMinutes")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 5 || n > 1440 {
			return schemaFault("MergedFreeBusyIntervalInMinutes must be between 5 and 1440")
		}
		interval = n
	}
	view := textOf(childT(opts, "RequestedView"))
	if view == "" {
		view = "FreeBusy"
	}
	if !validFreeBusyViews[view] {
		return schemaFault("the value %q is invalid for RequestedView", view)
	}
	arr := childM(r.body, "MailboxDataArray")
	if arr == nil || len(arr.ChildElements()) == 0 {
		return schemaFault("MailboxDataArray must hold at least one MailboxData")
	}
	r.w.open("m:GetUserAvailabilityResponse", "xmlns:m", nsM, "xmlns:t", nsT)
	r.w.open("m:FreeBusyResponseArray")
	for _, md := range arr.ChildElements() {
		addr := textOf(childT(childT(md, "Email"), "Address"))
		r.w.open("m:FreeBusyResponse")
		m := r.s.Mailbox(addr)
		if m == nil {
			r.w.status("m:ResponseMessage", "Error", "No mailbox with such address was found.", "ErrorMailRecipientNotFound")
			r.w.close("m:ResponseMessage")
			r.w.open("m:FreeBusyView")
			r.w.elem("t:FreeBusyViewType", "None")
			r.w.close("m:FreeBusyView")
			r.w.close("m:FreeBusyResponse")
			continue
		}
		events := m.busyEvents(start, end)
		r.w.open("m:ResponseMessage", "ResponseClass", "Success")
		r.w.elem("m:ResponseCode", "NoError")
		r.w.close("m:ResponseMessage")
		r.w.open("m:FreeBusyView")
		r.w.elem("t:FreeBusyViewType", view)
		if strings.Contains(view, "Merged") {
			r.w.elem("t:MergedFreeBusy", mergedFreeBusy(events, start, end, time.Duration(interval)*time.Minute))
		}
		if view != "None" && view != "MergedOnly" {
			r.w.open("t:CalendarEventArray")
			for _, e := range events {
				r.w.open("t:CalendarEvent")
				r.w.elem("t:StartTime", e.start.In(loc).Format("2006-01-02T15:04:05"))
				r.w.elem("t:EndTime", e.end.In(loc).Format("2006-01-02T15:04:05"))
				r.w.elem("t:BusyType", e.status)
				if strings.HasPrefix(view, "Detailed") {
					r.w.open("t:CalendarEventDetails")
					r.w.elem("t:ID", e.id)
					if !e.private {
						r.w.elem("t:Subject", e.subject)
						r.w.elem("t:Location", e.location)
					}
					r.w.elemBool("t:IsMeeting", e.isMeeting)
					r.w.elemBool("t:IsRecurring", e.isRecurring)
					r.w.elemBool("t:IsException", false)
					r.w.elemBool("t:IsReminderSet", false)
					r.w.elemBool("t:IsPrivate", e.private)
					r.w.close("t:CalendarEventDetails")
				}
				r.w.close("t:CalendarEvent")
			}
			r.w.close("t:CalendarEventArray")
		}
		writeWorkingHours(r.w)
		r.w.close("m:FreeBusyView")
		r.w.close("m:FreeBusyResponse")
	}
	r.w.close("m:FreeBusyResponseArray")
	r.w.close("m:GetUserAvailabilityResponse")
	return nil
}

// parseLocalTime parses a TimeWindow time: local to loc when it has no
// offset.
func parseLocalTime(s string, loc *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	for _, l := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// busyEvents lists the calendar items overlapping [start, end) that are
// not free, ordered by start.
func (m *Mailbox) busyEvents(start, end time.Time) []busyEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.dist["calendar"]
	var live []*item
	for _, it := range f.entries {
		if !it.deleted {
			live = append(live, it)
		}
	}
	var out []busyEvent
	for _, it := range (&calendarView{start: start, end: end}).apply(live) {
		status, _ := bagValue(it, "LegacyFreeBusyStatus", "").(string)
		if status == "" {
			status = "Busy"
		}
		if status == "Free" {
			continue
		}
		s, _ := bagValue(it, "Start", "").(time.Time)
		e, _ := bagValue(it, "End", "").(time.Time)
		loc, _ := bagValue(it, "Location", "").(string)
		b := it.msg.bag
		out = append(out, busyEvent{start: s, end: e, status: status, subject: it.msg.Subject, location: loc,
			id: it.id, private: it.msg.Sensitivity == "Private",
			isMeeting:   b != nil && (b.props["RequiredAttendees"] != nil || b.props["OptionalAttendees"] != nil),
			isRecurring: b != nil && b.props["Recurrence"] != nil})
	}
	return out
}

// mergedFreeBusy is one digit per interval: the busiest status of the
// events overlapping it.
func mergedFreeBusy(events []busyEvent, start, end time.Time, step time.Duration) string {
	var b strings.Builder
	rank := func(c byte) int {
		// Free < Tentative < WorkingElsewhere < Busy < OOF.
		return strings.IndexByte("01423", c)
	}
	for t := start; t.Before(end); t = t.Add(step) {
		d := byte('0')
		for _, e := range events {
			if e.start.Before(t.Add(step)) && e.end.After(t) {
				if c, ok := busyDigits[e.status]; ok && rank(c) > rank(d) {
					d = c
				}
			}
		}
		b.WriteByte(d)
	}
	return b.String()
}

// writeWorkingHours writes Monday to Friday, 08:00 to 17:00 UTC.
func writeWorkingHours(w *xw) {
	w.open("t:WorkingHours")
	w.open("t:TimeZone")
	w.elem("t:Bias", "0")
	for _, n := range []string{"t:StandardTime", "t:DaylightTime"} {
		w.open(n)
		w.elem("t:Bias", "0")
		w.elem("t:Time", "00:00:00")
		w.elem("t:DayOrder", "1")
		w.elem("t:Month", "1")
		w.elem("t:DayOfWeek", "Sunday")
		w.close(n)
	}
	w.close("t:TimeZone")
	w.open("t:WorkingPeriodArray")
	w.open("t:WorkingPeriod")
	w.elem("t:DayOfWeek", "Monday Tuesday Wednesday Thursday Friday")
	w.elem("t:StartTimeInMinutes", "480")
	w.elem("t:EndTimeInMinutes", "1020")
	w.close("t:WorkingPeriod")
	w.close("t:WorkingPeriodArray")
	w.close("t:WorkingHours")
}
