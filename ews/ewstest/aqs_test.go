package ewstest

import (
	"slices"
	"strings"
	"testing"
)

func queryString(q string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return "<m:QueryString>" + r.Replace(q) + "</m:QueryString>"
}

func TestAQS_Queries(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	seedClientMailbox(t, srv.Mailbox("alice@example.com"))
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"report", []string{"Weekly report 2", "Monthly report draft", "Weekly report"}},
		{"rep*", []string{"Weekly report 2", "Monthly report draft", "Weekly report"}},
		{"eport", nil},
		{"weekly report", []string{"Weekly report 2", "Weekly report"}},
		{`"report draft"`, []string{"Monthly report draft"}},
		{"subject:(party OR lunch)", []string{"Party", "Lunch plans"}},
		{"from:builder", []string{"Monthly report draft", "Weekly report"}},
		{"from:ann@example.org AND NOT subject:party", []string{"Lunch plans"}},
		{"to:carol", []string{"Lunch plans"}},
		{"body:noon", []string{"Lunch plans"}},
		{"category:urgent", []string{"Monthly report draft"}},
		{"attachment:invoice", []string{"Invoice"}},
		{"hasattachment:yes -from:bob", []string{"Invoice"}},
		{"-subject:report -party", []string{"Invoice", "Lunch plans"}},
		{"e-mail", nil},
		{"isread:false importance:high", []string{"Party", "Monthly report draft"}},
		{"kind:email received:2025-03-01", []string{"Invoice", "Party", "Weekly report 2", "Monthly report draft", "Lunch plans", "Weekly report"}},
		{"received:3/2/2025..3/5/2025", nil},
		{"received:<=2025-02-28 OR size:>4kb", []string{"Monthly report draft"}},
		{"size:<100", nil},
		{"unknown:thing", nil},
	} {
		if got := findSubjects(t, srv, queryString(tc.q), ""); !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.q, got, tc.want)
		}
	}
}

func TestAQS_BadInput(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	for _, q := range []string{`"open phrase`, "(subject:a", "subject:a)", "isread:maybe", "received:someday", "size:big", "kind:spaceship", "NOT", "subject:"} {
		status, doc := post(t, srv, envStart+`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>`+
			queryString(q)+`<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`+envEnd,
			map[string]string{"X-AnchorMailbox": "alice@example.com"})
		if status != 500 || faultCode(t, doc) != "ErrorInvalidArgument" {
			t.Errorf("%q: %d %s, want ErrorInvalidArgument", q, status, faultCode(t, doc))
		}
	}
	status, doc := post(t, srv, envStart+`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>`+
		restriction(`<t:Exists><t:FieldURI FieldURI="item:Subject"/></t:Exists>`)+queryString("x")+
		`<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`+envEnd,
		map[string]string{"X-AnchorMailbox": "alice@example.com"})
	if status != 500 || faultCode(t, doc) != "ErrorSchemaValidation" {
		t.Errorf("Restriction and QueryString: %d %s", status, faultCode(t, doc))
	}
}

func TestFindView_FractionalAndGroups(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	seedClientMailbox(t, srv.Mailbox("alice@example.com"))
	doc := call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>
		<t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>
		<m:FractionalPageItemView MaxEntriesReturned="2" Numerator="1" Denominator="2"/>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`)
	rf := first(t, doc, "RootFolder")
	var got []string
	for _, s := range find(doc, "Subject") {
		got = append(got, s.Text())
	}
	if rf.SelectAttrValue("NumeratorOffset", "") != "5" || rf.SelectAttrValue("AbsoluteDenominator", "") != "6" ||
		rf.SelectAttrValue("IncludesLastItemInRange", "") != "false" || !slices.Equal(got, []string{"Monthly report draft", "Lunch plans"}) {
		t.Errorf("fractional page: %v %q", rf.Attr, got)
	}

	doc = call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>
		<t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>
		<m:IndexedPageItemView MaxEntriesReturned="5" Offset="0" BasePoint="Beginning"/>
		<m:GroupBy Order="Descending"><t:FieldURI FieldURI="item:Importance"/>
		<t:AggregateOn Aggregate="Maximum"><t:FieldURI FieldURI="item:DateTimeReceived"/></t:AggregateOn></m:GroupBy>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`)
	var groups []string
	for _, g := range find(doc, "GroupedItems") {
		s := g.FindElement("./GroupIndex").Text() + ":"
		for _, sub := range g.FindElements(".//Subject") {
			s += sub.Text() + ","
		}
		groups = append(groups, s)
	}
	// Low's newest item is 5h, High's 4h, Normal's 3h; the page of five
	// cuts the last group.
	want := []string{"Low:Invoice,", "High:Party,Monthly report draft,", "Normal:Weekly report 2,Lunch plans,"}
	if !slices.Equal(groups, want) || first(t, doc, "RootFolder").SelectAttrValue("TotalItemsInView", "") != "6" {
		t.Errorf("groups = %q, want %q", groups, want)
	}

	for _, tc := range []struct{ body, code string }{
		{`<m:FractionalPageItemView Numerator="3" Denominator="2"/>`, "ErrorInvalidFractionalPagingParameters"},
		{`<m:FractionalPageItemView Numerator="x" Denominator="2"/>`, "ErrorSchemaValidation"},
		{`<m:GroupBy Order="Up"><t:FieldURI FieldURI="item:Importance"/></m:GroupBy>`, "ErrorSchemaValidation"},
		{`<m:GroupBy Order="Ascending"><t:FieldURI FieldURI="item:Importance"/></m:GroupBy>`, "ErrorSchemaValidation"},
		{`<m:DistinguishedGroupBy><t:StandardGroupBy>Color</t:StandardGroupBy></m:DistinguishedGroupBy>`, "ErrorSchemaValidation"},
	} {
		status, doc := post(t, srv, envStart+`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>`+
			tc.body+`<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`+envEnd,
			map[string]string{"X-AnchorMailbox": "alice@example.com"})
		if status != 500 || faultCode(t, doc) != tc.code {
			t.Errorf("%s: %d %s, want %s", tc.body, status, faultCode(t, doc), tc.code)
		}
	}
}
