package ewstest

import (
	"encoding/base64"

	"github.com/beevik/etree"
)

// mailboxByID finds the mailbox an Exchange-shaped id belongs to.
func (s *Server) mailboxByID(id string) (*Mailbox, error) {
	b, err := base64.StdEncoding.DecodeString(id)
	if err != nil || len(b) < 50 || b[0] != 0x00 || b[1] != 0x03 || b[2] != 0x24 {
		return nil, codeErr("ErrorInvalidIdMalformed", "Id is malformed.")
	}
	s.mu.RLock()
	m := s.byGUID[string(b[4:40])]
	s.mu.RUnlock()
	if m == nil {
		return nil, codeErr("ErrorItemNotFound", "The specified object was not found in the store.")
	}
	return m, nil
}

// distinguishedNames are the DistinguishedFolderId values the schema
// allows; those the fake does not model give ErrorFolderNotFound.
var distinguishedNames = words(`calendar contacts deleteditems drafts inbox journal notes outbox sentitems tasks
	msgfolderroot publicfoldersroot root junkemail searchfolders voicemail recoverableitemsroot
	recoverableitemsdeletions recoverableitemsversions recoverableitemspurges archiveroot archivemsgfolderroot
	archivedeleteditems archiveinbox archiverecoverableitemsroot archiverecoverableitemsdeletions
	archiverecoverableitemsversions archiverecoverableitemspurges syncissues conflicts localfailures
	serverfailures recipientcache quickcontacts conversationhistory adminauditlogs todosearch mycontacts
	directory imcontactlist peopleconnect favorites mecontact personmetadata teamspaceactivity
	teamspacemessaging teamspaceworkingset teamspacestorage orionnotes conversationhistory archive
	dlpsharedsearchfolder allitems allcategorizeditems allcontacts allpersonmetadata allpeople allstoredobjects
	alltodos companycontacts connectors externalcontacts fromfavoritesenders galcontacts organizationalcontacts
	peoplecentricconversationbuddies recoverableitemsdiscoveryholds recoverableitemsmigratedmessages
	recoverableitemssubstrateholds relevantcontacts sharepointnotifications shortnotes sentitemsandtodos
	tempsharepointfolder usercuratedcontacts userspocontacts`)

// resolveFolder resolves a t:FolderId or t:DistinguishedFolderId element
// to a mailbox and a folder key for lookupFolder.
func (r *request) resolveFolder(el *etree.Element) (*Mailbox, string, error) {
	if el.NamespaceURI() != nsT {
		return nil, "", schemaFault("unexpected element %s", el.Tag)
	}
	switch el.Tag {
	case "FolderId":
		id := attr(el, "Id")
		if id == "" {
			return nil, "", schemaFault("the required attribute 'Id' is missing")
		}
		m, err := r.s.mailboxByID(id)
		if err != nil {
			if ResponseCode(err) == "ErrorItemNotFound" {
				return nil, "", codeErr("ErrorFolderNotFound", "The specified folder could not be found in the store.")
			}
			return nil, "", err
		}
		if !r.mayAccess(m) {
			return nil, "", codeErr("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		}
		return m, id, nil
	case "DistinguishedFolderId":
		id := attr(el, "Id")
		if !distinguishedNames[id] {
			return nil, "", schemaFault("the value %q is invalid for DistinguishedFolderId", id)
		}
		m := r.mb
		if mbEl := childT(el, "Mailbox"); mbEl != nil {
			addr := textOf(childT(mbEl, "EmailAddress"))
			if addr == "" {
				return nil, "", codeErr("ErrorMissingEmailAddress", "The e-mail address is missing.")
			}
			if m = r.s.Mailbox(addr); m == nil {
				return nil, "", codeErr("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
			}
			if !r.mayAccess(m) {
				return nil, "", codeErr("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
			}
		}
		if _, ok := m.dist[id]; !ok {
			return nil, "", codeErr("ErrorFolderNotFound", "The specified folder could not be found in the store.")
		}
		return m, id, nil
	}
	return nil, "", schemaFault("unexpected element %s where a folder id was expected", el.Tag)
}

// resolveItem resolves a t:ItemId element to its mailbox and id.
func (r *request) resolveItem(el *etree.Element) (*Mailbox, string, error) {
	if el.NamespaceURI() != nsT || (el.Tag != "ItemId" && el.Tag != "OccurrenceItemId" && el.Tag != "RecurringMasterItemId") {
		return nil, "", schemaFault("unexpected element %s where an item id was expected", el.Tag)
	}
	if el.Tag != "ItemId" {
		return nil, "", codeErr("ErrorItemNotFound", "The specified object was not found in the store.")
	}
	id := attr(el, "Id")
	if id == "" {
		return nil, "", schemaFault("the required attribute 'Id' is missing")
	}
	m, err := r.s.mailboxByID(id)
	if err != nil {
		return nil, "", err
	}
	if !r.mayAccess(m) {
		return nil, "", codeErr("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	}
	return m, id, nil
}

// ids returns the children of the operation element's child named name
// (FolderIds, ItemIds, ParentFolderIds), of which there must be one at
// least.
func (r *request) ids(name string) ([]*etree.Element, error) {
	el := childM(r.body, name)
	if el == nil {
		return nil, schemaFault("the required element %s is missing", name)
	}
	ids := el.ChildElements()
	if len(ids) == 0 {
		return nil, schemaFault("the element %s has no ids", name)
	}
	return ids, nil
}

// savedItemFolder resolves the operation element's SavedItemFolderId, if
// any (a nil mailbox when absent). A request-wide fault comes back as the
// error, as does a failure of the folder.
func (r *request) savedItemFolder() (*Mailbox, string, error) {
	sf := childM(r.body, "SavedItemFolderId")
	if sf == nil {
		return nil, "", nil
	}
	if len(sf.ChildElements()) != 1 {
		return nil, "", schemaFault("SavedItemFolderId must hold one folder id")
	}
	return r.resolveFolder(sf.ChildElements()[0])
}

// dest is the destination folder of a move or copy (ToFolderId), resolved
// once per request.
type dest struct {
	m   *Mailbox
	key string
	// err is why the destination did not resolve: the error of every
	// source.
	err error
	// cross is the error for a source in another mailbox than the
	// destination.
	cross error
}

// dest checks the operation element's ToFolderId and the ids in its
// child named idsName, then resolves the destination. A request-wide
// fault comes back as the error; a failure of the destination alone is
// kept in the dest, for each source's message. cross is the text of the
// error for a source in another mailbox.
func (r *request) dest(idsName, cross string) (*dest, []*etree.Element, error) {
	to := childM(r.body, "ToFolderId")
	if to == nil || len(to.ChildElements()) != 1 {
		return nil, nil, schemaFault("ToFolderId must hold one folder id")
	}
	ids, err := r.ids(idsName)
	if err != nil {
		return nil, nil, err
	}
	m, key, err := r.resolveFolder(to.ChildElements()[0])
	if f, ok := asFault(err); ok {
		return nil, nil, f
	}
	return &dest{m: m, key: key, err: err, cross: codeErr("ErrorMoveCopyFailed", "%s", cross)}, ids, nil
}

// precondition returns a dest without a folder that fails every source
// with err after its id resolved (nil when err is nil): an invalid
// ChangeKey, a folder element the server does not create.
func precondition(err error) *dest {
	if err == nil {
		return nil
	}
	return &dest{err: err}
}

// check reports whether sources in mailbox m may go to d.
func (d *dest) check(m *Mailbox) error {
	switch {
	case d == nil:
		return nil
	case d.err != nil:
		return d.err
	case d.m != m:
		return d.cross
	}
	return nil
}

// folder looks the destination folder up; nil for no destination. Caller
// holds d.m.mu.
func (d *dest) folder() (*folder, error) {
	if d == nil || d.m == nil {
		return nil, nil
	}
	return d.m.lookupFolder(d.key)
}

// inFolder resolves el (a t:FolderId or t:DistinguishedFolderId), checks
// it against the destination to (nil when the operation has none) and
// runs fn on the folder and the destination folder with their mailbox
// locked. A request-wide fault from resolving (ExchangeImpersonation or
// access to another mailbox refused) comes back as the *Fault, which ends
// the request; a failure of this folder alone (malformed or unknown id, a
// bad destination, or fn's own error) as err, for the caller's per-folder
// error message. fn may write the response message: nothing else changes
// the mailbox while it runs.
func (r *request) inFolder(el *etree.Element, to *dest, fn func(m *Mailbox, f, to *folder) error) (*Fault, error) {
	return inMailbox(el, r.resolveFolder, (*Mailbox).lookupFolder, to, fn)
}

// inItem is inFolder for a t:ItemId.
func (r *request) inItem(el *etree.Element, to *dest, fn func(m *Mailbox, it *item, to *folder) error) (*Fault, error) {
	return inMailbox(el, r.resolveItem, (*Mailbox).lookupItem, to, fn)
}

func inMailbox[T any](el *etree.Element, resolve func(*etree.Element) (*Mailbox, string, error),
	lookup func(*Mailbox, string) (T, error), to *dest, fn func(*Mailbox, T, *folder) error) (*Fault, error) {
	m, key, err := resolve(el)
	if f, ok := asFault(err); ok {
		return f, nil
	}
	if err == nil {
		err = to.check(m)
	}
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	obj, err := lookup(m, key)
	if err != nil {
		return nil, err
	}
	dst, err := to.folder()
	if err != nil {
		return nil, err
	}
	return nil, fn(m, obj, dst)
}

// eachFolder writes the operation's response with one message per folder
// id: fn (run as by inFolder) writes the Success message; a failure
// becomes an Error message with the empty containers named. A
// request-wide fault ends the request.
func (r *request) eachFolder(ids []*etree.Element, to *dest, empty []string, fn func(m *Mailbox, f, to *folder) error) error {
	return each(r, ids, empty, func(el *etree.Element) (*Fault, error) { return r.inFolder(el, to, fn) })
}

// eachItem is eachFolder for item ids.
func (r *request) eachItem(ids []*etree.Element, to *dest, empty []string, fn func(m *Mailbox, it *item, to *folder) error) error {
	return each(r, ids, empty, func(el *etree.Element) (*Fault, error) { return r.inItem(el, to, fn) })
}

// each writes the operation's response around one message per id (or
// other request element): do writes the Success message or returns the
// error for an Error message (with the empty containers named) or the
// request-wide fault.
func each[T any](r *request, ids []T, empty []string, do func(el T) (*Fault, error)) error {
	r.respBegin()
	for _, el := range ids {
		fault, err := do(el)
		if fault != nil {
			return fault
		}
		if err != nil {
			r.msgError(err, empty...)
		}
	}
	r.respEnd()
	return nil
}
