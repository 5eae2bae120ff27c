package ewstest

import (
	"slices"
	"strings"
	"testing"
)

// findSubjects runs FindItem on alice's inbox with the restriction and
// sort order XML and returns the subjects in response order.
func findSubjects(t *testing.T, srv *Server, restriction, sortOrder string) []string {
	t.Helper()
	doc := call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>
		<t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>`+
		restriction+sortOrder+`<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`)
	var out []string
	for _, s := range find(doc, "Subject") {
		out = append(out, s.Text())
	}
	return out
}

func restriction(expr string) string { return "<m:Restriction>" + expr + "</m:Restriction>" }

func TestRestrict_Grammar(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	seedClientMailbox(t, srv.Mailbox("alice@example.com"))
	contains := func(mode, comparison, path, v string) string {
		return restriction(`<t:Contains ContainmentMode="` + mode + `" ContainmentComparison="` + comparison + `">` +
			`<t:FieldURI FieldURI="` + path + `"/><t:Constant Value="` + v + `"/></t:Contains>`)
	}
	cmp := func(op, path, v string) string {
		return restriction(`<t:` + op + `><t:FieldURI FieldURI="` + path + `"/><t:FieldURIOrConstant><t:Constant Value="` + v + `"/></t:FieldURIOrConstant></t:` + op + `>`)
	}
	for _, tc := range []struct {
		name, restriction string
		want              []string
	}{
		{"substring exact case", contains("Substring", "Exact", "item:Subject", "Report"), nil},
		{"substring ignore case", contains("Substring", "IgnoreCase", "item:Subject", "Report"), []string{"Weekly report 2", "Monthly report draft", "Weekly report"}},
		{"prefixed", contains("Prefixed", "IgnoreCase", "item:Subject", "weekly"), []string{"Weekly report 2", "Weekly report"}},
		{"full string", contains("FullString", "IgnoreCase", "item:Subject", "weekly REPORT"), []string{"Weekly report"}},
		{"prefix on words", contains("PrefixOnWords", "IgnoreCase", "item:Subject", "rep"), []string{"Weekly report 2", "Monthly report draft", "Weekly report"}},
		{"prefix on words mid-word", contains("PrefixOnWords", "IgnoreCase", "item:Subject", "eport"), nil},
		{"exact phrase", contains("ExactPhrase", "IgnoreCase", "item:Subject", "report"), []string{"Weekly report 2", "Monthly report draft", "Weekly report"}},
		{"exact phrase partial word", contains("ExactPhrase", "IgnoreCase", "item:Subject", "repor"), nil},
		{"loose", contains("Substring", "Loose", "item:Subject", "PARTY"), []string{"Party"}},
		{"body", contains("Substring", "IgnoreCase", "item:Body", "QUARTERLY"), []string{"Weekly report"}},
		{"from name", contains("Substring", "IgnoreCase", "message:From", "builder"), []string{"Monthly report draft", "Weekly report"}},
		{"to recipients", cmp("IsEqualTo", "message:ToRecipients", "carol@example.com"), []string{"Lunch plans"}},
		{"categories equal", cmp("IsEqualTo", "item:Categories", "urgent"), []string{"Monthly report draft"}},
		{"categories not equal", cmp("IsNotEqualTo", "item:Categories", "Work"), []string{"Weekly report 2"}},
		{"size", cmp("IsGreaterThanOrEqualTo", "item:Size", "4000"), []string{"Monthly report draft"}},
		{"sent before", cmp("IsLessThan", "item:DateTimeSent", "2025-03-01T01:00:00Z"), []string{"Weekly report"}},
		{"received with offset", cmp("IsGreaterThan", "item:DateTimeReceived", "2025-03-01T05:30:00+01:00"), []string{"Invoice"}},
		{"importance", cmp("IsEqualTo", "item:Importance", "Low"), []string{"Invoice"}},
		{"sensitivity", cmp("IsEqualTo", "item:Sensitivity", "Private"), []string{"Lunch plans"}},
		{"conversation topic", cmp("IsEqualTo", "item:ConversationTopic", "Party"), []string{"Party"}},
		{"exists categories", restriction(`<t:Exists><t:FieldURI FieldURI="item:Categories"/></t:Exists>`), []string{"Weekly report 2", "Monthly report draft", "Weekly report"}},
		{"not exists categories and or", restriction(`<t:And><t:Not><t:Exists><t:FieldURI FieldURI="item:Categories"/></t:Exists></t:Not>` +
			`<t:Or><t:IsEqualTo><t:FieldURI FieldURI="message:IsRead"/><t:FieldURIOrConstant><t:Constant Value="true"/></t:FieldURIOrConstant></t:IsEqualTo>` +
			`<t:IsEqualTo><t:FieldURI FieldURI="item:Importance"/><t:FieldURIOrConstant><t:Constant Value="High"/></t:FieldURIOrConstant></t:IsEqualTo></t:Or></t:And>`),
			[]string{"Invoice", "Party"}},
		{"property to property", restriction(`<t:IsEqualTo><t:FieldURI FieldURI="message:From"/><t:FieldURIOrConstant><t:FieldURI FieldURI="message:Sender"/></t:FieldURIOrConstant></t:IsEqualTo>`),
			[]string{"Invoice", "Party", "Weekly report 2", "Monthly report draft", "Lunch plans", "Weekly report"}},
		{"extended size", restriction(`<t:IsGreaterThan><t:ExtendedFieldURI PropertyTag="0x0E08" PropertyType="Integer"/><t:FieldURIOrConstant><t:Constant Value="4000"/></t:FieldURIOrConstant></t:IsGreaterThan>`),
			[]string{"Monthly report draft"}},
		{"excludes read flag", restriction(`<t:Excludes><t:ExtendedFieldURI PropertyTag="0x0E07" PropertyType="Integer"/><t:Bitmask Value="0x1"/></t:Excludes>`),
			[]string{"Party", "Monthly report draft", "Lunch plans"}},
		{"named property absent", restriction(`<t:Exists><t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" PropertyName="x" PropertyType="String"/></t:Exists>`), nil},
	} {
		if got := findSubjects(t, srv, tc.restriction, ""); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRestrict_SortOrder(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	seedClientMailbox(t, srv.Mailbox("alice@example.com"))
	order := func(keys ...string) string {
		s := "<m:SortOrder>"
		for i := 0; i < len(keys); i += 2 {
			s += `<t:FieldOrder Order="` + keys[i+1] + `"><t:FieldURI FieldURI="` + keys[i] + `"/></t:FieldOrder>`
		}
		return s + "</m:SortOrder>"
	}
	got := findSubjects(t, srv, "", order("item:Importance", "Ascending", "item:Subject", "Descending"))
	want := []string{"Party", "Monthly report draft", "Invoice", "Weekly report 2", "Weekly report", "Lunch plans"}
	if !slices.Equal(got, want) {
		t.Errorf("importance asc, subject desc = %q, want %q", got, want)
	}
	got = findSubjects(t, srv, "", order("item:Categories", "Descending", "item:DateTimeReceived", "Ascending"))
	want = []string{"Weekly report", "Monthly report draft", "Weekly report 2", "Lunch plans", "Party", "Invoice"}
	if !slices.Equal(got, want) {
		t.Errorf("categories desc = %q, want %q", got, want)
	}
	if got := findSubjects(t, srv, "", order("item:Size", "Descending")); len(got) != 6 || got[0] != "Monthly report draft" {
		t.Errorf("size desc = %q", got)
	}
}

func TestRestrict_BadInput(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	seedClientMailbox(t, srv.Mailbox("alice@example.com"))
	for _, tc := range []struct{ name, body, code string }{
		{"bad mode", restriction(`<t:Contains ContainmentMode="Sometimes"><t:FieldURI FieldURI="item:Subject"/><t:Constant Value="x"/></t:Contains>`), "ErrorSchemaValidation"},
		{"bad comparison", restriction(`<t:Contains ContainmentComparison="Fuzzy"><t:FieldURI FieldURI="item:Subject"/><t:Constant Value="x"/></t:Contains>`), "ErrorSchemaValidation"},
		{"bad integer", restriction(`<t:IsEqualTo><t:FieldURI FieldURI="item:Size"/><t:FieldURIOrConstant><t:Constant Value="big"/></t:FieldURIOrConstant></t:IsEqualTo>`), "ErrorSchemaValidation"},
		{"bad date", restriction(`<t:IsEqualTo><t:FieldURI FieldURI="item:DateTimeReceived"/><t:FieldURIOrConstant><t:Constant Value="yesterday"/></t:FieldURIOrConstant></t:IsEqualTo>`), "ErrorSchemaValidation"},
		{"bad bitmask", restriction(`<t:Excludes><t:FieldURI FieldURI="item:Size"/><t:Bitmask Value="zz"/></t:Excludes>`), "ErrorSchemaValidation"},
		{"excludes on string", restriction(`<t:Excludes><t:FieldURI FieldURI="item:Subject"/><t:Bitmask Value="1"/></t:Excludes>`), "ErrorInvalidRestriction"},
		{"no path", restriction(`<t:Exists/>`), "ErrorSchemaValidation"},
		{"empty and", restriction(`<t:And/>`), "ErrorSchemaValidation"},
		{"unknown element", restriction(`<t:Resembles/>`), "ErrorInvalidRestriction"},
		{"bad sort order", `<m:SortOrder><t:FieldOrder Order="Sideways"><t:FieldURI FieldURI="item:Subject"/></t:FieldOrder></m:SortOrder>`, "ErrorSchemaValidation"},
	} {
		status, doc := post(t, srv, envStart+`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>`+
			tc.body+`<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`+envEnd,
			map[string]string{"X-AnchorMailbox": "alice@example.com"})
		if status != 500 || faultCode(t, doc) != tc.code {
			t.Errorf("%s: status %d fault %q, want 500 %s", tc.name, status, faultCode(t, doc), tc.code)
		}
	}
}

func TestRestrict_DeepNesting(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	deep := strings.Repeat("<t:Not>", 100) + `<t:Exists><t:FieldURI FieldURI="item:Subject"/></t:Exists>` + strings.Repeat("</t:Not>", 100)
	for name, tc := range map[string]struct{ body, code string }{
		"restriction": {restriction(deep), "ErrorInvalidRestriction"},
		"aqs parens":  {queryString(strings.Repeat("(", 5000) + "x" + strings.Repeat(")", 5000)), "ErrorInvalidArgument"},
		"aqs not":     {queryString(strings.Repeat("NOT ", 5000) + "x"), "ErrorInvalidArgument"},
	} {
		status, doc := post(t, srv, envStart+`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>`+
			tc.body+`<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`+envEnd,
			map[string]string{"X-AnchorMailbox": "alice@example.com"})
		if status != 500 || faultCode(t, doc) != tc.code {
			t.Errorf("%s: %d %s, want %s", name, status, faultCode(t, doc), tc.code)
		}
	}
	// Nesting within the limit still works.
	ok := strings.Repeat("<t:Not>", 11) + `<t:Exists><t:FieldURI FieldURI="item:Subject"/></t:Exists>` + strings.Repeat("</t:Not>", 11)
	seedClientMailbox(t, srv.Mailbox("alice@example.com"))
	if got := findSubjects(t, srv, restriction(ok), ""); len(got) != 0 {
		t.Errorf("eleven NOTs of Exists = %q, want none", got)
	}
}

func TestRestrict_ItemID(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	a := mustDeliver(t, m, "inbox", testMessage("a"))
	mustDeliver(t, m, "inbox", testMessage("b"))
	got := findSubjects(t, srv, restriction(`<t:IsEqualTo><t:FieldURI FieldURI="item:ItemId"/><t:FieldURIOrConstant><t:Constant Value="`+a.ID+`"/></t:FieldURIOrConstant></t:IsEqualTo>`), "")
	if !slices.Equal(got, []string{"a"}) {
		t.Errorf("item:ItemId restriction = %q", got)
	}
	got = findSubjects(t, srv, restriction(`<t:IsEqualTo><t:FieldURI FieldURI="item:ParentFolderId"/><t:FieldURIOrConstant><t:Constant Value="`+a.FolderID+`"/></t:FieldURIOrConstant></t:IsEqualTo>`), "")
	if len(got) != 2 {
		t.Errorf("item:ParentFolderId restriction = %q", got)
	}
}
