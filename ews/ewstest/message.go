package ewstest

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
)

// Address is a mailbox address as EWS writes it (t:Mailbox with Name,
// EmailAddress and RoutingType SMTP).
type Address struct {
	Name  string
	Email string
}

// String formats the address as an RFC 5322 mailbox ("Name" <email>), or
// "" when Email is empty.
func (a Address) String() string {
	if a.Email == "" {
		return ""
	}
	return (&mail.Address{Name: a.Name, Address: a.Email}).String()
}

// Attachment is a file attachment of a message.
type Attachment struct {
	Name        string
	ContentType string
	Content     []byte

	// item, when set, makes this an item attachment (CreateAttachment
	// with t:ItemAttachment, ops_misc.go): the embedded item, whose MIME
	// is Content.
	item *Message
}

// Flag status values (t:FlagStatus).
const (
	FlagNotFlagged = "NotFlagged"
	FlagFlagged    = "Flagged"
	FlagComplete   = "Complete"
)

// Message is the content of a mail item. Zero fields get Exchange-like
// defaults when the message is stored: ItemClass "IPM.Note", Importance and
// Sensitivity "Normal", BodyType "Text", FlagStatus "NotFlagged", a
// generated InternetMessageID, and the server's current time for
// DateTimeReceived and DateTimeSent.
//
// Slices in a stored Message are never modified in place by the server, so
// a Message returned by the Mailbox accessors may be kept.
type Message struct {
	Subject           string
	From              Address
	Sender            Address // zero means the same as From
	To, Cc, Bcc       []Address
	DateTimeReceived  time.Time
	DateTimeSent      time.Time
	IsRead            bool
	IsDraft           bool
	Importance        string // Low, Normal or High
	Sensitivity       string // Normal, Personal, Private or Confidential
	Categories        []string
	InternetMessageID string
	InReplyTo         string
	References        string
	ItemClass         string
	Body              string
	BodyType          string // Text or HTML
	Attachments       []Attachment
	FlagStatus        string
	// MIME, when set, is the message's raw RFC 5322 form as it was created
	// (CreateItem with MimeContent); otherwise GetItem renders MIME from the
	// fields above.
	MIME []byte

	// ext holds the extended properties a client set through EWS, by
	// extKey (see extprops.go).
	ext map[string]extValue
	// bag holds the derived-type properties of a non-mail item
	// (calendar.go); never modified in place.
	bag *propBag
}

// normalize fills defaults. now is the server's time.
func (msg *Message) normalize(now time.Time, seq uint64) {
	msg.ItemClass = cmp.Or(msg.ItemClass, "IPM.Note")
	msg.Importance = cmp.Or(msg.Importance, "Normal")
	msg.Sensitivity = cmp.Or(msg.Sensitivity, "Normal")
	msg.BodyType = cmp.Or(msg.BodyType, "Text")
	msg.FlagStatus = cmp.Or(msg.FlagStatus, FlagNotFlagged)
	if msg.DateTimeReceived.IsZero() {
		msg.DateTimeReceived = now
	}
	if msg.DateTimeSent.IsZero() {
		msg.DateTimeSent = msg.DateTimeReceived
	}
	msg.DateTimeReceived = msg.DateTimeReceived.UTC().Truncate(time.Second)
	msg.DateTimeSent = msg.DateTimeSent.UTC().Truncate(time.Second)
	if msg.InternetMessageID == "" {
		host := "example.com"
		if i := strings.LastIndexByte(msg.From.Email, '@'); i >= 0 {
			host = msg.From.Email[i+1:]
		}
		msg.InternetMessageID = fmt.Sprintf("<%016x.%d@%s>", splitmix64(seq^uint64(now.UnixNano())), seq, host)
	}
}

func (msg *Message) sender() Address {
	if msg.Sender.Email != "" {
		return msg.Sender
	}
	return msg.From
}

// conversationTopic strips reply and forward prefixes from the subject.
func conversationTopic(subject string) string {
	s := strings.TrimSpace(subject)
	for {
		l := strings.ToLower(s)
		switch {
		case strings.HasPrefix(l, "re:"), strings.HasPrefix(l, "fw:"):
			s = strings.TrimSpace(s[3:])
		case strings.HasPrefix(l, "fwd:"):
			s = strings.TrimSpace(s[4:])
		default:
			return s
		}
	}
}

// conversationID derives a ConversationId from the conversation topic, so
// replies share their thread's id.
func conversationID(subject string) string {
	sum := md5.Sum([]byte(strings.ToLower(conversationTopic(subject))))
	b := append([]byte{0x00, 0x04, 0x24, 0x00, 0x10, 0x00}, sum[:]...)
	return base64.StdEncoding.EncodeToString(b)
}

func joinAddresses(as []Address) string {
	parts := make([]string, 0, len(as))
	for _, a := range as {
		if s := a.String(); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

func displayNames(as []Address) string {
	parts := make([]string, 0, len(as))
	for _, a := range as {
		if a.Name != "" {
			parts = append(parts, a.Name)
		} else {
			parts = append(parts, a.Email)
		}
	}
	return strings.Join(parts, "; ")
}

// renderMIME writes the message as RFC 5322 with MIME. The output parses
// with net/mail; its length is the item's Size.
func (msg *Message) renderMIME() []byte {
	if len(msg.MIME) > 0 {
		return msg.MIME
	}
	var b bytes.Buffer
	b.Grow(640 + len(msg.Body) + len(msg.Body)/8)
	msg.writeMIME(&b)
	return b.Bytes()
}

// mimeBufs recycles buffers for mimeLen.
var mimeBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// mimeLen returns len(msg.renderMIME()) without keeping the bytes.
func (msg *Message) mimeLen() int {
	if len(msg.MIME) > 0 {
		return len(msg.MIME)
	}
	b := mimeBufs.Get().(*bytes.Buffer)
	b.Reset()
	msg.writeMIME(b)
	n := b.Len()
	if b.Cap() <= 1<<20 {
		mimeBufs.Put(b)
	}
	return n
}

// writeMIME renders the message (from its fields) into b.
func (msg *Message) writeMIME(b *bytes.Buffer) {
	h := func(k, v string) {
		if v != "" {
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\r\n")
		}
	}
	h("From", msg.From.String())
	if s := msg.sender(); s != msg.From {
		h("Sender", s.String())
	}
	h("To", joinAddresses(msg.To))
	h("Cc", joinAddresses(msg.Cc))
	h("Subject", mime.QEncoding.Encode("utf-8", msg.Subject))
	h("Date", msg.DateTimeSent.Format(time.RFC1123Z))
	h("Message-ID", msg.InternetMessageID)
	h("In-Reply-To", msg.InReplyTo)
	h("References", msg.References)
	h("Thread-Topic", mime.QEncoding.Encode("utf-8", conversationTopic(msg.Subject)))
	if msg.Importance != "" && msg.Importance != "Normal" {
		h("Importance", strings.ToLower(msg.Importance))
	}
	if len(msg.Categories) > 0 {
		h("Keywords", mime.QEncoding.Encode("utf-8", strings.Join(msg.Categories, ", ")))
	}
	h("MIME-Version", "1.0")
	ctype := "text/plain"
	if msg.BodyType == "HTML" {
		ctype = "text/html"
	}
	writeBody := func() {
		if sevenBit(msg.Body) {
			// Plain ASCII with short lines goes as it is (CRLF line ends),
			// as Exchange sends it; anything else is quoted-printable.
			b.WriteString("Content-Type: " + ctype + "; charset=\"us-ascii\"\r\n")
			b.WriteString("Content-Transfer-Encoding: 7bit\r\n\r\n")
			writeCRLF(b, msg.Body)
			b.WriteString("\r\n")
			return
		}
		b.WriteString("Content-Type: " + ctype + "; charset=\"utf-8\"\r\n")
		b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
		w := quotedprintable.NewWriter(b)
		w.Write([]byte(msg.Body))
		w.Close()
		b.WriteString("\r\n")
	}
	if len(msg.Attachments) == 0 {
		writeBody()
		return
	}
	boundary := fmt.Sprintf("_%016x_", splitmix64(uint64(len(msg.Body))^uint64(len(msg.Subject))))
	b.WriteString("Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n")
	b.WriteString("--" + boundary + "\r\n")
	writeBody()
	for _, a := range msg.Attachments {
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		b.WriteString("--" + boundary + "\r\n")
		b.WriteString("Content-Type: " + ct + "; name=\"" + mime.QEncoding.Encode("utf-8", a.Name) + "\"\r\n")
		b.WriteString("Content-Disposition: attachment; filename=\"" + mime.QEncoding.Encode("utf-8", a.Name) + "\"\r\n")
		b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		enc := base64.StdEncoding.EncodeToString(a.Content)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
}

// sevenBit reports whether body can travel as 7bit MIME: ASCII without
// NUL or bare CR, and no line longer than RFC 5322's 998 characters.
func sevenBit(body string) bool {
	line := 0
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c >= 0x80 || c == 0 || c == '\r':
			return false
		case c == '\n':
			line = 0
		default:
			if line++; line > 998 {
				return false
			}
		}
	}
	return true
}

// writeCRLF writes s with each LF as CRLF.
func writeCRLF(b *bytes.Buffer, s string) {
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			b.WriteString(s)
			return
		}
		b.WriteString(s[:i])
		b.WriteString("\r\n")
		s = s[i+1:]
	}
}

// parseMIME fills a Message from raw RFC 5322 bytes (CreateItem with
// MimeContent). The raw bytes are kept as the message's MIME.
func parseMIME(raw []byte) (Message, error) {
	var msg Message
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		return msg, fmt.Errorf("%w: MimeContent is not RFC 5322: %v", ErrInvalidArgument, err)
	}
	dec := new(mime.WordDecoder)
	decode := func(s string) string {
		if d, err := dec.DecodeHeader(s); err == nil {
			return d
		}
		return s
	}
	msg.Subject = decode(m.Header.Get("Subject"))
	conv := func(key string) []Address {
		list, err := m.Header.AddressList(key)
		if err != nil {
			return nil
		}
		out := make([]Address, 0, len(list))
		for _, a := range list {
			out = append(out, Address{Name: a.Name, Email: a.Address})
		}
		return out
	}
	if f := conv("From"); len(f) > 0 {
		msg.From = f[0]
	}
	if f := conv("Sender"); len(f) > 0 {
		msg.Sender = f[0]
	}
	msg.To, msg.Cc = conv("To"), conv("Cc")
	if d, err := m.Header.Date(); err == nil {
		msg.DateTimeSent = d
	}
	msg.InternetMessageID = m.Header.Get("Message-Id")
	msg.InReplyTo = m.Header.Get("In-Reply-To")
	msg.References = m.Header.Get("References")
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return msg, fmt.Errorf("%w: MimeContent body: %v", ErrInvalidArgument, err)
	}
	msg.Body = string(body)
	msg.MIME = append([]byte(nil), raw...)
	return msg, nil
}

var itemElements = map[string]bool{"Message": true, "Item": true, "PostItem": true, "MeetingRequest": true,
	"CalendarItem": true, "Contact": true, "Task": true, "DistributionList": true, "MeetingMessage": true,
	"MeetingResponse": true, "MeetingCancellation": true}

func parseMailboxEl(el *etree.Element) Address {
	mb := childT(el, "Mailbox")
	if mb == nil {
		mb = el
	}
	return Address{Name: textOf(childT(mb, "Name")), Email: textOf(childT(mb, "EmailAddress"))}
}

func parseRecipients(el *etree.Element) []Address {
	var out []Address
	for _, mb := range childrenNS(el, nsT, "Mailbox") {
		out = append(out, parseMailboxEl(mb))
	}
	return out
}

func parseStrings(el *etree.Element) []string {
	var out []string
	for _, s := range childrenNS(el, nsT, "String") {
		out = append(out, textOf(s))
	}
	return out
}

// parseItemPayload reads a t:Message (or other item element) into a
// Message; set lists the property names present.
func parseItemPayload(el *etree.Element) (Message, map[string]bool, error) {
	var msg Message
	set := map[string]bool{}
	if mc := childT(el, "MimeContent"); mc != nil {
		raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(mc.Text()), ""))
		if err != nil {
			return msg, nil, codeErr("ErrorMimeContentInvalidBase64String", "The MIME content is not a valid Base64 string.")
		}
		if msg, err = parseMIME(raw); err != nil {
			return msg, nil, codeErr("ErrorMimeContentConversionFailed", "The MIME content could not be converted.")
		}
		set["MimeContent"] = true
	}
	for _, c := range el.ChildElements() {
		set[c.Tag] = true
		switch c.Tag {
		case "ItemClass":
			msg.ItemClass = textOf(c)
		case "Subject":
			msg.Subject = c.Text()
		case "Sensitivity":
			msg.Sensitivity = textOf(c)
			switch msg.Sensitivity {
			case "Normal", "Personal", "Private", "Confidential":
			default:
				return msg, nil, schemaFault("the value %q is invalid for Sensitivity", msg.Sensitivity)
			}
		case "Body":
			if err := textOnly(c); err != nil {
				return msg, nil, err
			}
			msg.Body = c.Text()
			msg.BodyType = attr(c, "BodyType")
			if msg.BodyType != "HTML" && msg.BodyType != "Text" {
				return msg, nil, schemaFault("the BodyType attribute is missing or invalid")
			}
		case "Categories":
			msg.Categories = parseStrings(c)
		case "Importance":
			msg.Importance = textOf(c)
			if msg.Importance != "Low" && msg.Importance != "Normal" && msg.Importance != "High" {
				return msg, nil, schemaFault("the value %q is invalid for Importance", msg.Importance)
			}
		case "IsRead":
			v, err := parseBool(textOf(c))
			if err != nil {
				return msg, nil, err
			}
			msg.IsRead = v
		case "From":
			msg.From = parseMailboxEl(c)
		case "Sender":
			msg.Sender = parseMailboxEl(c)
		case "ToRecipients":
			msg.To = parseRecipients(c)
		case "CcRecipients":
			msg.Cc = parseRecipients(c)
		case "BccRecipients":
			msg.Bcc = parseRecipients(c)
		case "InternetMessageId":
			msg.InternetMessageID = textOf(c)
		case "Flag":
			msg.FlagStatus = textOf(childT(c, "FlagStatus"))
			switch msg.FlagStatus {
			case FlagNotFlagged, FlagFlagged, FlagComplete:
			default:
				return msg, nil, schemaFault("the value %q is invalid for FlagStatus", msg.FlagStatus)
			}
		case "DateTimeSent", "DateTimeReceived":
			// Read-only on Exchange for new items; ignored.
		case "ExtendedProperty":
			e, v, err := parseExtendedProperty(c)
			if err != nil {
				return msg, nil, err
			}
			key, err := extKey(e)
			if err != nil {
				return msg, nil, err
			}
			msg.setExt(key, v)
		}
	}
	if err := parseBag(&msg, el); err != nil { // calendar.go
		return msg, nil, err
	}
	return msg, set, nil
}
