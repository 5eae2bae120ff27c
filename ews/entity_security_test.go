package ews

import (
	"errors"
	"strings"
	"testing"
)

// Entity tricks — a billion-laughs document type, an external entity
// naming a local file, an undeclared entity — fail every decoder with its
// typed error in bounded memory, and nothing of the named file is read:
// the codec expands no entity but XML's five and character references.
func TestDecoders_EntityTricks(t *testing.T) {
	laughs := `<!DOCTYPE s:Envelope [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">` +
		`<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">` +
		`<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">]>`
	external := `<!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>`
	tricks := map[string]struct{ doctype, ref string }{
		"billion laughs":     {laughs, "&f;"},
		"external entity":    {external, "&x;"},
		"undeclared entity":  {"", "&nbsp;"},
		"parameter entities": {`<!DOCTYPE s:Envelope [<!ENTITY % p "x"> %p;]>`, "&p;"},
	}
	for name, tr := range tricks {
		// A response page, with the reference in a subject.
		page := strings.Replace(smallSyncPage, "<s:Envelope", tr.doctype+"<s:Envelope", 1)
		page = strings.Replace(page, "</t:Subject>", tr.ref+"</t:Subject>", 1)
		for _, op := range []string{"SyncFolderItems", "GetItem"} {
			var err error
			n := allocatedBy(func() { _, err = decodeResponse(op, []byte(page), DefaultMaxResponseTags) })
			if !errors.Is(err, ErrMalformedResponse) || strings.Contains(err.Error(), "root:") {
				t.Errorf("%s as %s: %v", name, op, err)
			}
			if n > 1<<20 {
				t.Errorf("%s as %s: %d bytes allocated", name, op, n)
			}
		}
		// A push body.
		body := strings.Replace(string(pushNotification("S1", "W0", "W1")), "<soap:Envelope", strings.ReplaceAll(tr.doctype, "s:Envelope", "soap:Envelope")+"<soap:Envelope", 1)
		body = strings.Replace(body, "<t:ItemId Id=\"I-W1\"/>", "<t:ItemId Id=\""+tr.ref+"\"/>", 1)
		if _, err := decodeSendNotification([]byte(body)); !errors.Is(err, ErrMalformedNotification) || strings.Contains(err.Error(), "root:") {
			t.Errorf("%s in a push body: %v", name, err)
		}
		// A streaming envelope.
		env := strings.ReplaceAll(tr.doctype, "s:Envelope", "soap:Envelope") + strings.Replace(seNotify("S1", "A"), `Id="A"`, `Id="`+tr.ref+`"`, 1)
		if _, err := newStreamReader(strings.NewReader(env)).Next(); !errors.Is(err, ErrMalformedNotification) || strings.Contains(err.Error(), "root:") {
			t.Errorf("%s in a streaming envelope: %v", name, err)
		}
	}
}
