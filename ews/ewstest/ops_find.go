package ewstest

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// FindItem views beyond indexed paging: FractionalPageItemView and
// grouping (GroupBy, DistinguishedGroupBy).

// fractionalView is a parsed FractionalPageItemView.
type fractionalView struct {
	max                    int
	numerator, denominator int
}

func parseFractionalView(el *etree.Element) (fractionalView, error) {
	var v fractionalView
	var err error
	if v.max, err = maxEntries(el); err != nil {
		return v, err
	}
	var err1, err2 error
	v.numerator, err1 = strconv.Atoi(attr(el, "Numerator"))
	v.denominator, err2 = strconv.Atoi(attr(el, "Denominator"))
	if err1 != nil || err2 != nil {
		return v, schemaFault("FractionalPageItemView needs integer Numerator and Denominator attributes")
	}
	if v.numerator < 0 || v.denominator <= 0 || v.numerator > v.denominator {
		return v, codeErr("ErrorInvalidFractionalPagingParameters", "The fractional paging parameters are invalid.")
	}
	return v, nil
}

// window returns the rows [lo, hi) of n the view selects.
func (v fractionalView) window(n, limit int) (lo, hi int) {
	lo = int(int64(v.numerator) * int64(n) / int64(v.denominator))
	max := v.max
	if max == 0 || max > limit {
		max = limit
	}
	return lo, min(lo+max, n)
}

// grouping is a parsed GroupBy or DistinguishedGroupBy.
type grouping struct {
	key       getter[*item]
	aggregate getter[*item]
	maximum   bool // Aggregate="Maximum"
	desc      bool // groups in descending aggregate order
}

func parseGroupBy(el *etree.Element) (*grouping, error) {
	g := &grouping{}
	if el.Tag == "DistinguishedGroupBy" {
		if v := textOf(childT(el, "StandardGroupBy")); v != "ConversationTopic" {
			return nil, schemaFault("the value %q is invalid for StandardGroupBy", v)
		}
		g.key = itemFieldValues["ConversationTopic"]
		g.aggregate, g.maximum, g.desc = itemFieldValues["DateTimeReceived"], true, true
		return g, nil
	}
	switch attr(el, "Order") {
	case "Ascending":
	case "Descending":
		g.desc = true
	default:
		return nil, schemaFault("the Order attribute of GroupBy is missing or invalid")
	}
	key, err := restrictionPath(el)
	if err != nil {
		return nil, codeErr("ErrorUnsupportedPathForSortGroup", "The property path is not supported for grouping by this server.")
	}
	g.key = key
	agg := childT(el, "AggregateOn")
	if agg == nil {
		return nil, schemaFault("GroupBy needs AggregateOn")
	}
	switch attr(agg, "Aggregate") {
	case "Minimum":
	case "Maximum":
		g.maximum = true
	default:
		return nil, schemaFault("the Aggregate attribute is missing or invalid")
	}
	if g.aggregate, err = restrictionPath(agg); err != nil {
		return nil, codeErr("ErrorUnsupportedPathForSortGroup", "The property path is not supported for grouping by this server.")
	}
	return g, nil
}

// itemGroup is one group of a grouped FindItem.
type itemGroup struct {
	index string
	items []*item
	agg   any
}

// groupValue formats a group key as GroupIndex text.
func groupValue(v any) string {
	switch x := sortValue(v).(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05Z")
	}
	return ""
}

// group splits the sorted list into groups (items keep their order) and
// orders the groups by their aggregate value.
func (g *grouping) group(list []*item) []*itemGroup {
	var groups []*itemGroup
	byKey := map[string]*itemGroup{}
	for _, it := range list {
		k := groupValue(g.key(it))
		gr := byKey[strings.ToLower(k)]
		if gr == nil {
			gr = &itemGroup{index: k}
			byKey[strings.ToLower(k)] = gr
			groups = append(groups, gr)
		}
		gr.items = append(gr.items, it)
		a := sortValue(g.aggregate(it))
		if gr.agg == nil {
			gr.agg = a
		} else if c := less(a, gr.agg); g.maximum && c > 0 || !g.maximum && c < 0 {
			gr.agg = a
		}
	}
	sort.SliceStable(groups, func(i, j int) bool {
		c := less(groups[i].agg, groups[j].agg)
		if g.desc {
			c = -c
		}
		return c < 0
	})
	return groups
}

// writeGroups writes t:Groups holding the rows [lo, hi) of the flattened
// groups.
func (m *Mailbox) writeGroups(w *xw, groups []*itemGroup, lo, hi int, sh *shape) {
	w.open("t:Groups")
	row := 0
	for _, gr := range groups {
		start, end := max(lo-row, 0), min(hi-row, len(gr.items))
		row += len(gr.items)
		if start >= end {
			continue
		}
		w.open("t:GroupedItems")
		w.elem("t:GroupIndex", gr.index)
		w.open("t:Items")
		for _, it := range gr.items[start:end] {
			m.writeItem(w, it, sh, false)
		}
		w.close("t:Items")
		w.close("t:GroupedItems")
	}
	w.close("t:Groups")
}

// flatten lists the groups' items in group order.
func flatten(groups []*itemGroup) []*item {
	var out []*item
	for _, g := range groups {
		out = append(out, g.items...)
	}
	return out
}

// pageView is a parsed IndexedPage*View.
type pageView struct {
	max     int // 0 = unlimited
	offset  int
	fromEnd bool
}

func parsePageView(el *etree.Element) (pageView, error) {
	var v pageView
	if el == nil {
		return v, nil
	}
	if el.Tag != "IndexedPageItemView" && el.Tag != "IndexedPageFolderView" {
		return v, &Fault{Code: "ErrorInvalidRequest", Message: "The request is invalid: only indexed paging is supported by this server."}
	}
	var err error
	if v.max, err = maxEntries(el); err != nil {
		return v, err
	}
	n, err := strconv.Atoi(attr(el, "Offset"))
	if err != nil || n < 0 {
		return v, schemaFault("the Offset attribute of %s is invalid", el.Tag)
	}
	v.offset = n
	switch attr(el, "BasePoint") {
	case "Beginning":
	case "End":
		v.fromEnd = true
	default:
		return v, schemaFault("the BasePoint attribute of %s is invalid", el.Tag)
	}
	return v, nil
}

// window applies the view to n rows: it returns [lo, hi) and the
// IndexedPagingOffset to report.
func (v pageView) window(n int) (lo, hi, next int) {
	if v.fromEnd {
		hi = max(n-v.offset, 0)
		lo = 0
		if v.max > 0 {
			lo = max(hi-v.max, 0)
		}
		return lo, hi, v.offset + (hi - lo)
	}
	lo = min(v.offset, n)
	hi = n
	if v.max > 0 {
		hi = min(lo+v.max, n)
	}
	return lo, hi, hi
}

func opFindFolder(r *request) error {
	trav := attr(r.body, "Traversal")
	switch trav {
	case "Shallow", "Deep":
	case "SoftDeleted":
		return &Fault{Code: "ErrorInvalidRequest", Message: "The request is invalid: SoftDeleted traversal is not supported by this server."}
	default:
		return schemaFault("the Traversal attribute is missing or invalid")
	}
	sh, err := parseShape(childM(r.body, "FolderShape"))
	if err != nil {
		return err
	}
	var view pageView
	var pred func(*folder) bool
	for _, c := range r.body.ChildElements() {
		switch c.Tag {
		case "IndexedPageFolderView", "FractionalPageFolderView":
			if view, err = parsePageView(c); err != nil {
				return err
			}
		case "Restriction":
			// Microsoft's FindFolder reference: restrictions are permitted
			// on folder properties (the hidden-folders how-to restricts on
			// PidTagAttributeHidden).
			cs := c.ChildElements()
			if len(cs) != 1 {
				return schemaFault("Restriction needs one search expression")
			}
			if pred, err = compileFolderRestriction(cs[0]); err != nil {
				return toFault(err)
			}
		}
	}
	ids, err := r.ids("ParentFolderIds")
	if err != nil {
		return err
	}
	return r.eachFolder(ids, nil, nil, func(m *Mailbox, p, _ *folder) error {
		var list []*folder
		var walk func(f *folder)
		walk = func(f *folder) {
			for _, c := range f.children {
				if pred == nil || pred(c) {
					list = append(list, c)
				}
				if trav == "Deep" {
					walk(c)
				}
			}
		}
		walk(p)
		// EWSFindCountLimit caps FindFolder rows too.
		v := view
		if v.max == 0 || v.max > findCountLimit {
			v.max = findCountLimit
		}
		lo, hi, next := v.window(len(list))
		r.msgOK()
		r.w.open("m:RootFolder", "IndexedPagingOffset", strconv.Itoa(next), "TotalItemsInView", strconv.Itoa(len(list)),
			"IncludesLastItemInRange", strconv.FormatBool(hi == len(list) && !v.fromEnd || v.fromEnd && lo == 0))
		r.w.open("t:Folders")
		for _, f := range list[lo:hi] {
			m.writeFolder(r.w, f, sh)
		}
		r.w.close("t:Folders")
		r.w.close("m:RootFolder")
		r.msgClose()
		return nil
	})
}

// folderRestrictionPath returns the value getter of the folder property a
// FindFolder search expression names.
func folderRestrictionPath(el *etree.Element) (getter[*folder], error) {
	for _, c := range el.ChildElements() {
		switch c.Tag {
		case "FieldURI":
			name, err := fieldName(attr(c, "FieldURI"))
			if err != nil {
				return nil, err
			}
			switch name {
			case "DisplayName":
				return func(f *folder) any { return f.name }, nil
			case "FolderClass":
				return func(f *folder) any { return f.class }, nil
			case "TotalCount":
				return func(f *folder) any { return int64(f.live) }, nil
			case "UnreadCount":
				return func(f *folder) any { return int64(f.unread) }, nil
			case "ChildFolderCount":
				return func(f *folder) any { return int64(len(f.children)) }, nil
			}
		case "ExtendedFieldURI":
			e, err := parseExtendedFieldURI(c)
			if err != nil {
				return nil, err
			}
			switch e.tag {
			case 0x10F4: // PR_ATTR_HIDDEN
				return func(f *folder) any { return f.hidden && f.dist != "root" }, nil
			case 0x670A: // PR_LOCAL_COMMIT_TIME_MAX
				return func(f *folder) any { return f.commitMax.UTC() }, nil
			case 0x670B: // PR_DELETED_COUNT_TOTAL
				return func(f *folder) any { return f.deleted }, nil
			case 0x3001: // PR_DISPLAY_NAME
				return func(f *folder) any { return f.name }, nil
			case 0x3613: // PR_CONTAINER_CLASS
				return func(f *folder) any { return f.class }, nil
			}
		case "IndexedFieldURI":
		default:
			continue
		}
		return nil, codeErr("ErrorUnsupportedPathForQuery", "The property path is not supported for folder queries by this server.")
	}
	return nil, schemaFault("%s needs a property path", el.Tag)
}

// compileFolderRestriction compiles a FindFolder search expression: And,
// Or, Not, Exists, the comparisons with a constant and Contains.
func compileFolderRestriction(el *etree.Element) (func(*folder) bool, error) {
	return compileExpr(el, folderRestrictionPath, &folder{})
}

// Exchange's default EWSFindCountLimit, and the lower limit for restricted
// (and AQS) searches on Exchange 2013+ and Online.
const (
	findCountLimit           = 1000
	findCountLimitRestricted = 250
)

func opFindItem(r *request) error {
	trav := attr(r.body, "Traversal")
	switch trav {
	case "Shallow", "SoftDeleted", "Associated":
	default:
		return schemaFault("the Traversal attribute is missing or invalid")
	}
	sh, err := parseShape(childM(r.body, "ItemShape"))
	if err != nil {
		return err
	}
	sh.pre2013 = !r.versionAtLeast("Exchange2013")
	var view pageView
	var frac *fractionalView
	var calView *calendarView
	var contactsView *contactsViewSpec
	var grp *grouping
	var pred itemPred
	var keys []sortKey
	for _, c := range r.body.ChildElements() {
		switch c.Tag {
		case "IndexedPageItemView", "SeekToConditionPageItemView":
			if view, err = parsePageView(c); err != nil {
				return err
			}
		case "FractionalPageItemView":
			fv, err := parseFractionalView(c)
			if err != nil {
				return toFault(err)
			}
			frac = &fv
		case "GroupBy", "DistinguishedGroupBy":
			if grp, err = parseGroupBy(c); err != nil {
				return toFault(err)
			}
		case "CalendarView":
			if calView, err = parseCalendarView(c); err != nil {
				return toFault(err)
			}
		case "ContactsView":
			if contactsView, err = parseContactsView(c); err != nil {
				return toFault(err)
			}
		case "QueryString":
			if pred != nil {
				return schemaFault("Restriction and QueryString cannot both be given")
			}
			if pred, err = compileAQS(textOf(c), r.s.now()); err != nil {
				return toFault(err)
			}
		case "Restriction":
			cs := c.ChildElements()
			if len(cs) != 1 {
				return schemaFault("Restriction needs one expression")
			}
			if pred != nil {
				return schemaFault("Restriction and QueryString cannot both be given")
			}
			if pred, err = compileRestriction(cs[0]); err != nil {
				return toFault(err)
			}
		case "SortOrder":
			if keys, err = parseSortOrder(c); err != nil {
				return toFault(err)
			}
		}
	}
	ids, err := r.ids("ParentFolderIds")
	if err != nil {
		return err
	}
	return r.eachFolder(ids, nil, nil, func(m *Mailbox, f, _ *folder) error {
		var list []*item
		if trav == "Shallow" {
			list = make([]*item, 0, f.live)
			for i := len(f.entries) - 1; i >= 0; i-- {
				if it := f.entries[i]; !it.deleted && (pred == nil || pred(it)) {
					list = append(list, it)
				}
			}
		}
		if len(keys) == 0 {
			sort.SliceStable(list, func(i, j int) bool {
				return list[i].msg.DateTimeReceived.After(list[j].msg.DateTimeReceived)
			})
		} else {
			sort.SliceStable(list, func(i, j int) bool {
				for _, k := range keys {
					c := less(k.get(list[i]), k.get(list[j]))
					if k.desc {
						c = -c
					}
					if c != 0 {
						return c < 0
					}
				}
				return false
			})
		}
		// EWSFindCountLimit: at most 1000 rows per FindItem (250 with a
		// restriction, as on Exchange 2013+); the client pages on.
		limit := findCountLimit
		if pred != nil {
			limit = findCountLimitRestricted
		}
		if contactsView != nil {
			list = contactsView.apply(list)
			if contactsView.max > 0 && contactsView.max < limit {
				limit = contactsView.max
			}
		}
		if calView != nil {
			list = calView.apply(list)
			limit = len(list)
			if calView.max > 0 && calView.max < limit {
				limit = calView.max
			}
		}
		var groups []*itemGroup
		if grp != nil {
			groups = grp.group(list)
			list = flatten(groups)
		}
		v := view
		if v.max == 0 || v.max > limit {
			v.max = limit
		}
		lo, hi, next := v.window(len(list))
		pagingAttrs := []string{"IndexedPagingOffset", strconv.Itoa(next)}
		last := hi == len(list) && !v.fromEnd || v.fromEnd && lo == 0
		if frac != nil {
			lo, hi = frac.window(len(list), limit)
			pagingAttrs = []string{"NumeratorOffset", strconv.Itoa(hi), "AbsoluteDenominator", strconv.Itoa(len(list))}
			last = hi == len(list)
		}
		if calView != nil {
			pagingAttrs = nil
			lo, hi, last = 0, limit, limit == len(list)
		}
		r.msgOK()
		r.w.open("m:RootFolder", append(pagingAttrs, "TotalItemsInView", strconv.Itoa(len(list)),
			"IncludesLastItemInRange", strconv.FormatBool(last))...)
		r.w.b.Grow((hi - lo) * 1600)
		if groups != nil {
			m.writeGroups(r.w, groups, lo, hi, sh)
		} else {
			r.w.open("t:Items")
			for _, it := range list[lo:hi] {
				m.writeItem(r.w, it, sh, false)
			}
			r.w.close("t:Items")
		}
		r.w.close("m:RootFolder")
		r.msgClose()
		return nil
	})
}

// maxEntries parses the MaxEntriesReturned attribute of a view; 0 when
// absent (no limit).
func maxEntries(el *etree.Element) (int, error) {
	s := attr(el, "MaxEntriesReturned")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, codeErr("ErrorInvalidPagingMaxRows", "The paging max rows value is invalid.")
	}
	return n, nil
}
