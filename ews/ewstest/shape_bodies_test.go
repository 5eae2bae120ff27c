package ewstest

import (
	"slices"
	"strings"
	"testing"
)

// TestGetItem_BodyVariants: UniqueBody, NormalizedBody and TextBody come
// only when named, in the schema's order, in the body type each promises.
func TestGetItem_BodyVariants(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	msg := testMessage("variants")
	msg.Body, msg.BodyType = "<p>Hi &amp; bye</p>", "HTML"
	it := mustDeliver(t, m, "inbox", msg)
	get := func(shape string) []string {
		doc := call(t, srv, `<m:GetItem><m:ItemShape>`+shape+`</m:ItemShape><m:ItemIds><t:ItemId Id="`+it.ID+`"/></m:ItemIds></m:GetItem>`)
		var tags []string
		for _, e := range first(t, doc, "Message").ChildElements() {
			switch e.Tag {
			case "UniqueBody", "NormalizedBody", "TextBody", "Preview", "ConversationId", "Flag":
				tags = append(tags, e.Tag+":"+attr(e, "BodyType")+":"+e.Text())
			}
		}
		return tags
	}
	got := get(`<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:TextBody"/>` +
		`<t:FieldURI FieldURI="item:Preview"/><t:FieldURI FieldURI="item:NormalizedBody"/><t:FieldURI FieldURI="item:UniqueBody"/>` +
		`<t:FieldURI FieldURI="item:Flag"/></t:AdditionalProperties>`)
	want := []string{"UniqueBody:HTML:<p>Hi &amp; bye</p>", "Flag::", "NormalizedBody:HTML:<p>Hi &amp; bye</p>",
		"Preview::Hi & bye", "TextBody:Text:Hi & bye"}
	if !slices.Equal(got, want) {
		t.Errorf("named variants:\n got %q\nwant %q", got, want)
	}
	if got := get(`<t:BaseShape>AllProperties</t:BaseShape>`); slices.ContainsFunc(got, func(s string) bool {
		return s[:4] == "Uniq" || s[:4] == "Norm" || s[:4] == "Text"
	}) {
		t.Errorf("AllProperties returned a body variant: %q", got)
	}
	// UniqueBody follows BodyType Text; a text body becomes HTML for
	// NormalizedBody.
	m2 := mustDeliver(t, m, "inbox", testMessage("plain <x>"))
	doc := call(t, srv, `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:BodyType>Text</t:BodyType><t:AdditionalProperties>`+
		`<t:FieldURI FieldURI="item:UniqueBody"/><t:FieldURI FieldURI="item:NormalizedBody"/></t:AdditionalProperties></m:ItemShape>`+
		`<m:ItemIds><t:ItemId Id="`+m2.ID+`"/></m:ItemIds></m:GetItem>`)
	if u := first(t, doc, "UniqueBody"); attr(u, "BodyType") != "Text" || u.Text() != "Hello,\nthis is plain <x>.\n" {
		t.Errorf("UniqueBody as text = %s %q", attr(u, "BodyType"), u.Text())
	}
	if n := first(t, doc, "NormalizedBody"); attr(n, "BodyType") != "HTML" || n.Text() != "<html><body><pre>Hello,\nthis is plain &lt;x&gt;.\n</pre></body></html>" {
		t.Errorf("NormalizedBody of a text body = %s %q", attr(n, "BodyType"), n.Text())
	}
}

// TestGetFolder_DistinguishedFolderId: folder:DistinguishedFolderId names
// a well-known folder after EffectiveRights, only when asked for, and
// never for a user folder.
func TestGetFolder_DistinguishedFolderId(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	f, err := m.CreateFolder("msgfolderroot", "Mine", "")
	if err != nil {
		t.Fatal(err)
	}
	get := func(shape string) []string {
		doc := call(t, srv, `<m:GetFolder><m:FolderShape>`+shape+`</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/>`+
			`<t:FolderId Id="`+f.ID+`"/></m:FolderIds></m:GetFolder>`)
		var out []string
		for _, el := range find(doc, "Folder") {
			var tags []string
			for _, c := range el.ChildElements() {
				tags = append(tags, c.Tag+"="+c.Text())
			}
			out = append(out, strings.Join(tags, ","))
		}
		return out
	}
	got := get(`<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="folder:DistinguishedFolderId"/>` +
		`<t:FieldURI FieldURI="folder:EffectiveRights"/></t:AdditionalProperties>`)
	if len(got) != 2 || !strings.HasSuffix(got[0], "EffectiveRights=,DistinguishedFolderId=inbox") || strings.Contains(got[1], "Distinguished") {
		t.Errorf("named: %q", got)
	}
	for _, g := range get(`<t:BaseShape>AllProperties</t:BaseShape>`) {
		if strings.Contains(g, "Distinguished") {
			t.Errorf("AllProperties: %q", g)
		}
	}
}
