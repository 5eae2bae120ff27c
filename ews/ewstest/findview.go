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
	if s := attr(el, "MaxEntriesReturned"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return v, codeErr("ErrorInvalidPagingMaxRows", "The paging max rows value is invalid.")
		}
		v.max = n
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
