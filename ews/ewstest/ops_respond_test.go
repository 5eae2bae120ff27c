package ewstest

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func addressesOf(as []Address) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Email)
	}
	return out
}

// TestCreateItem_ResponseObjects covers ReplyToItem, ReplyAllToItem and
// ForwardItem: recipients, subject, quoting, threading headers,
// attachments of a forward, SaveOnly drafts and local delivery.
func TestCreateItem_ResponseObjects(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	orig := testMessage("RE: plans")
	orig.To = []Address{{Name: "Alice", Email: "alice@example.com"}, {Name: "Bob", Email: "bob@example.com"}}
	orig.Cc = []Address{{Name: "Carol", Email: "carol@example.org"}}
	orig.InternetMessageID = "<plans@example.org>"
	orig.Attachments = []Attachment{{Name: "a.txt", ContentType: "text/plain", Content: []byte("A")}}
	it := mustDeliver(t, m, "inbox", orig)
	ref := `<t:ReferenceItemId Id="` + it.ID + `"/>`

	// Reply all, sent with a copy: Sent Items has it, bob receives it.
	doc := call(t, srv, `<m:CreateItem MessageDisposition="SendAndSaveCopy"><m:Items><t:ReplyAllToItem>`+ref+
		`<t:NewBodyContent BodyType="Text">sounds good</t:NewBodyContent></t:ReplyAllToItem></m:Items></m:CreateItem>`)
	if got := codes(doc); !slices.Equal(got, []string{"NoError"}) {
		t.Fatalf("ReplyAllToItem codes %v", got)
	}
	sent, err := m.Items("sentitems")
	if err != nil || len(sent) != 1 {
		t.Fatalf("sent items %v %v", sent, err)
	}
	r := sent[0].Message
	if r.Subject != "RE: plans" || !slices.Equal(addressesOf(r.To), []string{"ann@example.org", "bob@example.com"}) ||
		!slices.Equal(addressesOf(r.Cc), []string{"carol@example.org"}) || r.InReplyTo != "<plans@example.org>" ||
		r.References != "<plans@example.org>" || len(r.Attachments) != 0 || r.From.Email != "alice@example.com" {
		t.Errorf("reply all = %+v", r)
	}
	if !strings.HasPrefix(r.Body, "sounds good") || !strings.Contains(r.Body, "Subject: RE: plans") || !strings.Contains(r.Body, "this is RE: plans.") {
		t.Errorf("reply body %q", r.Body)
	}
	// The original is marked replied-to-all, through GetItem too.
	doc = call(t, srv, `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>`+
		`<t:ExtendedFieldURI PropertyTag="0x1081" PropertyType="Integer"/><t:ExtendedFieldURI PropertyTag="0x1080" PropertyType="Integer"/>`+
		`</t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="`+it.ID+`"/></m:ItemIds></m:GetItem>`)
	var verbs []string
	for _, v := range find(doc, "Value") {
		verbs = append(verbs, v.Text())
	}
	if !slices.Equal(verbs, []string{"261", "103"}) && !slices.Equal(verbs, []string{"103", "261"}) {
		t.Errorf("original's PR_LAST_VERB_EXECUTED and PR_ICON_INDEX = %v, want 103 and 261", verbs)
	}
	marked, _ := m.Item(it.ID)
	if marked.ChangeKey == it.ChangeKey {
		t.Error("marking the original kept its ChangeKey")
	}
	bobIn, _ := srv.Mailbox("bob@example.com").Items("inbox")
	if len(bobIn) != 1 || bobIn[0].Message.Subject != "RE: plans" || bobIn[0].Message.IsRead {
		t.Errorf("bob's inbox %v", bobIn)
	}

	// Reply to the sender only, saved as a draft with an HTML body around
	// the text original.
	doc = call(t, srv, `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:ReplyToItem>`+ref+
		`<t:NewBodyContent BodyType="HTML">&lt;p&gt;ok &amp; thanks&lt;/p&gt;</t:NewBodyContent></t:ReplyToItem></m:Items></m:CreateItem>`)
	id := attr(first(t, doc, "ItemId"), "Id")
	d, err := m.Item(id)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := m.Item(it.ID); again.ChangeKey != marked.ChangeKey {
		t.Error("a reply saved as a draft changed the original")
	}
	if !slices.Equal(addressesOf(d.Message.To), []string{"ann@example.org"}) || d.Message.Cc != nil || !d.Message.IsDraft ||
		d.Message.BodyType != "HTML" || !strings.HasPrefix(d.Message.Body, "<p>ok & thanks</p><hr>") || !strings.Contains(d.Message.Body, "this is RE: plans.<br>") {
		t.Errorf("reply draft = %+v", d.Message)
	}

	// Forward keeps the attachments; a Subject given wins.
	doc = call(t, srv, `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:ForwardItem><t:Subject>see below</t:Subject>`+
		`<t:ToRecipients><t:Mailbox><t:EmailAddress>dan@example.org</t:EmailAddress></t:Mailbox></t:ToRecipients>`+ref+
		`</t:ForwardItem></m:Items></m:CreateItem>`)
	f, err := m.Item(attr(first(t, doc, "ItemId"), "Id"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Message.Subject != "see below" || !slices.Equal(addressesOf(f.Message.To), []string{"dan@example.org"}) ||
		len(f.Message.Attachments) != 1 || f.Message.InReplyTo != "" || !strings.Contains(f.Message.Body, "From: Ann Sender") {
		t.Errorf("forward = %+v", f.Message)
	}
	doc = call(t, srv, `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:ForwardItem>`+ref+`</t:ForwardItem></m:Items></m:CreateItem>`)
	if f, err := m.Item(attr(first(t, doc, "ItemId"), "Id")); err != nil || f.Message.Subject != "FW: plans" {
		t.Errorf("forward subject = %q, %v", f.Message.Subject, err)
	}
}

func TestCreateItem_ResponseObjectErrors(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	it := mustDeliver(t, m, "inbox", testMessage("hello"))
	ref := `<t:ReferenceItemId Id="` + it.ID + `"/>`
	for _, tc := range []struct {
		name, op   string
		wantStatus int
		wantCode   string
	}{
		// As for a t:Message without MessageDisposition.
		{"no disposition", `<m:CreateItem><m:Items><t:ReplyToItem>` + ref + `</t:ReplyToItem></m:Items></m:CreateItem>`,
			http.StatusInternalServerError, "ErrorMessageDispositionRequired"},
		{"no reference", `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:ReplyToItem/></m:Items></m:CreateItem>`,
			http.StatusInternalServerError, "ErrorSchemaValidation"},
		{"unescaped HTML", `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:ReplyToItem>` + ref +
			`<t:NewBodyContent BodyType="HTML"><p>x</p></t:NewBodyContent></t:ReplyToItem></m:Items></m:CreateItem>`,
			http.StatusInternalServerError, "ErrorSchemaValidation"},
		{"unescaped HTML in a message body", `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:Message>` +
			`<t:Body BodyType="HTML">Hell<b>o</b></t:Body></t:Message></m:Items></m:CreateItem>`,
			http.StatusInternalServerError, "ErrorSchemaValidation"},
		{"bad body type", `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:ReplyToItem>` + ref +
			`<t:NewBodyContent BodyType="RTF">x</t:NewBodyContent></t:ReplyToItem></m:Items></m:CreateItem>`,
			http.StatusInternalServerError, "ErrorSchemaValidation"},
		{"malformed id", `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:ReplyToItem><t:ReferenceItemId Id="bm9wZQ=="/></t:ReplyToItem></m:Items></m:CreateItem>`,
			http.StatusOK, "ErrorInvalidIdMalformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, doc := post(t, srv, envStart+tc.op+envEnd, map[string]string{"X-AnchorMailbox": "alice@example.com"})
			if status != tc.wantStatus {
				t.Fatalf("HTTP %d, want %d", status, tc.wantStatus)
			}
			if got := faultCode(t, doc); !strings.HasSuffix(got, tc.wantCode) {
				t.Errorf("code %q, want %s", got, tc.wantCode)
			}
		})
	}
	// A deleted original is ErrorItemNotFound for that item only.
	if err := m.DeleteItem(it.ID, HardDelete); err != nil {
		t.Fatal(err)
	}
	doc := call(t, srv, `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:ReplyToItem>`+ref+`</t:ReplyToItem></m:Items></m:CreateItem>`)
	if got := codes(doc); !slices.Equal(got, []string{"ErrorItemNotFound"}) {
		t.Errorf("reply to a deleted item: %v", got)
	}
}
