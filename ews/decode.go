package ews

import (
	"encoding/base64"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// The decoders below walk each element's children exactly once, switching
// on the local name; they never search paths.

// typesChildren yields e's child elements in the types namespace (t:), in
// document order, without allocating.
func typesChildren(e *etree.Element) iter.Seq[*etree.Element] {
	return func(yield func(*etree.Element) bool) {
		for c := range ewsxml.Children(e) {
			if c.Space == nsT && !yield(c) {
				return
			}
		}
	}
}

// idAttrs reads the Id and ChangeKey attributes in one pass.
func idAttrs(e *etree.Element) (id, ck string) {
	for _, a := range e.Attr {
		if a.Space != "" {
			continue
		}
		switch a.Key {
		case "Id":
			id = a.Value
		case "ChangeKey":
			ck = a.Value
		}
	}
	return id, ck
}

func decodeFolderID(e *etree.Element) (FolderID, error) {
	id, ck := idAttrs(e)
	if id == "" {
		return FolderID{}, fmt.Errorf("%s without Id", e.Tag)
	}
	return FolderID{ID: id, ChangeKey: ck}, nil
}

func decodeItemID(e *etree.Element) (ItemID, error) {
	id, ck := idAttrs(e)
	if id == "" {
		return ItemID{}, fmt.Errorf("%s without Id", e.Tag)
	}
	return ItemID{ID: id, ChangeKey: ck}, nil
}

// decodeFolder reads a t:Folder (or another folder kind).
func decodeFolder(e *etree.Element) (Folder, error) {
	f := Folder{Kind: e.Tag, TotalCount: -1, UnreadCount: -1, ChildFolderCount: -1, DeletedCountTotal: -1}
	var err error
	for c := range typesChildren(e) {
		switch c.Tag {
		case "FolderId":
			f.ID, err = decodeFolderID(c)
		case "ParentFolderId":
			f.ParentID, err = decodeFolderID(c)
		case "FolderClass":
			f.FolderClass = c.Text()
		case "DisplayName":
			f.DisplayName = c.Text()
		case "TotalCount":
			f.TotalCount, err = parseCount(c)
		case "UnreadCount":
			f.UnreadCount, err = parseCount(c)
		case "ChildFolderCount":
			f.ChildFolderCount, err = parseCount(c)
		case "ExtendedProperty":
			var p ExtendedProperty
			if p, err = decodeExtendedProperty(c); err == nil {
				f.Extended = append(f.Extended, p)
				err = f.applyKnown(p)
			}
		}
		if err != nil {
			return f, fmt.Errorf("%s/%s: %w", e.Tag, c.Tag, err)
		}
	}
	if f.ID.ID == "" {
		return f, fmt.Errorf("%s without FolderId", e.Tag)
	}
	return f, nil
}

// applyKnown fills the recovery properties from an extended property.
func (f *Folder) applyKnown(p ExtendedProperty) error {
	tag, ok := p.Field.Tag()
	if !ok {
		return nil
	}
	switch tag {
	case 0x670A:
		t, err := parseTime(p.Value)
		if err != nil {
			return fmt.Errorf("PR_LOCAL_COMMIT_TIME_MAX: %w", err)
		}
		f.LocalCommitTimeMax = t
	case 0x670B:
		n, err := strconv.ParseInt(strings.TrimSpace(p.Value), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("PR_DELETED_COUNT_TOTAL %q is not a count", p.Value)
		}
		f.DeletedCountTotal = n
	}
	return nil
}

// decodeExtendedProperty reads t:ExtendedProperty.
func decodeExtendedProperty(e *etree.Element) (ExtendedProperty, error) {
	var p ExtendedProperty
	seen := false
	for c := range typesChildren(e) {
		switch c.Tag {
		case "ExtendedFieldURI":
			seen = true
			for _, a := range c.Attr {
				switch a.Key {
				case "PropertyTag":
					p.Field.PropertyTag = a.Value
				case "PropertyType":
					p.Field.PropertyType = a.Value
				case "PropertySetId":
					p.Field.PropertySetID = a.Value
				case "DistinguishedPropertySetId":
					p.Field.DistinguishedPropertySetID = a.Value
				case "PropertyName":
					p.Field.PropertyName = a.Value
				case "PropertyId":
					p.Field.PropertyID = a.Value
				}
			}
		case "Value":
			p.Value = c.Text()
		case "Values":
			for v := range typesChildren(c) {
				if v.Tag == "Value" {
					p.Values = append(p.Values, v.Text())
				}
			}
		}
	}
	if !seen {
		return p, fmt.Errorf("ExtendedProperty without ExtendedFieldURI")
	}
	return p, nil
}

// decodeItem reads an item element (t:Message, t:Item, ...); lifted holds
// MimeContent texts extractMIME took out of the body.
func decodeItem(e *etree.Element, lifted [][]byte) (Item, error) {
	it := Item{Kind: e.Tag}
	var err error
	for c := range typesChildren(e) {
		switch c.Tag {
		case "MimeContent":
			it.MimeCharset = ewsxml.Attr(c, "CharacterSet")
			it.MimeContent, err = mimeText(strings.TrimSpace(c.Text()), lifted)
		case "ItemId":
			it.ID, err = decodeItemID(c)
		case "ParentFolderId":
			it.ParentFolderID, err = decodeFolderID(c)
		case "ItemClass":
			it.ItemClass = c.Text()
		case "Subject":
			it.Subject = c.Text()
		case "DateTimeReceived":
			it.DateTimeReceived, err = parseTime(c.Text())
		case "DateTimeSent":
			it.DateTimeSent, err = parseTime(c.Text())
		case "Size":
			it.Size, err = strconv.ParseInt(strings.TrimSpace(c.Text()), 10, 64)
			if err == nil && it.Size < 0 {
				err = fmt.Errorf("negative size")
			}
		case "Importance":
			it.Importance = strings.TrimSpace(c.Text())
		case "HasAttachments":
			it.HasAttachments, err = ewsxml.ParseBool(c.Text())
		case "IsRead":
			it.IsRead, err = ewsxml.ParseBool(c.Text())
		case "Categories":
			for s := range typesChildren(c) {
				if s.Tag == "String" {
					it.Categories = append(it.Categories, s.Text())
				}
			}
		case "InternetMessageId":
			it.InternetMessageID = strings.TrimSpace(c.Text())
		case "ConversationId":
			it.ConversationID, _ = idAttrs(c)
		case "From":
			it.From = decodeSingleMailbox(c)
		case "Sender":
			it.Sender = decodeSingleMailbox(c)
		case "ToRecipients":
			it.ToRecipients = decodeMailboxes(c)
		case "CcRecipients":
			it.CcRecipients = decodeMailboxes(c)
		case "BccRecipients":
			it.BccRecipients = decodeMailboxes(c)
		case "ExtendedProperty":
			var p ExtendedProperty
			if p, err = decodeExtendedProperty(c); err == nil {
				it.Extended = append(it.Extended, p)
			}
		}
		if err != nil {
			return it, fmt.Errorf("%s/%s: %w", e.Tag, c.Tag, err)
		}
	}
	if it.ID.ID == "" {
		return it, fmt.Errorf("%s without ItemId", e.Tag)
	}
	return it, nil
}

func decodeSingleMailbox(e *etree.Element) *Mailbox {
	for c := range typesChildren(e) {
		if c.Tag == "Mailbox" {
			m := decodeMailbox(c)
			return &m
		}
	}
	return nil
}

func decodeMailboxes(e *etree.Element) []Mailbox {
	var out []Mailbox
	for c := range typesChildren(e) {
		if c.Tag == "Mailbox" {
			out = append(out, decodeMailbox(c))
		}
	}
	return out
}

func decodeMailbox(e *etree.Element) Mailbox {
	var m Mailbox
	for c := range typesChildren(e) {
		switch c.Tag {
		case "Name":
			m.Name = c.Text()
		case "EmailAddress":
			m.EmailAddress = strings.TrimSpace(c.Text())
		case "RoutingType":
			m.RoutingType = strings.TrimSpace(c.Text())
		case "MailboxType":
			m.MailboxType = strings.TrimSpace(c.Text())
		}
	}
	return m
}

func parseCount(e *etree.Element) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(e.Text()))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a count", e.Text())
	}
	return n, nil
}

// parseTime reads an xs:dateTime; a value without zone is taken as UTC.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an xs:dateTime", s)
}

func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\r', '\n':
				return -1
			}
			return r
		}, s)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("MimeContent is not base64: %w", err)
	}
	return b, nil
}
