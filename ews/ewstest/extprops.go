package ewstest

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// Extended properties a client sets on an item (CreateItem's
// t:ExtendedProperty, UpdateItem's SetItemField and DeleteItemField with a
// t:ExtendedFieldURI) are stored on the message and returned when a shape
// asks for them, as Exchange keeps any MAPI property a client writes. The
// MAPI properties the fake derives from an item's state (writeItemExt)
// take precedence over stored values.

// extValue is a stored extended property value: its PropertyType and its
// value, or values for the *Array types.
type extValue struct {
	typ    string
	values []string
	multi  bool
}

// prMessageFlags is PR_MESSAGE_FLAGS's tag and its flag bits;
// prFlagStatus is PR_FLAG_STATUS, the MAPI face of the item's Flag.
const (
	prMessageFlags = 0x0E07
	msgflagRead    = 0x01
	msgflagUnsent  = 0x08
	prFlagStatus   = 0x1090
)

// flagStatusMAPI maps the EWS FlagStatus to PR_FLAG_STATUS (followupFlagged
// 2, followupComplete 1); not flagged is an absent property.
var flagStatusMAPI = map[string]string{FlagFlagged: "2", FlagComplete: "1"}

// flagStatusFromMAPI maps a PR_FLAG_STATUS value to the EWS FlagStatus.
func flagStatusFromMAPI(v extValue) string {
	if len(v.values) == 1 {
		switch strings.TrimSpace(v.values[0]) {
		case "2":
			return FlagFlagged
		case "1":
			return FlagComplete
		}
	}
	return FlagNotFlagged
}

// distinguishedSetGUIDs names the property sets EWS can also address by
// DistinguishedPropertySetId, so both forms name the same property.
var distinguishedSetGUIDs = map[string]string{
	"00020329-0000-0000-c000-000000000046": "PublicStrings",
	"00062008-0000-0000-c000-000000000046": "Common",
	"00062004-0000-0000-c000-000000000046": "Address",
	"00062002-0000-0000-c000-000000000046": "Appointment",
	"00062003-0000-0000-c000-000000000046": "Task",
	"00020386-0000-0000-c000-000000000046": "InternetHeaders",
	"6ed8da90-450b-101b-98da-00aa003f1305": "Meeting",
}

// keywordsKey is PS_PUBLIC_STRINGS "Keywords", the MAPI property behind
// the item's Categories.
const keywordsKey = "name:PublicStrings:Keywords"

// extKey is the identity of an extended property: its tag, or its
// property set with its name or id. PropertyType is not part of it.
func extKey(e extProp) (string, error) {
	if e.tag >= 0 {
		return "tag:" + strconv.Itoa(e.tag), nil
	}
	var set, name, id string
	for i := 0; i+1 < len(e.attrs); i += 2 {
		switch e.attrs[i] {
		case "DistinguishedPropertySetId":
			set = e.attrs[i+1]
		case "PropertySetId":
			set = strings.ToLower(strings.Trim(e.attrs[i+1], "{}"))
			if d, ok := distinguishedSetGUIDs[set]; ok {
				set = d
			}
		case "PropertyName":
			name = e.attrs[i+1]
		case "PropertyId":
			v, err := strconv.ParseInt(e.attrs[i+1], 0, 32)
			if err != nil {
				return "", schemaFault("the PropertyId %q is invalid", e.attrs[i+1])
			}
			id = strconv.FormatInt(v, 10)
		}
	}
	switch {
	case set == "" || (name == "") == (id == ""):
		return "", schemaFault("an ExtendedFieldURI needs a PropertyTag, or a property set with a PropertyName or PropertyId")
	case name != "" && set == "InternetHeaders":
		return "name:" + set + ":" + strings.ToLower(name), nil // header names are case-insensitive
	case name != "":
		return "name:" + set + ":" + name, nil
	}
	return "id:" + set + ":" + id, nil
}

// parseExtendedProperty reads a t:ExtendedProperty element.
func parseExtendedProperty(el *etree.Element) (extProp, extValue, error) {
	uri := childT(el, "ExtendedFieldURI")
	if uri == nil {
		return extProp{}, extValue{}, schemaFault("ExtendedProperty needs an ExtendedFieldURI")
	}
	e, err := parseExtendedFieldURI(uri)
	if err != nil {
		return e, extValue{}, err
	}
	v := extValue{typ: e.typ, multi: strings.HasSuffix(e.typ, "Array")}
	if vs := childT(el, "Values"); vs != nil {
		if !v.multi {
			return e, v, schemaFault("the single-valued property type %s takes Value, not Values", e.typ)
		}
		for _, c := range vs.ChildElements() {
			v.values = append(v.values, c.Text())
		}
	} else if c := childT(el, "Value"); c != nil && !v.multi {
		v.values = []string{c.Text()}
	} else {
		return e, v, schemaFault("ExtendedProperty of type %s needs a Value (or Values for arrays)", e.typ)
	}
	return e, v, nil
}

// setExt stores an extended property on msg. PR_FLAG_STATUS is the
// message's FlagStatus and Keywords its Categories rather than stored
// values.
func (msg *Message) setExt(key string, v extValue) {
	switch key {
	case "tag:" + strconv.Itoa(prFlagStatus):
		msg.FlagStatus = flagStatusFromMAPI(v)
		return
	case keywordsKey:
		msg.Categories = slices.Clone(v.values)
		return
	}
	if msg.ext == nil {
		msg.ext = map[string]extValue{}
	}
	msg.ext[key] = v
}

// cloneExt copies the stored extended properties.
func cloneExt(ext map[string]extValue) map[string]extValue { return maps.Clone(ext) }

// applyCreateFlags applies a PR_MESSAGE_FLAGS a client set in CreateItem,
// which MAPI lets a client write until the message is first saved: it
// decides whether the new message is read and whether it is a draft
// (MSGFLAG_UNSENT), so a message created from MIME without MSGFLAG_UNSENT
// is an ordinary received message. It reports whether the flags were set.
func (msg *Message) applyCreateFlags() bool {
	key := "tag:" + strconv.Itoa(prMessageFlags)
	v, ok := msg.ext[key]
	if !ok {
		return false
	}
	delete(msg.ext, key)
	var flags int64
	if len(v.values) == 1 {
		flags, _ = strconv.ParseInt(strings.TrimSpace(v.values[0]), 10, 64)
	}
	msg.IsRead = flags&msgflagRead != 0
	msg.IsDraft = flags&msgflagUnsent != 0
	return true
}

// writeStoredExt renders a stored extended property, echoing the
// ExtendedFieldURI the shape named.
func writeStoredExt(w *xw, e extProp, v extValue) {
	w.open("t:ExtendedProperty")
	w.empty("t:ExtendedFieldURI", e.attrs...)
	if v.multi {
		w.open("t:Values")
		for _, s := range v.values {
			w.elem("t:Value", s)
		}
		w.close("t:Values")
	} else if len(v.values) == 1 {
		w.elem("t:Value", v.values[0])
	}
	w.close("t:ExtendedProperty")
}

// extUpdate records an UpdateItem change (SetItemField or DeleteItemField)
// to the extended property path names; payload is the change's item
// element, which must carry the property for SetItemField.
func extUpdate(u *ItemUpdate, change, path, payload *etree.Element) error {
	e, err := parseExtendedFieldURI(path)
	if err != nil {
		return err
	}
	key, err := extKey(e)
	if err != nil {
		return err
	}
	if u.ext == nil {
		u.ext = map[string]*extValue{}
	}
	if e.tag == prFlagStatus && change.Tag == "DeleteItemField" {
		fs := FlagNotFlagged
		u.FlagStatus = &fs
		return nil
	}
	if key == keywordsKey && change.Tag == "DeleteItemField" {
		u.Categories = &[]string{}
		return nil
	}
	switch change.Tag {
	case "DeleteItemField":
		u.ext[key] = nil
		return nil
	case "SetItemField", "AppendToItemField":
	default:
		return schemaFault("unexpected element %s in Updates", change.Tag)
	}
	if payload == nil {
		return schemaFault("%s needs an item element", change.Tag)
	}
	msg, _, err := parseItemPayload(payload)
	if err != nil {
		return err
	}
	if e.tag == prFlagStatus {
		if msg.FlagStatus != "" {
			u.FlagStatus = &msg.FlagStatus
		}
		return nil
	}
	if key == keywordsKey {
		cats := msg.Categories
		if cats == nil {
			cats = []string{}
		}
		u.Categories = &cats
		return nil
	}
	v, ok := msg.ext[key]
	if !ok {
		// An item element without the property leaves it alone (the fake
		// has always accepted this; Exchange's answer is not documented).
		delete(u.ext, key)
		return nil
	}
	u.ext[key] = &v
	return nil
}

// extGetter reads, for restrictions and sort orders, an extended property
// that itemExtValues does not derive: PR_INTERNET_ARTICLE_NUMBER,
// PR_RECORD_KEY, and the properties clients stored, typed by their
// PropertyType. Anything else is absent.
func extGetter(e extProp) getter[*item] {
	switch e.tag {
	case 0x0E23: // PR_INTERNET_ARTICLE_NUMBER
		return func(it *item) any { return int64(it.arrivedCN) }
	case 0x0FF9: // PR_RECORD_KEY
		return func(it *item) any { return it.id }
	}
	key, err := extKey(e)
	if err != nil {
		return func(*item) any { return nil }
	}
	if key == keywordsKey {
		return func(it *item) any {
			if it.id == "" {
				return []string(nil)
			}
			return it.msg.Categories
		}
	}
	return func(it *item) any {
		if it.id == "" {
			// compileExpr's probe (a zero item) learns the value type
			// from PropertyType.
			return extZero(e.typ)
		}
		v, ok := it.msg.ext[key]
		switch {
		case !ok:
			return nil
		case v.multi:
			return v.values
		case len(v.values) != 1:
			return nil
		}
		s := strings.TrimSpace(v.values[0])
		switch v.typ {
		case "Integer", "Long", "Short":
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
			return nil
		case "Boolean":
			if b, err := parseBool(s); err == nil {
				return b
			}
			return nil
		case "SystemTime":
			if t, ok := parseXSDateTime(s); ok {
				return t
			}
			return nil
		}
		return v.values[0]
	}
}

// extZero is a zero value of the Go type extGetter uses for a
// PropertyType.
func extZero(typ string) any {
	switch typ {
	case "Integer", "Long", "Short":
		return int64(0)
	case "Boolean":
		return false
	case "SystemTime":
		return time.Time{}
	}
	if strings.HasSuffix(typ, "Array") {
		return []string(nil)
	}
	return ""
}
