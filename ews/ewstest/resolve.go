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

// folderIDList returns the children of a FolderIds-like element after
// checking there is at least one.
func folderIDList(el *etree.Element, name string) ([]*etree.Element, error) {
	if el == nil {
		return nil, schemaFault("the required element %s is missing", name)
	}
	ids := el.ChildElements()
	if len(ids) == 0 {
		return nil, schemaFault("the element %s has no ids", name)
	}
	return ids, nil
}

// inFolder resolves el (a t:FolderId or t:DistinguishedFolderId) and runs
// fn on the folder with its mailbox locked. A request-wide fault from
// resolving (ExchangeImpersonation or access to another mailbox refused)
// comes back as the *Fault, which ends the request; a failure of this
// folder alone (malformed or unknown id, or fn's own error) as err, for
// the caller's per-folder error message. fn may write the response
// message: nothing else changes the mailbox while it runs.
func (r *request) inFolder(el *etree.Element, fn func(m *Mailbox, f *folder) error) (*Fault, error) {
	m, key, err := r.resolveFolder(el)
	if f, ok := asFault(err); ok {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(key)
	if err != nil {
		return nil, err
	}
	return nil, fn(m, f)
}
