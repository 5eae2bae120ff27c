package ews

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// GroupByAffinity forms the affinity groups of Microsoft's procedure
// (EWS-PROTOCOL.md §10) from Autodiscover results: mailboxes with the same
// EWS URL (UserSettings.EwsURL) and GroupingInformation, split by
// GroupMailboxes into groups of at most MaxStreamingSubscriptions, each
// anchored on its first member in sorted order. Members are the addresses
// as asked (UserSettings.Address, lower-cased). Each group carries the
// shared EwsURL and GroupingInformation; groups are ordered by EwsURL, then
// GroupingInformation, and named prefix-<GroupingInformation>-0, -1, ...
// (with a "~n" suffix where two EWS URLs share a GroupingInformation), so
// that names are unique among the returned groups. Nil entries are skipped.
func GroupByAffinity(prefix string, settings []*UserSettings) []AffinityGroup {
	type key struct{ url, gi string }
	parts := map[key][]string{}
	for _, s := range settings {
		if s == nil {
			continue
		}
		k := key{s.EwsURL(), s.GroupingInformation}
		parts[k] = append(parts[k], strings.ToLower(s.Address))
	}
	keys := make([]key, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.url, b.url), cmp.Compare(a.gi, b.gi))
	})
	used := map[string]int{}
	var out []AffinityGroup
	for _, k := range keys {
		name := prefix + "-" + GroupingLabel(k.gi)
		if n := used[name]; n > 0 {
			used[name]++
			name += "~" + strconv.Itoa(n)
		} else {
			used[name] = 1
		}
		for _, g := range GroupMailboxes(name, parts[k]) {
			g.EwsURL, g.GroupingInformation = k.url, k.gi
			out = append(out, g)
		}
	}
	return out
}

// GroupingLabel makes a GroupingInformation value usable in a group name
// (AffinityGroup.Name): letters, digits, '-', '.' and '_' are kept, any
// other rune becomes '_', and an empty value is "default".
func GroupingLabel(gi string) string {
	if gi == "" {
		return "default"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '_'
	}, gi)
}
