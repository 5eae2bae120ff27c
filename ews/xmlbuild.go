package ews

import (
	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// addFolderRef appends a t:FolderId or t:DistinguishedFolderId for r.
func addFolderRef(parent *etree.Element, r FolderRef) {
	if r.Distinguished != "" {
		d := parent.CreateElement("t:DistinguishedFolderId")
		d.CreateAttr("Id", r.Distinguished)
		if r.ChangeKey != "" {
			d.CreateAttr("ChangeKey", r.ChangeKey)
		}
		if r.Mailbox != "" {
			ewsxml.AddText(d.CreateElement("t:Mailbox"), "t:EmailAddress", r.Mailbox)
		}
		return
	}
	f := parent.CreateElement("t:FolderId")
	f.CreateAttr("Id", r.ID)
	if r.ChangeKey != "" {
		f.CreateAttr("ChangeKey", r.ChangeKey)
	}
}

// addItemID appends a t:ItemId.
func addItemID(parent *etree.Element, id ItemID) {
	e := parent.CreateElement("t:ItemId")
	e.CreateAttr("Id", id.ID)
	if id.ChangeKey != "" {
		e.CreateAttr("ChangeKey", id.ChangeKey)
	}
}

// addExtendedFieldURI appends a t:ExtendedFieldURI with the set attributes
// in schema order.
func addExtendedFieldURI(parent *etree.Element, u ExtendedFieldURI) {
	e := parent.CreateElement("t:ExtendedFieldURI")
	for _, a := range [...]struct{ k, v string }{
		{"DistinguishedPropertySetId", u.DistinguishedPropertySetID},
		{"PropertySetId", u.PropertySetID},
		{"PropertyTag", u.PropertyTag},
		{"PropertyName", u.PropertyName},
		{"PropertyId", u.PropertyID},
		{"PropertyType", u.PropertyType},
	} {
		if a.v != "" {
			e.CreateAttr(a.k, a.v)
		}
	}
}

// addAdditional appends t:AdditionalProperties when there are any.
func addAdditional(shape *etree.Element, fields []string, ext []ExtendedFieldURI) {
	if len(fields) == 0 && len(ext) == 0 {
		return
	}
	ap := shape.CreateElement("t:AdditionalProperties")
	for _, f := range fields {
		ap.CreateElement("t:FieldURI").CreateAttr("FieldURI", f)
	}
	for _, u := range ext {
		addExtendedFieldURI(ap, u)
	}
}

// addFolderShape appends m:FolderShape.
func addFolderShape(parent *etree.Element, s FolderShape) {
	e := addShape(parent, "m:FolderShape", s.Base)
	addAdditional(e, s.Fields, s.Extended)
}

// addItemShape appends m:ItemShape.
func addItemShape(parent *etree.Element, s ItemShape) {
	e := addShape(parent, "m:ItemShape", s.Base)
	if s.IncludeMimeContent {
		ewsxml.AddText(e, "t:IncludeMimeContent", "true")
	}
	addAdditional(e, s.Fields, s.Extended)
}

// addShape appends the shape element tag with its t:BaseShape, IdOnly
// when base is empty.
func addShape(parent *etree.Element, tag string, base BaseShape) *etree.Element {
	e := parent.CreateElement(tag)
	if base == "" {
		base = IDOnly
	}
	ewsxml.AddText(e, "t:BaseShape", string(base))
	return e
}

func validateFolderShape(op string, s FolderShape) error {
	return validateShape(op, s.Base, s.Fields, s.Extended)
}

func validateItemShape(op string, s ItemShape) error {
	return validateShape(op, s.Base, s.Fields, s.Extended)
}

// validateShape checks the parts FolderShape and ItemShape share.
func validateShape(op string, base BaseShape, fields []string, ext []ExtendedFieldURI) error {
	if err := validateBase(op, base); err != nil {
		return err
	}
	return validateExtended(op, fields, ext)
}

func validateBase(op string, b BaseShape) error {
	switch b {
	case "", IDOnly, DefaultShape, AllProperties:
		return nil
	}
	return invalidf(op, "unknown BaseShape %q", string(b))
}

func validateExtended(op string, fields []string, ext []ExtendedFieldURI) error {
	for _, f := range fields {
		if f == "" {
			return invalidf(op, "empty FieldURI")
		}
	}
	for _, u := range ext {
		if err := u.validate(); err != nil {
			return invalidf(op, "%v", err)
		}
	}
	return nil
}
