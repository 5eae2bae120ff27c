package ewstest

import (
	"crypto/md5"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

// Non-mail items (CalendarItem, Contact, Task, DistributionList): the
// properties of the derived type are kept as the XML elements the client
// sent, in a property bag keyed by element name, and written back in the
// schema's element order. The ItemType properties shared with messages
// (subject, body, categories, importance, ...) live in Message as for mail.

// propBag holds the type-specific properties of a non-mail item. A bag is
// never modified in place: updates replace it, so Message copies may share
// it.
type propBag struct {
	props map[string]*etree.Element
}

// typeSchemas lists, per item element, the properties of the derived type
// in types.xsd order.
var typeSchemas = map[string][]string{
	"CalendarItem": strings.Fields(`UID RecurrenceId DateTimeStamp Start End OriginalStart IsAllDayEvent
		LegacyFreeBusyStatus Location When IsMeeting IsCancelled IsRecurring MeetingRequestWasSent
		IsResponseRequested CalendarItemType MyResponseType Organizer RequiredAttendees OptionalAttendees
		Resources ConflictingMeetingCount AdjacentMeetingCount ConflictingMeetings AdjacentMeetings Duration
		TimeZone AppointmentReplyTime AppointmentSequenceNumber AppointmentState Recurrence FirstOccurrence
		LastOccurrence ModifiedOccurrences DeletedOccurrences MeetingTimeZone StartTimeZone EndTimeZone
		ConferenceType AllowNewTimeProposal IsOnlineMeeting MeetingWorkspaceUrl NetShowUrl EnhancedLocation
		StartWallClock EndWallClock StartTimeZoneId EndTimeZoneId IntendedFreeBusyStatus JoinOnlineMeetingUrl
		OnlineMeetingSettings IsOrganizer CalendarActivityData DoNotForwardMeeting`),
	"Contact": strings.Fields(`FileAs FileAsMapping DisplayName GivenName Initials MiddleName Nickname
		CompleteName CompanyName EmailAddresses AbchEmailAddresses PhysicalAddresses PhoneNumbers AssistantName
		Birthday BusinessHomePage Children Companies ContactSource Department Generation ImAddresses JobTitle
		Manager Mileage OfficeLocation PostalAddressIndex Profession SpouseName Surname WeddingAnniversary
		HasPicture PhoneticFullName PhoneticFirstName PhoneticLastName Alias Notes Photo UserSMIMECertificate
		MSExchangeCertificate DirectoryId ManagerMailbox DirectReports`),
	"Task": strings.Fields(`ActualWork AssignedTime BillingInformation ChangeCount Companies CompleteDate
		Contacts DelegationState Delegator DueDate IsAssignmentEditable IsComplete IsRecurring IsTeamTask
		Mileage Owner PercentComplete Recurrence StartDate Status StatusDescription TotalWork`),
	"DistributionList": strings.Fields(`DisplayName FileAs ContactSource Members`),
}

// typeIndex maps element name -> property -> schema position.
var typeIndex = func() map[string]map[string]int {
	out := map[string]map[string]int{}
	for k, names := range typeSchemas {
		out[k] = map[string]int{}
		for i, n := range names {
			out[k][n] = i
		}
	}
	return out
}()

// itemClassFor is the ItemClass an item element gets by default.
func itemClassFor(tag string) string {
	switch tag {
	case "CalendarItem":
		return "IPM.Appointment"
	case "Contact":
		return "IPM.Contact"
	case "Task":
		return "IPM.Task"
	case "DistributionList":
		return "IPM.DistList"
	case "PostItem":
		return "IPM.Post"
	}
	return ""
}

// kindOf is the item element of a stored item's class, without prefix.
func kindOf(class string) string {
	if strings.HasPrefix(class, "IPM.DistList") {
		return "DistributionList"
	}
	return strings.TrimPrefix(itemElement(class), "t:")
}

// validateBagValue checks the simple-typed properties clients commonly
// set, so that bad input is a schema error rather than stored garbage.
func validateBagValue(e *etree.Element) error {
	v := strings.TrimSpace(e.Text())
	switch bagKinds[e.Tag] {
	case "time":
		if _, ok := parseXSDateTime(v); !ok {
			return schemaFault("the value %q of %s is not a valid xs:dateTime", v, e.Tag)
		}
	case "bool":
		if _, err := parseBool(v); err != nil {
			return err
		}
	case "int":
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return schemaFault("the value %q of %s is not a number", v, e.Tag)
		}
	}
	switch e.Tag {
	case "LegacyFreeBusyStatus", "IntendedFreeBusyStatus":
		switch v {
		case "Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData":
		default:
			return schemaFault("the value %q is invalid for %s", v, e.Tag)
		}
	case "Status":
		switch v {
		case "NotStarted", "InProgress", "Completed", "WaitingOnOthers", "Deferred":
		default:
			return schemaFault("the value %q is invalid for Status", v)
		}
	}
	return nil
}

// bagKinds types the simple properties for restrictions, sorting and
// validation.
var bagKinds = map[string]string{
	"Start": "time", "End": "time", "OriginalStart": "time", "DateTimeStamp": "time", "AppointmentReplyTime": "time",
	"DueDate": "time", "StartDate": "time", "CompleteDate": "time", "AssignedTime": "time", "Birthday": "time",
	"WeddingAnniversary": "time", "RecurrenceId": "time",
	"IsAllDayEvent": "bool", "IsMeeting": "bool", "IsCancelled": "bool", "IsRecurring": "bool",
	"MeetingRequestWasSent": "bool", "IsResponseRequested": "bool", "AllowNewTimeProposal": "bool",
	"IsOnlineMeeting": "bool", "IsComplete": "bool", "IsTeamTask": "bool", "IsAssignmentEditable": "bool",
	"HasPicture": "bool", "IsOrganizer": "bool",
	"PercentComplete": "int", "ActualWork": "int", "TotalWork": "int", "ChangeCount": "int",
	"AppointmentSequenceNumber": "int", "ConflictingMeetingCount": "int", "AdjacentMeetingCount": "int",
}

// parseBag reads the derived-type properties of an item element into
// msg (and gives msg the element's default ItemClass).
func parseBag(msg *Message, el *etree.Element) error {
	if msg.ItemClass == "" {
		msg.ItemClass = itemClassFor(el.Tag)
	}
	idx, ok := typeIndex[el.Tag]
	if !ok {
		return nil
	}
	bag := &propBag{props: map[string]*etree.Element{}}
	for _, c := range el.ChildElements() {
		if _, known := idx[c.Tag]; !known {
			continue
		}
		if err := validateBagValue(c); err != nil {
			return err
		}
		bag.props[c.Tag] = c.Copy()
	}
	if s, e := bag.props["Start"], bag.props["End"]; s != nil && e != nil {
		st, _ := parseXSDateTime(s.Text())
		en, _ := parseXSDateTime(e.Text())
		if en.Before(st) {
			return codeErr("ErrorCalendarEndDateIsEarlierThanStartDate", "The end date is earlier than the start date.")
		}
	}
	msg.bag = bag
	return nil
}

// bagField returns the element of a derived-type property in an
// UpdateItem payload, or nil.
func bagField(payload *etree.Element, name string) *etree.Element {
	if _, ok := typeIndex[payload.Tag][name]; !ok {
		return nil
	}
	return childT(payload, name)
}

// isBagField reports whether name is a derived-type property of any
// non-mail item.
func isBagField(name string) bool {
	for _, idx := range typeIndex {
		if _, ok := idx[name]; ok {
			return true
		}
	}
	return false
}

// updateBagLocked applies SetItemField (element) and DeleteItemField
// (nil) changes of derived-type properties as one content change.
func (m *Mailbox) updateBagLocked(it *item, changes map[string]*etree.Element) error {
	if len(changes) == 0 {
		return nil
	}
	nb := &propBag{props: map[string]*etree.Element{}}
	if it.msg.bag != nil {
		for k, v := range it.msg.bag.props {
			nb.props[k] = v
		}
	}
	for k, v := range changes {
		if v == nil {
			delete(nb.props, k)
			continue
		}
		if err := validateBagValue(v); err != nil {
			return err
		}
		nb.props[k] = v.Copy()
	}
	now := m.now()
	cn := m.nextCN()
	it.msg.bag = nb
	it.changeCN = cn
	it.modified = now
	m.touchContent(it.folder, cn, now, true)
	m.publish(m.itemEvent(notify.ModifiedEvent, it, now))
	return nil
}

// writeElemT writes a stored element and its subtree in the types
// namespace.
func writeElemT(w *xw, e *etree.Element) {
	attrs := make([]string, 0, 2*len(e.Attr))
	for _, a := range e.Attr {
		if a.Space == "xmlns" || a.Key == "xmlns" {
			continue
		}
		attrs = append(attrs, a.Key, a.Value)
	}
	kids := e.ChildElements()
	if len(kids) == 0 && e.Text() == "" {
		w.empty("t:"+e.Tag, attrs...)
		return
	}
	w.open("t:"+e.Tag, attrs...)
	if len(kids) == 0 {
		w.raw(escapeText(e.Text()))
	}
	for _, c := range kids {
		writeElemT(w, c)
	}
	w.close("t:" + e.Tag)
}

// computedBag returns the value Exchange computes for a derived-type
// property the client did not set, or "" when there is none.
func (m *Mailbox) computedBag(it *item, kind, name string) string {
	b := it.msg.bag
	has := func(n string) bool { return b != nil && b.props[n] != nil }
	switch kind + "." + name {
	case "CalendarItem.UID":
		sum := md5.Sum([]byte(it.id))
		return "040000008200E00074C5B7101A82E008" + strings.ToUpper(hex.EncodeToString(sum[:]))
	case "CalendarItem.IsAllDayEvent", "CalendarItem.IsCancelled", "CalendarItem.IsRecurring",
		"CalendarItem.MeetingRequestWasSent", "Task.IsComplete", "Task.IsRecurring", "Task.IsTeamTask":
		return "false"
	case "CalendarItem.IsMeeting", "CalendarItem.IsResponseRequested":
		return strconv.FormatBool(has("RequiredAttendees") || has("OptionalAttendees") || has("Resources"))
	case "CalendarItem.LegacyFreeBusyStatus":
		return "Busy"
	case "CalendarItem.CalendarItemType":
		return "Single"
	case "CalendarItem.MyResponseType":
		return "Organizer"
	case "CalendarItem.Duration":
		if has("Start") && has("End") {
			s, _ := parseXSDateTime(b.props["Start"].Text())
			e, _ := parseXSDateTime(b.props["End"].Text())
			return xsDurationOf(e.Sub(s))
		}
	case "Task.Status":
		return "NotStarted"
	case "Task.PercentComplete", "Task.ActualWork", "Task.TotalWork":
		return "0"
	case "Task.ChangeCount":
		return "1"
	case "Task.DelegationState":
		return "NoMatch"
	}
	return ""
}

func xsDurationOf(d time.Duration) string {
	if d <= 0 {
		return "PT0S"
	}
	s := "P"
	if days := int(d / (24 * time.Hour)); days > 0 {
		s += strconv.Itoa(days) + "D"
		d -= time.Duration(days) * 24 * time.Hour
	}
	s += "T"
	h, mi, se := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	if h > 0 {
		s += strconv.Itoa(h) + "H"
	}
	if mi > 0 {
		s += strconv.Itoa(mi) + "M"
	}
	if se > 0 || s == "PT" {
		s += strconv.Itoa(se) + "S"
	}
	return s
}

// bagDefault lists the derived-type properties in each type's Default
// shape.
var bagDefault = map[string]map[string]bool{
	"CalendarItem": setOf(`UID Start End IsAllDayEvent LegacyFreeBusyStatus Location IsMeeting IsCancelled
		IsRecurring MeetingRequestWasSent IsResponseRequested CalendarItemType MyResponseType Organizer
		RequiredAttendees OptionalAttendees Resources Duration`),
	"Contact": setOf(`FileAs DisplayName GivenName Initials MiddleName Nickname CompleteName CompanyName
		EmailAddresses PhysicalAddresses PhoneNumbers AssistantName Birthday BusinessHomePage Children Companies
		ContactSource Department Generation ImAddresses JobTitle Manager Mileage OfficeLocation PostalAddressIndex
		Profession SpouseName Surname WeddingAnniversary`),
	"Task": setOf(`ActualWork AssignedTime BillingInformation ChangeCount Companies CompleteDate Contacts
		DelegationState Delegator DueDate IsAssignmentEditable IsComplete IsRecurring IsTeamTask Mileage Owner
		PercentComplete Recurrence StartDate Status StatusDescription TotalWork`),
	"DistributionList": setOf(`DisplayName FileAs ContactSource Members`),
}

func setOf(s string) map[string]bool {
	out := map[string]bool{}
	for _, f := range strings.Fields(s) {
		out[f] = true
	}
	return out
}

// writeBag writes the derived-type properties of a non-mail item the
// shape asks for, in schema order. FindItem and SyncFolderItems (full
// false) leave out the attendee lists, as they do recipients.
func (m *Mailbox) writeBag(w *xw, it *item, sh *shape, full itemShapeFull) {
	kind := kindOf(it.msg.ItemClass)
	names, ok := typeSchemas[kind]
	if !ok {
		return
	}
	b := it.msg.bag
	for _, n := range names {
		var inDefault bool
		switch n {
		case "RequiredAttendees", "OptionalAttendees", "Resources", "Members":
			if !sh.wantDetail(n, full) {
				continue
			}
		default:
			inDefault = bagDefault[kind][n]
			if !sh.want(n, inDefault) && !sh.wantsIndexed(n) {
				continue
			}
		}
		if b != nil && b.props[n] != nil {
			writeElemT(w, b.props[n])
			continue
		}
		if kind == "CalendarItem" && n == "Organizer" {
			m.writeMailbox(w, "t:Organizer", Address{Name: m.user, Email: m.address})
			continue
		}
		if v := m.computedBag(it, kind, n); v != "" {
			w.elem("t:"+n, v)
		}
	}
}

// wantsIndexed reports whether the shape names entries of the indexed
// property n (contacts:EmailAddress with a FieldIndex for EmailAddresses,
// contacts:PhysicalAddress:Street for PhysicalAddresses); all of the
// property's entries are then returned.
func (sh *shape) wantsIndexed(n string) bool {
	for single, plural := range indexedBagFields {
		if plural == n && sh.props[single] {
			return true
		}
	}
	if n == "PhysicalAddresses" {
		for p := range sh.props {
			if strings.HasPrefix(p, "PhysicalAddress:") {
				return true
			}
		}
	}
	return false
}

// bagValue is the restriction value of a derived-type property: typed
// for the simple ones, the texts of the subtree for complex ones; nil
// when absent.
func bagValue(it *item, name, index string) any {
	b := it.msg.bag
	if b == nil || b.props[name] == nil {
		return nil
	}
	e := b.props[name]
	if index != "" {
		for _, c := range e.ChildElements() {
			if attr(c, "Key") == index {
				return strings.TrimSpace(c.Text())
			}
		}
		return nil
	}
	kids := e.ChildElements()
	if len(kids) > 0 {
		var out []string
		var walk func(*etree.Element)
		walk = func(x *etree.Element) {
			if t := strings.TrimSpace(x.Text()); t != "" && len(x.ChildElements()) == 0 {
				out = append(out, t)
			}
			for _, c := range x.ChildElements() {
				walk(c)
			}
		}
		walk(e)
		if out == nil {
			out = []string{}
		}
		return out
	}
	v := strings.TrimSpace(e.Text())
	switch bagKinds[name] {
	case "time":
		t, _ := parseXSDateTime(v)
		return t
	case "bool":
		x, _ := parseBool(v)
		return x
	case "int":
		f, _ := strconv.ParseFloat(v, 64)
		return int64(f)
	}
	return v
}

// bagSample is a zero value of a derived-type property's restriction type.
func bagSample(name string) any {
	switch bagKinds[name] {
	case "time":
		return time.Time{}
	case "bool":
		return false
	case "int":
		return int64(0)
	}
	return ""
}

// indexedBagFields maps IndexedFieldURI paths to the property holding
// their entries.
var indexedBagFields = map[string]string{"EmailAddress": "EmailAddresses", "PhoneNumber": "PhoneNumbers", "ImAddress": "ImAddresses"}

// bagFieldValue resolves the restriction and sort paths of the
// derived-type properties (calendar items, contacts, tasks).
func bagFieldValue(uri, index string) (getter[*item], bool) {
	name, err := fieldName(uri)
	if err != nil {
		return nil, false
	}
	if p, ok := indexedBagFields[name]; ok && index != "" {
		return func(it *item) any {
			if it.id == "" && it.msg.bag == nil {
				return "" // the compile-time probe
			}
			return bagValue(it, p, index)
		}, true
	}
	if !isBagField(name) {
		return nil, false
	}
	sample := bagSample(name)
	return func(it *item) any {
		if it.id == "" && it.msg.bag == nil {
			return sample // the compile-time probe
		}
		return bagValue(it, name, "")
	}, true
}

// calendarView is a parsed m:CalendarView.
type calendarView struct {
	max        int
	start, end time.Time
}

func parseCalendarView(el *etree.Element) (*calendarView, error) {
	v := &calendarView{}
	s, ok1 := parseXSDateTime(attr(el, "StartDate"))
	e, ok2 := parseXSDateTime(attr(el, "EndDate"))
	if !ok1 || !ok2 {
		return nil, schemaFault("CalendarView needs valid StartDate and EndDate attributes")
	}
	if e.Before(s) {
		return nil, codeErr("ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate")
	}
	if e.Sub(s) > 2*366*24*time.Hour {
		return nil, codeErr("ErrorCalendarViewRangeTooBig", "The time range between StartDate and EndDate is too big.")
	}
	v.start, v.end = s, e
	var err error
	if v.max, err = maxEntries(el); err != nil {
		return nil, err
	}
	return v, nil
}

// apply keeps the calendar items overlapping the view's range, ordered by
// start time.
func (v *calendarView) apply(list []*item) []*item {
	var out []*item
	for _, it := range list {
		s, ok1 := bagValue(it, "Start", "").(time.Time)
		e, ok2 := bagValue(it, "End", "").(time.Time)
		if !ok1 || !ok2 {
			continue
		}
		if s.Before(v.end) && e.After(v.start) || s.Equal(e) && !s.Before(v.start) && s.Before(v.end) {
			out = append(out, it)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a := bagValue(out[i], "Start", "").(time.Time)
		b := bagValue(out[j], "Start", "").(time.Time)
		return a.Before(b)
	})
	return out
}
