package ewstest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/beevik/etree"
	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

// ExportItems and UploadItems: an item's full content as an opaque
// base64 blob, for backup and restore tools (exchangelib's
// Account.export and Account.upload). The blob is this server's own
// format (a versioned JSON record), not Exchange's fast-transfer stream,
// so it only round-trips through this server.

// exportMagic starts every exported blob.
const exportMagic = "ewstest-export-v1\n"

// exportRecord is the exported form of an item.
type exportRecord struct {
	Message Message `json:"message"`
	// Bag is the derived-type properties of a non-mail item as XML.
	Bag string `json:"bag,omitempty"`
}

func encodeExport(msg Message) (string, error) {
	rec := exportRecord{Message: msg}
	if msg.bag != nil {
		doc := etree.NewDocument()
		root := doc.CreateElement("Bag")
		for _, e := range msg.bag.props {
			root.AddChild(e.Copy())
		}
		s, err := doc.WriteToString()
		if err != nil {
			return "", err
		}
		rec.Bag = s
	}
	var buf bytes.Buffer
	buf.WriteString(exportMagic)
	if err := json.NewEncoder(&buf).Encode(rec); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

var errCorruptData = codeErr("ErrorCorruptData", "The data is corrupt.")

func decodeExport(data string) (Message, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
	if err != nil {
		return Message{}, codeErr("ErrorInvalidBase64String", "The base64 string is invalid.")
	}
	body, ok := bytes.CutPrefix(raw, []byte(exportMagic))
	if !ok {
		return Message{}, errCorruptData
	}
	var rec exportRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		return Message{}, errCorruptData
	}
	msg := rec.Message
	if rec.Bag != "" {
		doc := etree.NewDocument()
		if err := doc.ReadFromString(rec.Bag); err != nil || doc.Root() == nil {
			return Message{}, errCorruptData
		}
		bag := &propBag{props: map[string]*etree.Element{}}
		for _, c := range doc.Root().ChildElements() {
			bag.props[c.Tag] = c
		}
		msg.bag = bag
	}
	return msg, nil
}

func opExportItems(r *request) error {
	ids, err := r.ids("ItemIds")
	if err != nil {
		return err
	}
	return r.eachItem(ids, nil, nil, func(m *Mailbox, it *item, _ *folder) error {
		data, err := encodeExport(it.msg)
		if err != nil {
			return err
		}
		r.msgOK()
		m.writeItemID(r.w, "m:ItemId", it)
		r.w.elem("m:Data", data)
		r.msgClose()
		return nil
	})
}

// replaceContentLocked gives an existing item the content of msg (an
// UploadItems Update): one modification with a new ChangeKey.
func (m *Mailbox) replaceContentLocked(it *item, msg Message) {
	now := m.now()
	cn := m.nextCN()
	f := it.folder
	msg = cloneMessage(msg)
	msg.normalize(now, cn)
	if msg.IsRead != it.msg.IsRead {
		if msg.IsRead {
			f.unread--
		} else {
			f.unread++
		}
		it.readCN = cn
	}
	it.msg = msg
	it.size = 0
	it.changeCN = cn
	it.modified = now
	m.touchContent(f, cn, now, true)
	m.publish(m.itemEvent(notify.ModifiedEvent, it, now), m.folderEvent(notify.ModifiedEvent, f, now))
}

func opUploadItems(r *request) error {
	items := childM(r.body, "Items")
	if items == nil || len(items.ChildElements()) == 0 {
		return schemaFault("UploadItems needs Items with at least one Item")
	}
	r.respBegin()
	for _, el := range items.ChildElements() {
		if el.Tag != "Item" || el.NamespaceURI() != nsT {
			return schemaFault("unexpected element %s in Items", el.Tag)
		}
		action := attr(el, "CreateAction")
		switch action {
		case "CreateNew", "Update", "UpdateOrCreate":
		default:
			return schemaFault("the CreateAction attribute is missing or invalid")
		}
		pf := childT(el, "ParentFolderId")
		if pf == nil {
			return schemaFault("Item needs ParentFolderId")
		}
		msg, err := decodeExport(textOf(childT(el, "Data")))
		if err != nil {
			r.msgError(err)
			continue
		}
		pf.Tag = "FolderId" // ParentFolderId has FolderId's attributes
		m, folderKey, err := r.resolveFolder(pf)
		if f, ok := asFault(err); ok {
			return f
		}
		if err != nil {
			r.msgError(err)
			continue
		}
		if idEl := childT(el, "ItemId"); idEl != nil && action != "CreateNew" {
			m.mu.Lock()
			it, lerr := m.lookupItem(attr(idEl, "Id"))
			if lerr == nil {
				m.replaceContentLocked(it, msg)
				r.msgOK()
				m.writeItemID(r.w, "m:ItemId", it)
				r.msgClose()
				m.mu.Unlock()
				continue
			}
			m.mu.Unlock()
			if action == "Update" {
				r.msgError(lerr)
				continue
			}
		} else if action == "Update" {
			return schemaFault("CreateAction Update needs an ItemId")
		}
		info, err := m.create(folderKey, msg, false)
		if err != nil {
			r.msgError(err)
			continue
		}
		r.msgOK()
		r.w.empty("m:ItemId", "Id", info.ID, "ChangeKey", info.ChangeKey)
		r.msgClose()
	}
	r.respEnd()
	return nil
}
