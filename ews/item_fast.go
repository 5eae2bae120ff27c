package ews

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// The fast path's item decoding (see sync_fast.go): the same fields and
// rules as decodeItem and its helpers in decode.go, read from the
// scanner. It gives up (returns false) wherever the tree decoder would
// report an error, so that the tree decoder reports it.

// item reads an item element (t:Message, t:Item, ...) into it.
func (d *fastDecoder) item(it *Item) bool {
	s := &d.s
	it.Kind = d.in.kind(s.Local())
	for s.Child() {
		if s.Space() != ewsxml.SpaceTypes {
			if !s.Skip() {
				return false
			}
			continue
		}
		ok := true
		var t []byte
		switch string(s.Local()) {
		case "MimeContent":
			cs, _ := s.Attr("CharacterSet")
			it.MimeCharset = d.in.str(cs)
			it.MimeContent, ok = d.mime()
		case "ItemId":
			it.ID, ok = d.itemID(false)
		case "ParentFolderId":
			var id ItemID
			id, ok = d.itemID(true)
			it.ParentFolderID = FolderID(id)
		case "ItemClass":
			t, ok = s.Text()
			it.ItemClass = d.in.str(t)
		case "Subject":
			t, ok = s.Text()
			it.Subject = string(t)
		case "DateTimeReceived":
			t, ok = s.Text()
			it.DateTimeReceived, ok = fastTime(t, ok)
		case "DateTimeSent":
			t, ok = s.Text()
			it.DateTimeSent, ok = fastTime(t, ok)
		case "Size":
			t, ok = s.Text()
			if ok {
				it.Size, ok = fastSize(t)
			}
		case "Importance":
			t, ok = s.Text()
			it.Importance = d.in.str(bytes.TrimSpace(t))
		case "HasAttachments":
			it.HasAttachments, ok = d.boolText()
		case "IsRead":
			it.IsRead, ok = d.boolText()
		case "Categories":
			it.Categories, ok = d.texts(it.Categories, "String", true)
		case "InternetMessageId":
			t, ok = s.Text()
			it.InternetMessageID = string(bytes.TrimSpace(t))
		case "ConversationId":
			v, _ := s.Attr("Id")
			it.ConversationID = string(v)
			ok = s.Skip()
		case "From":
			it.From, ok = d.singleMailbox()
		case "Sender":
			it.Sender, ok = d.singleMailbox()
		case "ToRecipients":
			it.ToRecipients, ok = d.mailboxes()
		case "CcRecipients":
			it.CcRecipients, ok = d.mailboxes()
		case "BccRecipients":
			it.BccRecipients, ok = d.mailboxes()
		case "ExtendedProperty":
			var p ExtendedProperty
			if p, ok = d.extendedProperty(); ok {
				it.Extended = append(it.Extended, p)
			}
		default:
			ok = s.Skip()
		}
		if !ok {
			return false
		}
	}
	return s.Err() == nil && it.ID.ID != ""
}

// itemID reads the Id and ChangeKey attributes of an id element, which
// must have an Id, and skips its content. A parent folder's id is shared
// with the item before's when equal.
func (d *fastDecoder) itemID(parent bool) (ItemID, bool) {
	s := &d.s
	var id ItemID
	for i := range s.Attrs() {
		a := &s.Attrs()[i]
		if len(a.Prefix) != 0 {
			continue
		}
		switch string(a.Local) {
		case "Id":
			id.ID = d.in.id(s.AttrValue(a), parent, 0)
		case "ChangeKey":
			id.ChangeKey = d.in.id(s.AttrValue(a), parent, 1)
		}
	}
	return id, id.ID != "" && s.Skip()
}

// boolText reads an xs:boolean element.
func (d *fastDecoder) boolText() (bool, bool) {
	t, ok := d.s.Text()
	if !ok {
		return false, false
	}
	switch string(bytes.TrimSpace(t)) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// mime reads t:MimeContent whose content is plain base64 (what
// extractMIME lifts); other content is left to the tree decoder.
func (d *fastDecoder) mime() ([]byte, bool) {
	raw, ok := d.s.RawText(&mimeBytes)
	if !ok {
		return nil, false
	}
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
	n, err := decodeBase64Bytes(dst, raw)
	if err != nil {
		return nil, false
	}
	return dst[:n], true
}

// mimeBytes are the bytes of MimeContent that extractMIME lifts.
var mimeBytes = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isBase64Byte(byte(c)) || isSpace(byte(c))
	}
	return t
}()

// texts appends to dst the texts of the t:<local> children of the
// element being read (t:String of t:Categories, t:Value of t:Values),
// interned when intern is set, skipping other children. dst grows once.
func (d *fastDecoder) texts(dst []string, local string, intern bool) ([]string, bool) {
	s := &d.s
	d.strs = d.strs[:0]
	for s.Child() {
		if !s.Is(ewsxml.SpaceTypes, local) {
			if !s.Skip() {
				return nil, false
			}
			continue
		}
		t, ok := s.Text()
		if !ok {
			return nil, false
		}
		if intern {
			d.strs = append(d.strs, d.in.str(t))
		} else {
			d.strs = append(d.strs, string(t))
		}
	}
	if s.Err() != nil || len(d.strs) == 0 {
		return dst, s.Err() == nil
	}
	if dst == nil {
		dst = make([]string, 0, len(d.strs))
	}
	return append(dst, d.strs...), true
}

// singleMailbox reads From or Sender: the first t:Mailbox child, or nil.
func (d *fastDecoder) singleMailbox() (*Mailbox, bool) {
	s := &d.s
	var m *Mailbox
	for s.Child() {
		if m != nil || !s.Is(ewsxml.SpaceTypes, "Mailbox") {
			if !s.Skip() {
				return nil, false
			}
			continue
		}
		m = new(Mailbox)
		if !d.mailbox(m) {
			return nil, false
		}
	}
	return m, s.Err() == nil
}

// mailboxes reads a recipient list.
func (d *fastDecoder) mailboxes() ([]Mailbox, bool) {
	s := &d.s
	d.mboxes = d.mboxes[:0]
	for s.Child() {
		if !s.Is(ewsxml.SpaceTypes, "Mailbox") {
			if !s.Skip() {
				return nil, false
			}
			continue
		}
		d.mboxes = append(d.mboxes, Mailbox{})
		if !d.mailbox(&d.mboxes[len(d.mboxes)-1]) {
			return nil, false
		}
	}
	if s.Err() != nil {
		return nil, false
	}
	if len(d.mboxes) == 0 {
		return nil, true
	}
	return append([]Mailbox(nil), d.mboxes...), true
}

// mailbox reads a t:Mailbox into m.
func (d *fastDecoder) mailbox(m *Mailbox) bool {
	s := &d.s
	for s.Child() {
		if s.Space() != ewsxml.SpaceTypes {
			if !s.Skip() {
				return false
			}
			continue
		}
		var dst *string
		trim := true
		switch string(s.Local()) {
		case "Name":
			dst, trim = &m.Name, false
		case "EmailAddress":
			dst = &m.EmailAddress
		case "RoutingType":
			dst = &m.RoutingType
		case "MailboxType":
			dst = &m.MailboxType
		default:
			if !s.Skip() {
				return false
			}
			continue
		}
		t, ok := s.Text()
		if !ok {
			return false
		}
		if trim {
			t = bytes.TrimSpace(t)
		}
		*dst = d.in.str(t)
	}
	return s.Err() == nil
}

// extendedProperty reads a t:ExtendedProperty as decodeExtendedProperty
// does.
func (d *fastDecoder) extendedProperty() (ExtendedProperty, bool) {
	s := &d.s
	var p ExtendedProperty
	seen := false
	for s.Child() {
		if s.Space() != ewsxml.SpaceTypes {
			if !s.Skip() {
				return p, false
			}
			continue
		}
		ok := true
		switch string(s.Local()) {
		case "ExtendedFieldURI":
			seen = true
			for i := range s.Attrs() {
				a := &s.Attrs()[i]
				var dst *string
				switch string(a.Local) { // any prefix, as decodeExtendedProperty
				case "PropertyTag":
					dst = &p.Field.PropertyTag
				case "PropertyType":
					dst = &p.Field.PropertyType
				case "PropertySetId":
					dst = &p.Field.PropertySetID
				case "DistinguishedPropertySetId":
					dst = &p.Field.DistinguishedPropertySetID
				case "PropertyName":
					dst = &p.Field.PropertyName
				case "PropertyId":
					dst = &p.Field.PropertyID
				default:
					continue
				}
				*dst = d.in.str(s.AttrValue(a))
			}
			ok = s.Skip()
		case "Value":
			var t []byte
			t, ok = s.Text()
			p.Value = string(t)
		case "Values":
			p.Values, ok = d.texts(p.Values, "Value", false)
		default:
			ok = s.Skip()
		}
		if !ok {
			return p, false
		}
	}
	return p, s.Err() == nil && seen
}

// fastTime is parseTime over bytes, without allocating for the usual
// "2006-01-02T15:04:05Z" form.
func fastTime(t []byte, ok bool) (time.Time, bool) {
	if !ok {
		return time.Time{}, false
	}
	t = bytes.TrimSpace(t)
	if len(t) == 20 && t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' && t[16] == ':' && t[19] == 'Z' {
		y, ok1 := digits(t[0:4])
		mo, ok2 := digits(t[5:7])
		dd, ok3 := digits(t[8:10])
		h, ok4 := digits(t[11:13])
		mi, ok5 := digits(t[14:16])
		se, ok6 := digits(t[17:19])
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && mo >= 1 && mo <= 12 && dd >= 1 &&
			dd <= daysIn(time.Month(mo), y) && h < 24 && mi < 60 && se < 60 {
			return time.Date(y, time.Month(mo), dd, h, mi, se, 0, time.UTC), true
		}
	}
	v, err := parseTime(string(t))
	return v, err == nil
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(m time.Month, y int) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// fastSize reads t:Size as decodeItem does: a non-negative integer.
func fastSize(t []byte) (int64, bool) {
	t = bytes.TrimSpace(t)
	if len(t) > 0 && len(t) < 19 {
		if n, ok := digits(t); ok {
			return int64(n), true
		}
	}
	n, err := strconv.ParseInt(string(t), 10, 64)
	return n, err == nil && n >= 0
}

// interner shares the strings that repeat within a page (item classes,
// importance, routing and mailbox types, names and addresses, categories,
// parent folder ids), so that each costs one allocation per page instead
// of one per item.
type interner struct {
	m      map[string]string
	parent [2]string // the last parent folder Id and ChangeKey
}

// maxInterned bounds the interner's table; past it strings are no longer
// shared.
const maxInterned = 4096

func (in *interner) reset() {
	clear(in.m)
	in.parent = [2]string{}
}

// str returns b as a string, shared when short.
func (in *interner) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > 64 {
		return string(b)
	}
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if in.m == nil {
		in.m = make(map[string]string, 64)
	}
	if len(in.m) < maxInterned {
		in.m[s] = s
	}
	return s
}

// id returns an id or change key (slot 0 or 1); a parent folder's is
// shared with the one before when equal, as it is in every item of a
// page. Item ids never repeat.
func (in *interner) id(b []byte, parent bool, slot int) string {
	switch {
	case len(b) == 0:
		return ""
	case !parent:
		return string(b)
	case string(b) == in.parent[slot]:
		return in.parent[slot]
	}
	s := string(b)
	in.parent[slot] = s
	return s
}

// kind returns an item element's local name, without allocating for the
// usual ones.
func (in *interner) kind(b []byte) string {
	switch string(b) {
	case "Message":
		return "Message"
	case "Item":
		return "Item"
	case "MeetingRequest":
		return "MeetingRequest"
	case "CalendarItem":
		return "CalendarItem"
	}
	return in.str(b)
}
