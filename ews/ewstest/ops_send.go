package ewstest

import "errors"

func init() { registerOp("SendItem", opSendItem) }

// opSendItem sends saved drafts.
func opSendItem(r *request) error {
	save, err := parseBool(attr(r.body, "SaveItemToFolder"))
	if err != nil {
		return schemaFault("the SaveItemToFolder attribute is missing or invalid")
	}
	ids, err := itemIDList(childM(r.body, "ItemIds"), "ItemIds")
	if err != nil {
		return err
	}
	saveTo := ""
	var saveMB *Mailbox
	if sf := childM(r.body, "SavedItemFolderId"); sf != nil {
		if len(sf.ChildElements()) != 1 {
			return schemaFault("SavedItemFolderId must hold one folder id")
		}
		m, key, err := r.resolveFolder(sf.ChildElements()[0])
		if f, ok := asFault(err); ok {
			return f
		}
		if err != nil {
			return toFault(err)
		}
		saveMB, saveTo = m, key
	}
	r.respBegin()
	for _, el := range ids {
		m, id, err := r.resolveItem(el)
		if f, ok := asFault(err); ok {
			return f
		}
		if err == nil && saveMB != nil && saveMB != m {
			err = codeErr("ErrorInvalidRequest", "The sent item can only be saved in its own mailbox.")
		}
		if err == nil {
			_, err = m.SendItem(id, saveTo, save)
			if errors.Is(err, ErrInvalidArgument) {
				err = codeErr("ErrorInvalidRequest", "Only draft items can be sent.")
			}
		}
		if err != nil {
			r.msgError(err)
			continue
		}
		r.msgOK()
		r.msgClose()
	}
	r.respEnd()
	return nil
}
