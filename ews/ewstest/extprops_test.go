package ewstest

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// extValues maps each returned ExtendedProperty to its value(s), keyed by
// the echoed ExtendedFieldURI attributes.
func extValues(doc *etree.Document) map[string][]string {
	out := map[string][]string{}
	for _, p := range find(doc, "ExtendedProperty") {
		uri := p.SelectElement("ExtendedFieldURI")
		var key []string
		for _, a := range uri.Attr {
			key = append(key, a.Key+"="+a.Value)
		}
		var vals []string
		for _, v := range p.FindElements(".//Value") {
			vals = append(vals, v.Text())
		}
		out[strings.Join(key, " ")] = vals
	}
	return out
}

const extShape = `<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
	<t:FieldURI FieldURI="message:IsRead"/><t:FieldURI FieldURI="item:IsDraft"/><t:FieldURI FieldURI="item:Size"/>
	<t:ExtendedFieldURI PropertyTag="0x0e07" PropertyType="Integer"/>
	<t:ExtendedFieldURI PropertyTag="0x10f3" PropertyType="String"/>
	<t:ExtendedFieldURI DistinguishedPropertySetId="Common" PropertyId="34160" PropertyType="Integer"/>
	<t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" PropertyName="Keywords" PropertyType="StringArray"/>
	<t:ExtendedFieldURI PropertySetId="{C11FF724-AA03-4555-9952-8FA248A11C3E}" PropertyName="x-test" PropertyType="String"/>
	</t:AdditionalProperties></m:ItemShape>`

const (
	keyFlags    = "PropertyTag=0xe07 PropertyType=Integer"
	keyURLName  = "PropertyTag=0x10f3 PropertyType=String"
	keyDeleted  = "DistinguishedPropertySetId=Common PropertyId=34160 PropertyType=Integer"
	keyKeywords = "DistinguishedPropertySetId=PublicStrings PropertyName=Keywords PropertyType=StringArray"
	keyXTest    = "PropertySetId={C11FF724-AA03-4555-9952-8FA248A11C3E} PropertyName=x-test PropertyType=String"
)

func getExt(t *testing.T, srv *Server, id string) (*etree.Document, map[string][]string) {
	t.Helper()
	doc := call(t, srv, `<m:GetItem>`+extShape+`<m:ItemIds><t:ItemId Id="`+id+`"/></m:ItemIds></m:GetItem>`)
	if c := codes(doc); len(c) != 1 || c[0] != "NoError" {
		t.Fatalf("GetItem codes = %v", c)
	}
	return doc, extValues(doc)
}

// A client's extended properties (by tag, by named property id and name,
// arrays) are stored by CreateItem and UpdateItem, returned by GetItem and
// FindItem, kept by CopyItem, and PR_MESSAGE_FLAGS at creation decides
// the read and draft state.
func TestExtendedProperties_StoredAndReturned(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	mime := base64.StdEncoding.EncodeToString([]byte("From: a@example.org\r\nTo: alice@example.com\r\nSubject: ext\r\n\r\nbody\r\n"))
	doc := call(t, srv, `<m:CreateItem MessageDisposition="SaveOnly"><m:SavedItemFolderId><t:DistinguishedFolderId Id="inbox"/></m:SavedItemFolderId>
		<m:Items><t:Message><t:MimeContent>`+mime+`</t:MimeContent>
		<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0xe07" PropertyType="Integer"/><t:Value>1</t:Value></t:ExtendedProperty>
		<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x10f3" PropertyType="String"/><t:Value>abc.EML</t:Value></t:ExtendedProperty>
		<t:ExtendedProperty><t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" PropertyName="Keywords" PropertyType="StringArray"/>
			<t:Values><t:Value>red</t:Value><t:Value>blue</t:Value></t:Values></t:ExtendedProperty>
		<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="c11ff724-aa03-4555-9952-8fa248a11c3e" PropertyName="x-test" PropertyType="String"/><t:Value>one</t:Value></t:ExtendedProperty>
		</t:Message></m:Items></m:CreateItem>`)
	if c := codes(doc); len(c) != 1 || c[0] != "NoError" {
		t.Fatalf("CreateItem codes = %v", c)
	}
	id := first(t, doc, "ItemId").SelectAttrValue("Id", "")
	info, err := m.Item(id)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Message.IsRead || info.Message.IsDraft {
		t.Errorf("PR_MESSAGE_FLAGS=MSGFLAG_READ at creation: read=%v draft=%v, want read, not a draft", info.Message.IsRead, info.Message.IsDraft)
	}
	doc, ext := getExt(t, srv, id)
	size := first(t, doc, "Size").Text()
	if got := ext[keyURLName]; !slices.Equal(got, []string{"abc.EML"}) {
		t.Errorf("0x10f3 = %v (all %v)", got, ext)
	}
	if got := ext[keyKeywords]; !slices.Equal(got, []string{"red", "blue"}) {
		t.Errorf("Keywords = %v", got)
	}
	if got := ext[keyXTest]; !slices.Equal(got, []string{"one"}) {
		t.Errorf("GUID-named property (set case-insensitively) = %v", got)
	}
	if got := ext[keyFlags]; !slices.Equal(got, []string{"3"}) {
		t.Errorf("PR_MESSAGE_FLAGS = %v, want [3] (MSGFLAG_READ|MSGFLAG_UNMODIFIED)", got)
	}
	if _, ok := ext[keyDeleted]; ok {
		t.Errorf("an unset named property was returned: %v", ext)
	}

	// Set one, change one, delete one.
	doc = call(t, srv, `<m:UpdateItem ConflictResolution="AlwaysOverwrite" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange>
		<t:ItemId Id="`+id+`"/><t:Updates>
		<t:SetItemField><t:ExtendedFieldURI DistinguishedPropertySetId="Common" PropertyId="0x8570" PropertyType="Integer"/>
			<t:Message><t:ExtendedProperty><t:ExtendedFieldURI DistinguishedPropertySetId="Common" PropertyId="34160" PropertyType="Integer"/><t:Value>1</t:Value></t:ExtendedProperty></t:Message></t:SetItemField>
		<t:SetItemField><t:ExtendedFieldURI PropertySetId="C11FF724-AA03-4555-9952-8FA248A11C3E" PropertyName="x-test" PropertyType="String"/>
			<t:Message><t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="C11FF724-AA03-4555-9952-8FA248A11C3E" PropertyName="x-test" PropertyType="String"/><t:Value>two</t:Value></t:ExtendedProperty></t:Message></t:SetItemField>
		<t:DeleteItemField><t:ExtendedFieldURI PropertyTag="0x10F3" PropertyType="String"/></t:DeleteItemField>
		</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	if c := codes(doc); len(c) != 1 || c[0] != "NoError" {
		t.Fatalf("UpdateItem codes = %v", c)
	}
	doc, ext = getExt(t, srv, id)
	if !slices.Equal(ext[keyDeleted], []string{"1"}) || !slices.Equal(ext[keyXTest], []string{"two"}) {
		t.Errorf("after SetItemField: deleted=%v x-test=%v", ext[keyDeleted], ext[keyXTest])
	}
	if _, ok := ext[keyURLName]; ok {
		t.Errorf("0x10f3 survived DeleteItemField: %v", ext[keyURLName])
	}
	if got := first(t, doc, "Size").Text(); got != size {
		t.Errorf("a MAPI property write changed the MIME size %s -> %s", size, got)
	}
	after, _ := m.Item(id)
	if after.ChangeKey == info.ChangeKey {
		t.Error("a MAPI property write kept the ChangeKey")
	}

	// FindItem returns them too, and a copy keeps them.
	doc = call(t, srv, `<m:FindItem Traversal="Shallow">`+extShape+`<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`)
	if got := extValues(doc)[keyXTest]; !slices.Equal(got, []string{"two"}) {
		t.Errorf("FindItem x-test = %v", got)
	}
	cp, err := m.CopyItem(id, "drafts")
	if err != nil {
		t.Fatal(err)
	}
	if _, ext = getExt(t, srv, cp.ID); !slices.Equal(ext[keyDeleted], []string{"1"}) || !slices.Equal(ext[keyKeywords], []string{"red", "blue"}) {
		t.Errorf("copy lost its extended properties: %v", ext)
	}
	// The original's properties are not shared with the copy.
	call(t, srv, `<m:UpdateItem ConflictResolution="AlwaysOverwrite" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange>
		<t:ItemId Id="`+cp.ID+`"/><t:Updates><t:DeleteItemField><t:ExtendedFieldURI DistinguishedPropertySetId="Common" PropertyId="34160" PropertyType="Integer"/></t:DeleteItemField>
		</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	if _, ext = getExt(t, srv, id); !slices.Equal(ext[keyDeleted], []string{"1"}) {
		t.Errorf("deleting the copy's property touched the original: %v", ext[keyDeleted])
	}
}

// Without PR_MESSAGE_FLAGS a saved message stays an unread draft, and
// PR_MESSAGE_FLAGS with MSGFLAG_UNSENT keeps it a draft.
func TestExtendedProperties_CreateFlags(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	for _, tc := range []struct {
		ext         string
		read, draft bool
	}{
		{"", false, true},
		{`<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x0E07" PropertyType="Integer"/><t:Value>0</t:Value></t:ExtendedProperty>`, false, false},
		{`<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="3591" PropertyType="Integer"/><t:Value>9</t:Value></t:ExtendedProperty>`, true, true},
	} {
		doc := call(t, srv, `<m:CreateItem MessageDisposition="SaveOnly"><m:SavedItemFolderId><t:DistinguishedFolderId Id="inbox"/></m:SavedItemFolderId>
			<m:Items><t:Message><t:Subject>flags</t:Subject>`+tc.ext+`</t:Message></m:Items></m:CreateItem>`)
		info, err := m.Item(first(t, doc, "ItemId").SelectAttrValue("Id", ""))
		if err != nil {
			t.Fatal(err)
		}
		if info.Message.IsRead != tc.read || info.Message.IsDraft != tc.draft {
			t.Errorf("%q: read=%v draft=%v, want %v %v", tc.ext, info.Message.IsRead, info.Message.IsDraft, tc.read, tc.draft)
		}
	}
}

// Malformed extended properties are schema errors, not panics.
func TestExtendedProperties_Invalid(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	for name, ext := range map[string]string{
		"no identity":      `<t:ExtendedProperty><t:ExtendedFieldURI PropertyType="String"/><t:Value>x</t:Value></t:ExtendedProperty>`,
		"name and id":      `<t:ExtendedProperty><t:ExtendedFieldURI DistinguishedPropertySetId="Common" PropertyName="a" PropertyId="1" PropertyType="String"/><t:Value>x</t:Value></t:ExtendedProperty>`,
		"bad id":           `<t:ExtendedProperty><t:ExtendedFieldURI DistinguishedPropertySetId="Common" PropertyId="zz" PropertyType="String"/><t:Value>x</t:Value></t:ExtendedProperty>`,
		"no value":         `<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x10f3" PropertyType="String"/></t:ExtendedProperty>`,
		"values on single": `<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x10f3" PropertyType="String"/><t:Values><t:Value>x</t:Value></t:Values></t:ExtendedProperty>`,
		"no uri":           `<t:ExtendedProperty><t:Value>x</t:Value></t:ExtendedProperty>`,
	} {
		status, doc := post(t, srv, envStart+`<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:Message>`+ext+`</t:Message></m:Items></m:CreateItem>`+envEnd,
			map[string]string{"X-AnchorMailbox": "alice@example.com"})
		if status != 500 || faultCode(t, doc) != "ErrorSchemaValidation" {
			t.Errorf("%s: HTTP %d %s, want 500 ErrorSchemaValidation", name, status, faultCode(t, doc))
		}
	}
}

// PR_FLAG_STATUS is the item's Flag: writing it flags the message without
// touching its MIME, and reading it reflects FlagStatus.
func TestExtendedProperties_FlagStatus(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	raw := "From: a@example.org\r\nTo: alice@example.com\r\nSubject: flag via MAPI\r\nX-Original: kept\r\n\r\nbody\r\n"
	doc := call(t, srv, `<m:CreateItem MessageDisposition="SaveOnly"><m:SavedItemFolderId><t:DistinguishedFolderId Id="inbox"/></m:SavedItemFolderId>
		<m:Items><t:Message><t:MimeContent>`+base64.StdEncoding.EncodeToString([]byte(raw))+`</t:MimeContent></t:Message></m:Items></m:CreateItem>`)
	id := first(t, doc, "ItemId").SelectAttrValue("Id", "")
	const keyFlagStatus = "PropertyTag=0x1090 PropertyType=Integer"
	shape := `<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
		<t:ExtendedFieldURI PropertyTag="0x1090" PropertyType="Integer"/></t:AdditionalProperties></m:ItemShape>`
	get := func() []string {
		t.Helper()
		return extValues(call(t, srv, `<m:GetItem>`+shape+`<m:ItemIds><t:ItemId Id="`+id+`"/></m:ItemIds></m:GetItem>`))[keyFlagStatus]
	}
	if got := get(); got != nil {
		t.Errorf("unflagged item has PR_FLAG_STATUS %v", got)
	}
	update := func(change string) {
		t.Helper()
		doc := call(t, srv, `<m:UpdateItem ConflictResolution="AlwaysOverwrite" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange>
			<t:ItemId Id="`+id+`"/><t:Updates>`+change+`</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
		if c := codes(doc); len(c) != 1 || c[0] != "NoError" {
			t.Fatalf("UpdateItem codes = %v", c)
		}
	}
	update(`<t:SetItemField><t:ExtendedFieldURI PropertyTag="0x1090" PropertyType="Integer"/>
		<t:Item><t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x1090" PropertyType="Integer"/><t:Value>2</t:Value></t:ExtendedProperty></t:Item></t:SetItemField>`)
	info, err := m.Item(id)
	if err != nil {
		t.Fatal(err)
	}
	if info.Message.FlagStatus != FlagFlagged {
		t.Errorf("after PR_FLAG_STATUS=2 FlagStatus = %q", info.Message.FlagStatus)
	}
	if string(info.Message.renderMIME()) != raw {
		t.Errorf("flagging rewrote the MIME:\n%s", info.Message.renderMIME())
	}
	if got := get(); !slices.Equal(got, []string{"2"}) {
		t.Errorf("PR_FLAG_STATUS = %v, want [2]", got)
	}
	if _, err := m.UpdateItem(id, ItemUpdate{FlagStatus: ptr(FlagComplete), Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if got := get(); !slices.Equal(got, []string{"1"}) {
		t.Errorf("complete: PR_FLAG_STATUS = %v, want [1]", got)
	}
	update(`<t:DeleteItemField><t:ExtendedFieldURI PropertyTag="0x1090" PropertyType="Integer"/></t:DeleteItemField>`)
	if info, _ := m.Item(id); info.Message.FlagStatus != FlagNotFlagged {
		t.Errorf("after deleting PR_FLAG_STATUS FlagStatus = %q", info.Message.FlagStatus)
	}
	if got := get(); got != nil {
		t.Errorf("cleared flag still has PR_FLAG_STATUS %v", got)
	}
}

// Restrictions and sort orders see the article number and the properties
// clients stored, typed by their PropertyType.
func TestExtendedProperties_RestrictAndSort(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	var ids []string
	for _, s := range []string{"first", "second", "third"} {
		ids = append(ids, mustDeliver(t, m, "inbox", testMessage(s)).ID)
	}
	// Mark "second" deleted the way DavMail does.
	doc := call(t, srv, `<m:UpdateItem ConflictResolution="AlwaysOverwrite" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange>
		<t:ItemId Id="`+ids[1]+`"/><t:Updates><t:SetItemField><t:ExtendedFieldURI DistinguishedPropertySetId="Common" PropertyId="34160" PropertyType="Integer"/>
		<t:Item><t:ExtendedProperty><t:ExtendedFieldURI DistinguishedPropertySetId="Common" PropertyId="34160" PropertyType="Integer"/><t:Value>1</t:Value></t:ExtendedProperty></t:Item>
		</t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	if c := codes(doc); len(c) != 1 || c[0] != "NoError" {
		t.Fatalf("UpdateItem codes = %v", c)
	}
	subjects := func(restriction, order string) []string {
		t.Helper()
		doc := call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
			<t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>`+restriction+
			`<m:SortOrder><t:FieldOrder Order="`+order+`"><t:ExtendedFieldURI PropertyTag="0xe23" PropertyType="Integer"/></t:FieldOrder></m:SortOrder>
			<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`)
		var out []string
		for _, s := range find(doc, "Subject") {
			out = append(out, s.Text())
		}
		return out
	}
	if got := subjects("", "Ascending"); !slices.Equal(got, []string{"first", "second", "third"}) {
		t.Errorf("ascending by PR_INTERNET_ARTICLE_NUMBER = %v", got)
	}
	if got := subjects("", "Descending"); !slices.Equal(got, []string{"third", "second", "first"}) {
		t.Errorf("descending by PR_INTERNET_ARTICLE_NUMBER = %v", got)
	}
	deleted := `<m:Restriction><t:IsEqualTo><t:ExtendedFieldURI DistinguishedPropertySetId="Common" PropertyId="34160" PropertyType="Integer"/>
		<t:FieldURIOrConstant><t:Constant Value="1"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>`
	if got := subjects(deleted, "Ascending"); !slices.Equal(got, []string{"second"}) {
		t.Errorf("restriction on a stored named property = %v", got)
	}
	notDeleted := `<m:Restriction><t:Not><t:Exists><t:ExtendedFieldURI DistinguishedPropertySetId="Common" PropertyId="34160" PropertyType="Integer"/></t:Exists></t:Not></m:Restriction>`
	if got := subjects(notDeleted, "Ascending"); !slices.Equal(got, []string{"first", "third"}) {
		t.Errorf("Not Exists on a stored named property = %v", got)
	}
	// A moved-in message arrives last.
	if _, err := m.MoveItem(ids[0], "drafts"); err != nil {
		t.Fatal(err)
	}
	moved := dmItems(t, m, "drafts")
	if _, err := m.MoveItem(moved[0].ID, "inbox"); err != nil {
		t.Fatal(err)
	}
	if got := subjects("", "Ascending"); !slices.Equal(got, []string{"second", "third", "first"}) {
		t.Errorf("after moving first out and back = %v, want it last", got)
	}
}

// BenchmarkFindItem_DavMailShape measures a FindItem page as DavMail asks
// for it when it opens a folder: 500 items sorted by
// PR_INTERNET_ARTICLE_NUMBER with fifteen extended properties each, three
// of them stored by the client. items/s is reported.
func BenchmarkFindItem_DavMailShape(b *testing.B) {
	srv := NewUnstartedServer(Options{Users: []User{{Name: "alice", Address: "alice@example.com"}}})
	defer srv.Close()
	m := srv.Mailbox("alice@example.com")
	msgs := make([]Message, 2000)
	for i := range msgs {
		msgs[i] = testMessage("bench " + strconv.Itoa(i))
		msgs[i].setExt("tag:"+strconv.Itoa(0x10F3), extValue{typ: "String", values: []string{strconv.Itoa(i) + ".EML"}})
		msgs[i].setExt("id:Common:34160", extValue{typ: "Integer", values: []string{"0"}})
		msgs[i].setExt("tag:"+strconv.Itoa(0x1081), extValue{typ: "Integer", values: []string{"102"}})
	}
	if _, err := m.DeliverBatch("inbox", msgs); err != nil {
		b.Fatal(err)
	}
	body := envStart + `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
		<t:ExtendedFieldURI PropertyTag="0xe06" PropertyType="SystemTime"/><t:ExtendedFieldURI DistinguishedPropertySetId="Common" PropertyId="34160" PropertyType="Integer"/>
		<t:ExtendedFieldURI PropertyTag="0x1090" PropertyType="Integer"/><t:ExtendedFieldURI PropertyTag="0x1081" PropertyType="Integer"/>
		<t:ExtendedFieldURI PropertyTag="0x670e" PropertyType="String"/><t:ExtendedFieldURI PropertyTag="0xe07" PropertyType="Integer"/>
		<t:ExtendedFieldURI PropertyTag="0x10f3" PropertyType="String"/><t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" PropertyName="Keywords" PropertyType="StringArray"/>
		<t:ExtendedFieldURI PropertyTag="0x3008" PropertyType="SystemTime"/><t:ExtendedFieldURI PropertyTag="0x1083" PropertyType="Integer"/>
		<t:ExtendedFieldURI PropertyTag="0xe08" PropertyType="Integer"/><t:ExtendedFieldURI PropertyTag="0xe23" PropertyType="Integer"/>
		<t:ExtendedFieldURI DistinguishedPropertySetId="InternetHeaders" PropertyName="content-class" PropertyType="String"/>
		<t:FieldURI FieldURI="message:IsRead"/><t:ExtendedFieldURI PropertyTag="0xff9" PropertyType="Binary"/>
		</t:AdditionalProperties></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="500" Offset="1000" BasePoint="Beginning"/>
		<m:SortOrder><t:FieldOrder Order="Ascending"><t:ExtendedFieldURI PropertyTag="0xe23" PropertyType="Integer"/></t:FieldOrder></m:SortOrder>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>` + envEnd
	h := srv.Handler()
	items := 0
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/EWS/Exchange.asmx", strings.NewReader(body))
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.Header.Set("X-AnchorMailbox", "alice@example.com")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `IndexedPagingOffset="1500"`) {
			b.Fatalf("HTTP %d: %.500s", rec.Code, rec.Body.String())
		}
		items += 500
	}
	b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
}

// PS_PUBLIC_STRINGS "Keywords" is the item's Categories, by either name
// of the property set (DavMail writes IMAP keywords there).
func TestExtendedProperties_KeywordsAreCategories(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	msg := testMessage("keywords")
	msg.Categories = []string{"Old"}
	it := mustDeliver(t, m, "inbox", msg)
	const byGUID = `PropertySetId="{00020329-0000-0000-C000-000000000046}" PropertyName="Keywords" PropertyType="StringArray"`
	const byName = `DistinguishedPropertySetId="PublicStrings" PropertyName="Keywords" PropertyType="StringArray"`
	get := func() []string {
		t.Helper()
		doc := call(t, srv, `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
			<t:ExtendedFieldURI `+byGUID+`/></t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="`+it.ID+`"/></m:ItemIds></m:GetItem>`)
		var out []string
		for _, v := range find(doc, "Value") {
			out = append(out, v.Text())
		}
		return out
	}
	if got := get(); !slices.Equal(got, []string{"Old"}) {
		t.Errorf("Keywords of an item with Categories [Old] = %v", got)
	}
	doc := call(t, srv, `<m:UpdateItem ConflictResolution="AlwaysOverwrite" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange>
		<t:ItemId Id="`+it.ID+`"/><t:Updates><t:SetItemField><t:ExtendedFieldURI `+byName+`/>
		<t:Item><t:ExtendedProperty><t:ExtendedFieldURI `+byName+`/><t:Values><t:Value>Important</t:Value><t:Value>Work</t:Value></t:Values></t:ExtendedProperty></t:Item>
		</t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	if c := codes(doc); len(c) != 1 || c[0] != "NoError" {
		t.Fatalf("UpdateItem codes = %v", c)
	}
	if info, _ := m.Item(it.ID); !slices.Equal(info.Message.Categories, []string{"Important", "Work"}) {
		t.Errorf("Categories after setting Keywords = %v", info.Message.Categories)
	}
	if got := get(); !slices.Equal(got, []string{"Important", "Work"}) {
		t.Errorf("Keywords by GUID = %v", got)
	}
	call(t, srv, `<m:UpdateItem ConflictResolution="AlwaysOverwrite" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange>
		<t:ItemId Id="`+it.ID+`"/><t:Updates><t:DeleteItemField><t:ExtendedFieldURI `+byGUID+`/></t:DeleteItemField>
		</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	if info, _ := m.Item(it.ID); len(info.Message.Categories) != 0 {
		t.Errorf("Categories after deleting Keywords = %v", info.Message.Categories)
	}
	if got := get(); got != nil {
		t.Errorf("Keywords after delete = %v", got)
	}
}
