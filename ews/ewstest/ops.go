package ewstest

import (
	"strings"

	"github.com/beevik/etree"
)

// opHandler runs one SOAP operation. It writes the operation's response
// element into r.w, or returns a *Fault for a request-wide failure. A
// handler that streams its own HTTP response sets r.handled.
type opHandler func(r *request) error

// operation is one row of the operation table.
type operation struct {
	serve opHandler
	// children are the child elements messages.xsd allows in the
	// operation element (all in the messages namespace); a request with
	// any other child fails schema validation, as on Exchange. nil means
	// the handler checks its own.
	children map[string]bool
}

// operations is the dispatch table: every operation the server serves,
// keyed by the operation element's local name, grouped by the file that
// implements it.
var operations = map[string]operation{
	// Folders (ops_folder.go).
	"GetFolder":          {opGetFolder, words("FolderShape FolderIds")},
	"CreateFolder":       {opCreateFolder, words("ParentFolderId Folders")},
	"UpdateFolder":       {opUpdateFolder, words("FolderChanges")},
	"DeleteFolder":       {opDeleteFolder, words("FolderIds")},
	"MoveFolder":         {opMoveFolder, words("ToFolderId FolderIds")},
	"CopyFolder":         {opCopyFolder, nil},
	"EmptyFolder":        {opEmptyFolder, words("FolderIds")},
	"MarkAllItemsAsRead": {opMarkAllItemsAsRead, words("ReadFlag SuppressReadReceipts FolderIds")},

	// Items (ops_item.go).
	"GetItem":     {opGetItem, words("ItemShape ItemIds")},
	"CreateItem":  {opCreateItem, words("SavedItemFolderId Items")},
	"UpdateItem":  {opUpdateItem, words("SavedItemFolderId ItemChanges")},
	"DeleteItem":  {opDeleteItem, words("ItemIds")},
	"MoveItem":    {opMoveItem, words("ToFolderId ItemIds ReturnNewItemIds")},
	"CopyItem":    {opCopyItem, words("ToFolderId ItemIds ReturnNewItemIds")},
	"SendItem":    {opSendItem, words("ItemIds SavedItemFolderId")},
	"MarkAsJunk":  {opMarkAsJunk, nil},
	"ArchiveItem": {opArchiveItem, nil},

	// Searching (ops_find.go).
	"FindFolder": {opFindFolder, words("FolderShape IndexedPageFolderView FractionalPageFolderView Restriction ParentFolderIds")},
	"FindItem": {opFindItem, words("ItemShape IndexedPageItemView FractionalPageItemView SeekToConditionPageItemView " +
		"CalendarView ContactsView GroupBy DistinguishedGroupBy Restriction SortOrder ParentFolderIds QueryString")},

	// Synchronization (ops_sync.go).
	"SyncFolderHierarchy": {opSyncFolderHierarchy, words("FolderShape SyncFolderId SyncState")},
	"SyncFolderItems":     {opSyncFolderItems, words("ItemShape SyncFolderId SyncState Ignore MaxChangesReturned SyncScope NumberOfDays")},

	// Notifications (notify_ops.go).
	"Subscribe":          {opSubscribe, nil},
	"GetEvents":          {opGetEvents, nil},
	"GetStreamingEvents": {opGetStreamingEvents, nil},
	"Unsubscribe":        {opUnsubscribe, nil},

	// Attachments (ops_attachment.go).
	"GetAttachment":    {opGetAttachment, words("AttachmentShape AttachmentIds")},
	"CreateAttachment": {opCreateAttachment, nil},
	"DeleteAttachment": {opDeleteAttachment, nil},

	// Contacts and people (ops_contacts.go).
	"ResolveNames": {opResolveNames, nil},
	"FindPeople":   {opFindPeople, nil},
	"GetPersona":   {opGetPersona, nil},

	// Export and import (export.go).
	"ExportItems": {opExportItems, nil},
	"UploadItems": {opUploadItems, nil},

	// Ids (ops_convert.go).
	"ConvertId": {opConvertID, words("SourceIds")},

	// Availability (freebusy.go).
	"GetUserAvailabilityRequest": {opGetUserAvailability, nil},

	// Account-level operations (ops_misc.go).
	"GetServerTimeZones":        {opGetServerTimeZones, nil},
	"GetUserOofSettingsRequest": {opGetUserOofSettings, nil},
	"SetUserOofSettingsRequest": {opSetUserOofSettings, nil},
	"GetMailTips":               {opGetMailTips, nil},
	"GetRoomLists":              {opGetRoomLists, nil},
	"GetRooms":                  {opGetRooms, nil},
	"GetDelegate":               {opGetDelegate, nil},
}

// knownOperations are EWS operations that exist in the schema; those this
// server does not implement get ErrorInvalidRequest instead of a schema
// validation fault.
var knownOperations = words(`AddDelegate ApplyConversationAction ArchiveItem ConvertId CopyFolder CreateAttachment
	CreateManagedFolder CreateUserConfiguration DeleteAttachment DeleteUserConfiguration EmptyFolder ExpandDL
	ExportItems FindConversation FindPeople GetAttachment GetConversationItems GetDelegate GetEvents
	GetInboxRules GetMailTips GetPasswordExpirationDate GetPersona GetRoomLists GetRooms GetSearchableMailboxes
	GetServerTimeZones GetServiceConfiguration GetSharingFolder GetSharingMetadata GetStreamingEvents
	GetUserAvailability GetUserAvailabilityRequest GetUserConfiguration GetUserOofSettings GetUserPhoto MarkAllItemsAsRead MarkAsJunk
	PlayOnPhone RemoveDelegate ResolveNames SendItem SetUserOofSettings Subscribe UpdateInboxRules
	UpdateUserConfiguration UploadItems Unsubscribe GetAppManifests GetClientAccessToken FindMessageTrackingReport
	GetMessageTrackingReport GetNonIndexableItemDetails GetNonIndexableItemStatistics SearchMailboxes
	GetDiscoverySearchConfiguration GetHoldOnMailboxes SetHoldOnMailboxes GetUserRetentionPolicyTags
	GetAppMarketplaceUrl InstallApp UninstallApp DisableApp GetImItemList GetImItems AddImContactToGroup
	RemoveImContactFromGroup AddImGroup AddNewImContactToGroup AddNewTelUriContactToGroup AddDistributionGroupToImList
	RemoveContactFromImList RemoveDistributionGroupFromImList RemoveImGroup SetImGroup SetImListMigrationCompleted
	GetUserPhoto SetUserPhoto GetRoomLists SetTeamMailbox UnpinTeamMailbox MarkAsJunk`)

// words returns the set of the space-separated words of s.
func words(s string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.Fields(s) {
		set[w] = true
	}
	return set
}

// lookupOp returns the operation named op: a test's replacement on this
// server (Server.replaceOp), else the table's.
func (s *Server) lookupOp(op string) (operation, bool) {
	s.mu.RLock()
	h := s.testOps[op]
	s.mu.RUnlock()
	o, ok := operations[op]
	if h != nil {
		return operation{serve: h, children: o.children}, true
	}
	return o, ok
}

// replaceOp replaces an operation on this server only; the package's
// tests use it to see what the layers in front of the handlers pass on.
func (s *Server) replaceOp(op string, h opHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.testOps == nil {
		s.testOps = map[string]opHandler{}
	}
	s.testOps[op] = h
}

// checkChildren rejects a child element the schema does not allow in the
// operation element, or one outside the messages namespace.
func (o operation) checkChildren(op string, el *etree.Element) error {
	if o.children == nil {
		return nil
	}
	for _, c := range el.ChildElements() {
		if !o.children[c.Tag] || c.NamespaceURI() != nsM {
			return schemaFault("the element '%s' in namespace '%s' is not expected in %s", c.Tag, c.NamespaceURI(), op)
		}
	}
	return nil
}
