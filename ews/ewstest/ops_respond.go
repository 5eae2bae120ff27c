package ewstest

import (
	"html"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// Response objects: CreateItem with t:ReplyToItem, t:ReplyAllToItem or
// t:ForwardItem in Items (what the EWS Managed API's EmailMessage.Reply,
// Forward, CreateReply and CreateForward send) builds a new message from
// the message ReferenceItemId names. It is then saved, sent or both like
// any CreateItem message, following MessageDisposition.

// responseObjects are the Items children that answer an existing message,
// with the subject prefix Exchange gives the new message.
var responseObjects = map[string]string{"ReplyToItem": "RE: ", "ReplyAllToItem": "RE: ", "ForwardItem": "FW: "}

// responseMessage builds the message a response object creates: the
// referenced message's normalized subject behind "RE: " or "FW: " (unless
// the request gives a Subject); for a reply, the sender as recipient (and
// for reply-all the other To and Cc recipients except the mailbox owner),
// In-Reply-To and References; for a forward, the original's attachments;
// then any recipients the request lists, and NewBodyContent above a
// header block and the original body.
func (r *request) responseMessage(el *etree.Element) (Message, error) {
	ref := childT(el, "ReferenceItemId")
	if ref == nil {
		return Message{}, schemaFault("the required element ReferenceItemId is missing from %s", el.Tag)
	}
	id := attr(ref, "Id")
	if id == "" {
		return Message{}, schemaFault("the required attribute 'Id' is missing")
	}
	given, set, err := parseItemPayload(el)
	if err != nil {
		return Message{}, err
	}
	var newBody, newType string
	if nb := childT(el, "NewBodyContent"); nb != nil {
		if err := textOnly(nb); err != nil {
			return Message{}, err
		}
		newBody, newType = nb.Text(), attr(nb, "BodyType")
		if newType != "HTML" && newType != "Text" {
			return Message{}, schemaFault("the BodyType attribute is missing or invalid")
		}
	}
	m, err := r.s.mailboxByID(id)
	if err != nil {
		return Message{}, err
	}
	if !r.mayAccess(m) {
		return Message{}, codeErr("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	}
	m.mu.Lock()
	it, err := m.lookupItem(id)
	var orig Message
	if err == nil {
		orig = it.msg
		orig.To, orig.Cc = slices.Clone(orig.To), slices.Clone(orig.Cc)
		orig.Attachments = slices.Clone(orig.Attachments)
	}
	m.mu.Unlock()
	if err != nil {
		return Message{}, err
	}

	msg := given
	msg.ItemClass = "IPM.Note"
	if !set["Subject"] {
		msg.Subject = responseObjects[el.Tag] + normalizedSubject(orig.Subject)
	}
	owner := r.mb.address
	notOwner := func(as []Address) []Address {
		var out []Address
		for _, a := range as {
			if !strings.EqualFold(a.Email, owner) {
				out = append(out, a)
			}
		}
		return out
	}
	switch el.Tag {
	case "ReplyToItem", "ReplyAllToItem":
		sender := orig.From
		if sender.Email == "" {
			sender = orig.Sender
		}
		var to, cc []Address
		if sender.Email != "" {
			to = append(to, sender)
		}
		if el.Tag == "ReplyAllToItem" {
			for _, a := range notOwner(orig.To) {
				if !strings.EqualFold(a.Email, sender.Email) {
					to = append(to, a)
				}
			}
			cc = notOwner(orig.Cc)
		}
		msg.To = append(to, msg.To...)
		msg.Cc = append(cc, msg.Cc...)
		msg.InReplyTo = orig.InternetMessageID
		msg.References = strings.TrimSpace(orig.References + " " + orig.InternetMessageID)
	case "ForwardItem":
		msg.Attachments = append(orig.Attachments, msg.Attachments...)
	}
	if !set["Body"] {
		msg.Body, msg.BodyType = quoteOriginal(newBody, newType, orig)
	}
	// Sending the response marks the original as Exchange does (Microsoft's
	// "Respond to email messages by using EWS" reads these back): a change
	// of the original, so SyncFolderItems reports it as an Update.
	if disp := attr(r.body, "MessageDisposition"); (disp == "SendOnly" || disp == "SendAndSaveCopy") &&
		(msg.From.Email == "" || strings.EqualFold(msg.From.Email, r.mb.address)) {
		verb, icon := lastVerb[el.Tag][0], lastVerb[el.Tag][1]
		_, err := m.UpdateItem(id, ItemUpdate{Overwrite: true, ext: map[string]*extValue{
			"tag:" + strconv.Itoa(prLastVerbExecuted):      {typ: "Integer", values: []string{verb}},
			"tag:" + strconv.Itoa(prLastVerbExecutionTime): {typ: "SystemTime", values: []string{m.now().Format(time.RFC3339)}},
			"tag:" + strconv.Itoa(prIconIndex):             {typ: "Integer", values: []string{icon}},
		}})
		if err != nil {
			return Message{}, err
		}
	}
	return msg, nil
}

// The MAPI properties a sent response sets on the original message.
const (
	prIconIndex             = 0x1080 // PR_ICON_INDEX
	prLastVerbExecuted      = 0x1081 // PR_LAST_VERB_EXECUTED
	prLastVerbExecutionTime = 0x1082 // PR_LAST_VERB_EXECUTION_TIME
)

// lastVerb is PR_LAST_VERB_EXECUTED (EXCHIVERB_REPLYTOSENDER 102,
// EXCHIVERB_REPLYTOALL 103, EXCHIVERB_FORWARD 104) and PR_ICON_INDEX
// (replied 0x105, forwarded 0x106) for each response object.
var lastVerb = map[string][2]string{
	"ReplyToItem":    {"102", "261"},
	"ReplyAllToItem": {"103", "261"},
	"ForwardItem":    {"104", "262"},
}

// normalizedSubject strips one subject prefix (MAPI's PR_SUBJECT_PREFIX:
// up to three letters, a colon and a space, such as "RE: " or "FW: ").
func normalizedSubject(s string) string {
	if i := strings.Index(s, ": "); i >= 1 && i <= 3 {
		for _, c := range s[:i] {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return s
			}
		}
		return s[i+2:]
	}
	return s
}

// quoteOriginal composes a response body: the new text, a separator with
// the original's From, Sent, To and Subject, then the original body, in
// the new text's body type (the original's when there is no new text).
func quoteOriginal(newBody, newType string, orig Message) (string, string) {
	origType := orig.BodyType
	if origType == "" {
		origType = "Text"
	}
	if newType == "" {
		newType = origType
	}
	sent := orig.DateTimeSent
	if sent.IsZero() {
		sent = orig.DateTimeReceived
	}
	header := [][2]string{
		{"From", displayNames([]Address{orig.From})},
		{"Sent", sent.UTC().Format("Monday, January 2, 2006 3:04 PM")},
		{"To", displayNames(orig.To)},
		{"Subject", orig.Subject},
	}
	var b strings.Builder
	if newType == "HTML" {
		b.WriteString(newBody)
		b.WriteString(`<hr><div><b>`)
		for i, h := range header {
			if i > 0 {
				b.WriteString("<br><b>")
			}
			b.WriteString(h[0] + ":</b> " + html.EscapeString(h[1]))
		}
		b.WriteString("</div><br>")
		if origType == "HTML" {
			b.WriteString(orig.Body)
		} else {
			b.WriteString(strings.ReplaceAll(html.EscapeString(orig.Body), "\n", "<br>"))
		}
		return b.String(), "HTML"
	}
	b.WriteString(newBody)
	b.WriteString("\r\n\r\n________________________________\r\n")
	for _, h := range header {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	b.WriteString("\r\n")
	if origType == "HTML" {
		b.WriteString(stripTags(orig.Body))
	} else {
		b.WriteString(orig.Body)
	}
	return b.String(), "Text"
}

// textOnly refuses child elements in an element whose schema type is text
// (a body's HTML must arrive escaped), as Exchange's schema validation
// does: "The element 'Body' cannot contain child element 'b' because the
// parent element's content model is text only."
func textOnly(el *etree.Element) error {
	if kids := el.ChildElements(); len(kids) > 0 {
		return schemaFault("The element '%s' cannot contain child element '%s' because the parent element's content model is text only.", el.Tag, kids[0].Tag)
	}
	return nil
}
