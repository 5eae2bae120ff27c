package ewstest

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
)

var idFormats = map[string]bool{"EwsLegacyId": true, "EwsId": true, "EntryId": true, "HexEntryId": true, "StoreId": true, "OwaId": true}

// ewsIDBytes decodes an id of the given format to the raw EwsId record.
func ewsIDBytes(format, id string) ([]byte, bool) {
	var raw []byte
	var err error
	switch format {
	case "EwsId", "EwsLegacyId", "StoreId":
		raw, err = base64.StdEncoding.DecodeString(id)
	case "OwaId":
		raw, err = base64.URLEncoding.DecodeString(id)
	case "EntryId":
		var b []byte
		if b, err = base64.StdEncoding.DecodeString(id); err == nil {
			raw = append([]byte{0x00, 0x03, 0x24, 0x00}, b...)
		}
	case "HexEntryId":
		var b []byte
		if b, err = hex.DecodeString(id); err == nil {
			raw = append([]byte{0x00, 0x03, 0x24, 0x00}, b...)
		}
	}
	if err != nil || len(raw) < 50 || raw[0] != 0x00 || raw[1] != 0x03 || raw[2] != 0x24 {
		return nil, false
	}
	return raw, true
}

func formatID(format string, raw []byte) string {
	switch format {
	case "OwaId":
		return base64.URLEncoding.EncodeToString(raw)
	case "EntryId":
		return base64.StdEncoding.EncodeToString(raw[4:])
	case "HexEntryId":
		return strings.ToUpper(hex.EncodeToString(raw[4:]))
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// opConvertID converts ids between the formats EWS names. The fake's
// EntryId is the id record without its EWS header.
func opConvertID(r *request) error {
	dest := attr(r.body, "DestinationFormat")
	if !idFormats[dest] {
		return schemaFault("the DestinationFormat attribute is missing or invalid")
	}
	src := childM(r.body, "SourceIds")
	if src == nil || len(src.ChildElements()) == 0 {
		return schemaFault("SourceIds must hold at least one id")
	}
	r.respBegin()
	for _, el := range src.ChildElements() {
		if el.Tag != "AlternateId" {
			r.msgError(codeErr("ErrorInvalidRequest", "Only mailbox ids can be converted by this server."))
			continue
		}
		format, id := attr(el, "Format"), attr(el, "Id")
		if !idFormats[format] {
			return schemaFault("the Format attribute is missing or invalid")
		}
		raw, ok := ewsIDBytes(format, id)
		if !ok {
			r.msgError(codeErr("ErrorInvalidIdMalformed", "Id is malformed."))
			continue
		}
		// The id record names its mailbox, so Exchange locates the mailbox
		// from the id and answers with its real primary address whatever
		// Mailbox the request named (clients such as DavMail send a dummy
		// address to learn the caller's own SMTP address this way).
		m, err := r.s.mailboxByID(base64.StdEncoding.EncodeToString(raw))
		if err != nil || !r.mayAccess(m) {
			r.msgError(codeErr("ErrorInvalidIdNotAnItemAttachmentId", "The id does not belong to the named mailbox."))
			continue
		}
		r.msgOK()
		r.w.empty("m:AlternateId", "xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance", "xsi:type", "t:AlternateIdType",
			"Format", dest, "Id", formatID(dest, raw), "Mailbox", m.address)
		r.msgClose()
	}
	r.respEnd()
	return nil
}
