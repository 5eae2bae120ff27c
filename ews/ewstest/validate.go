package ewstest

import (
	"strings"

	"github.com/beevik/etree"
)

// opChildren lists, per operation, the child elements messages.xsd allows
// in the operation element (all in the messages namespace). A request
// with any other child fails schema validation, as on Exchange.
// Operations not listed here (those other files register) check their own.
var opChildren = map[string]map[string]bool{}

func init() {
	for op, kids := range map[string]string{
		"GetFolder":           "FolderShape FolderIds",
		"FindFolder":          "FolderShape IndexedPageFolderView FractionalPageFolderView Restriction ParentFolderIds",
		"CreateFolder":        "ParentFolderId Folders",
		"UpdateFolder":        "FolderChanges",
		"DeleteFolder":        "FolderIds",
		"MoveFolder":          "ToFolderId FolderIds",
		"GetItem":             "ItemShape ItemIds",
		"FindItem":            "ItemShape IndexedPageItemView FractionalPageItemView SeekToConditionPageItemView CalendarView ContactsView GroupBy DistinguishedGroupBy Restriction SortOrder ParentFolderIds QueryString",
		"CreateItem":          "SavedItemFolderId Items",
		"UpdateItem":          "SavedItemFolderId ItemChanges",
		"DeleteItem":          "ItemIds",
		"MoveItem":            "ToFolderId ItemIds ReturnNewItemIds",
		"CopyItem":            "ToFolderId ItemIds ReturnNewItemIds",
		"SyncFolderHierarchy": "FolderShape SyncFolderId SyncState",
		"SyncFolderItems":     "ItemShape SyncFolderId SyncState Ignore MaxChangesReturned SyncScope NumberOfDays",
		"GetAttachment":       "AttachmentShape AttachmentIds",
		"ConvertId":           "SourceIds",
		"MarkAllItemsAsRead":  "ReadFlag SuppressReadReceipts FolderIds",
		"EmptyFolder":         "FolderIds",
		"SendItem":            "ItemIds SavedItemFolderId",
	} {
		set := map[string]bool{}
		for _, k := range strings.Fields(kids) {
			set[k] = true
		}
		opChildren[op] = set
	}
}

// checkOpChildren rejects a child element the schema does not allow in
// the operation element, or one outside the messages namespace.
func checkOpChildren(op string, el *etree.Element) error {
	allowed, ok := opChildren[op]
	if !ok {
		return nil
	}
	for _, c := range el.ChildElements() {
		if !allowed[c.Tag] || c.NamespaceURI() != nsM {
			return schemaFault("the element '%s' in namespace '%s' is not expected in %s", c.Tag, c.NamespaceURI(), op)
		}
	}
	return nil
}
