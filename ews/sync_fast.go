package ews

import (
	"bytes"
	"strconv"
	"sync"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// The fast path decodes the hot responses (SyncFolderItems and GetItem
// pages) with ewsxml's Scanner, which never builds a tree. It handles the
// common case only: a well-formed envelope whose response messages are
// all Success/NoError and whose payload decodes without error. Anything
// else (a fault, a message error such as ErrorServerBusy, a malformed
// item, markup the scanner does not take) makes it give up, and the tree
// decoder reads the same bytes and gives the definitive answer, so the
// two paths never disagree (fast_diff_test.go and FuzzFastDecode check
// it). Past a limit, the fast path returns the tree path's typed error
// without building anything.

// decodeResponse decodes a response body for op: through the fast path
// when op has one and it succeeds, otherwise through decodeEnvelope.
func decodeResponse(op string, body []byte, maxTags int) (*soapResponse, error) {
	switch op {
	case "SyncFolderItems", "GetItem":
		sr, err, ok := fastDecode(op, body, maxTags)
		if ok {
			return sr, err
		}
	}
	return decodeEnvelope(op, body, maxTags)
}

// fastDecoder holds the scanner and the scratch space of one decode.
type fastDecoder struct {
	s  ewsxml.Scanner
	op string
	in interner

	mboxes []Mailbox
	strs   []string
	exts   []ExtendedProperty
}

var fastPool = sync.Pool{New: func() any { return new(fastDecoder) }}

// fastDecode returns the decoded response and true, or a limit error and
// true, or false when the tree decoder must decide.
func fastDecode(op string, body []byte, maxTags int) (*soapResponse, error, bool) {
	d := fastPool.Get().(*fastDecoder)
	defer func() {
		d.s.Reset(nil, ewsxml.Limits{})
		d.in.reset()
		fastPool.Put(d)
	}()
	lim := ewsxml.Limits{MaxTags: maxTags}
	d.s.Reset(body, lim)
	d.op = op
	sr, ok := d.envelope()
	if !ok || d.s.Next() != ewsxml.TokEOF {
		if d.s.Err() == ewsxml.ErrLimit {
			if err := ewsxml.CheckLimits(body, lim); err != nil {
				return nil, malformed(op, err), true
			}
		}
		return nil, nil, false
	}
	return sr, nil, true
}

// envelope reads soap:Envelope up to its end tag.
func (d *fastDecoder) envelope() (*soapResponse, bool) {
	s := &d.s
	if s.Next() != ewsxml.TokStart || !s.Is(ewsxml.SpaceSoap, "Envelope") {
		return nil, false
	}
	sr := &soapResponse{}
	bodies := 0
	for s.Child() {
		switch {
		case s.Is(ewsxml.SpaceSoap, "Header"):
			if !d.header(sr) {
				return nil, false
			}
		case s.Is(ewsxml.SpaceSoap, "Body"):
			if bodies++; bodies > 1 || !d.body(sr) {
				return nil, false
			}
		default:
			if !s.Skip() {
				return nil, false
			}
		}
	}
	return sr, s.Err() == nil && bodies == 1
}

// header reads soap:Header; its first t:ServerVersionInfo sets
// sr.ServerVersion, as in decodeEnvelope.
func (d *fastDecoder) header(sr *soapResponse) bool {
	s := &d.s
	seen := false
	for s.Child() {
		if !seen && s.Is(ewsxml.SpaceTypes, "ServerVersionInfo") {
			seen = true
			atoi := func(k string) int {
				v, _ := s.Attr(k)
				n, _ := strconv.Atoi(string(v))
				return n
			}
			v, _ := s.Attr("Version")
			ver := string(v) // before atoi reuses the attribute buffer
			sr.ServerVersion = &ServerVersionInfo{
				MajorVersion: atoi("MajorVersion"), MinorVersion: atoi("MinorVersion"),
				MajorBuildNumber: atoi("MajorBuildNumber"), MinorBuildNumber: atoi("MinorBuildNumber"),
				Version: ver,
			}
		}
		if !s.Skip() {
			return false
		}
	}
	return s.Err() == nil
}

// body reads soap:Body: its first child must be m:<op>Response.
func (d *fastDecoder) body(sr *soapResponse) bool {
	s := &d.s
	first := true
	for s.Child() {
		if !first {
			if !s.Skip() {
				return false
			}
			continue
		}
		first = false
		local := s.Local()
		if s.Space() != ewsxml.SpaceMessages || len(local) != len(d.op)+len("Response") ||
			!bytes.HasPrefix(local, []byte(d.op)) || !bytes.HasSuffix(local, []byte("Response")) {
			return false // a fault, or not the expected response
		}
		if !d.opResponse(sr) {
			return false
		}
	}
	return s.Err() == nil && !first
}

// opResponse reads m:<op>Response; its first m:ResponseMessages counts.
func (d *fastDecoder) opResponse(sr *soapResponse) bool {
	s := &d.s
	seen := false
	for s.Child() {
		if seen || !s.Is(ewsxml.SpaceMessages, "ResponseMessages") {
			if !s.Skip() {
				return false
			}
			continue
		}
		seen = true
		if !d.responseMessages(sr) {
			return false
		}
	}
	return s.Err() == nil && seen
}

// responseMessages reads m:ResponseMessages: every child element must be
// a Success/NoError m:*ResponseMessage.
func (d *fastDecoder) responseMessages(sr *soapResponse) bool {
	s := &d.s
	var items []ItemResult
	var sync *SyncFolderItemsResult
	for s.Child() {
		if s.Space() != ewsxml.SpaceMessages || !bytes.HasSuffix(s.Local(), []byte("ResponseMessage")) {
			return false
		}
		if class, ok := s.Attr("ResponseClass"); !ok || string(class) != "Success" {
			return false
		}
		var ok bool
		switch d.op {
		case "GetItem":
			var it Item
			it, ok = d.getItemMessage()
			items = append(items, ItemResult{Item: it})
		case "SyncFolderItems":
			sync, ok = d.syncMessage()
		}
		if !ok {
			return false
		}
		sr.Messages = append(sr.Messages, responseMessage{Class: "Success", Code: "NoError"})
	}
	if s.Err() != nil {
		return false
	}
	switch d.op {
	case "GetItem":
		sr.fast = items
	case "SyncFolderItems":
		if len(sr.Messages) != 1 {
			return false
		}
		sr.fast = sync
	}
	return true
}

// status handles a status child of a response message (m:ResponseCode,
// m:MessageText, m:DescriptiveLinkKey, m:MessageXml), reporting whether
// it was one and whether it allows the fast path (ResponseCode NoError).
func (d *fastDecoder) status() (isStatus, ok bool) {
	s := &d.s
	if s.Space() != ewsxml.SpaceMessages {
		return false, true
	}
	switch string(s.Local()) {
	case "ResponseCode":
		t, ok := s.Text()
		return true, ok && string(bytes.TrimSpace(t)) == "NoError"
	case "MessageText", "DescriptiveLinkKey", "MessageXml":
		return true, s.Skip()
	}
	return false, true
}

// syncMessage reads a SyncFolderItems response message.
func (d *fastDecoder) syncMessage() (*SyncFolderItemsResult, bool) {
	s := &d.s
	r := &SyncFolderItemsResult{}
	seenLast := false
	for s.Child() {
		if st, ok := d.status(); !ok {
			return nil, false
		} else if st {
			continue
		}
		ok := true
		switch {
		case s.Space() != ewsxml.SpaceMessages:
			ok = s.Skip()
		case s.Is(ewsxml.SpaceMessages, "SyncState"):
			var t []byte
			t, ok = s.Text()
			r.SyncState = string(t)
		case s.Is(ewsxml.SpaceMessages, "IncludesLastItemInRange"):
			seenLast = true
			r.IncludesLastItemInRange, ok = d.boolText()
		case s.Is(ewsxml.SpaceMessages, "Changes"):
			r.Changes, ok = d.changes()
		default:
			ok = s.Skip()
		}
		if !ok {
			return nil, false
		}
	}
	return r, s.Err() == nil && r.SyncState != "" && seenLast
}

// changes reads m:Changes as decodeItemChanges does.
func (d *fastDecoder) changes() ([]ItemChange, bool) {
	s := &d.s
	out := make([]ItemChange, 0, 64)
	for s.Child() {
		var kind ChangeKind
		if s.Space() == ewsxml.SpaceTypes {
			kind = changeKind(string(s.Local()))
		}
		if kind == 0 {
			if !s.Skip() {
				return nil, false
			}
			continue
		}
		out = append(out, ItemChange{Kind: kind})
		if !d.change(&out[len(out)-1]) {
			return nil, false
		}
	}
	return out, s.Err() == nil
}

// change reads one t:Create, t:Update, t:Delete or t:ReadFlagChange into
// ch.
func (d *fastDecoder) change(ch *ItemChange) bool {
	s := &d.s
	kind := ch.Kind
	found, seenRead := false, false
	for s.Child() {
		ok := true
		switch {
		case s.Space() != ewsxml.SpaceTypes:
			ok = s.Skip()
		case (kind == ChangeDelete || kind == ChangeReadFlag) && string(s.Local()) == "ItemId":
			ch.Item.ID, ok = d.itemID(false)
			found = true
		case kind == ChangeReadFlag && string(s.Local()) == "IsRead":
			ch.IsRead, ok = d.boolText()
			seenRead = true
		case (kind == ChangeCreate || kind == ChangeUpdate) && !found:
			ok = d.item(&ch.Item)
			found = true
		default:
			ok = s.Skip()
		}
		if !ok {
			return false
		}
	}
	if s.Err() != nil {
		return false
	}
	if !found || kind == ChangeReadFlag && !seenRead {
		return false
	}
	if kind == ChangeReadFlag {
		ch.Item.IsRead = ch.IsRead
	}
	return true
}

// getItemMessage reads a GetItem response message, which must hold
// exactly one item.
func (d *fastDecoder) getItemMessage() (Item, bool) {
	s := &d.s
	var it Item
	n := 0
	for s.Child() {
		if st, ok := d.status(); !ok {
			return it, false
		} else if st {
			continue
		}
		if !s.Is(ewsxml.SpaceMessages, "Items") {
			if !s.Skip() {
				return it, false
			}
			continue
		}
		for {
			tok := s.Next()
			if tok == ewsxml.TokEnd {
				break
			}
			if tok != ewsxml.TokStart {
				return it, false
			}
			if s.Space() != ewsxml.SpaceTypes {
				if !s.Skip() {
					return it, false
				}
				continue
			}
			if n++; n > 1 || !d.item(&it) {
				return it, false
			}
		}
	}
	return it, s.Err() == nil && n == 1
}
