package syncengine

import (
	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/localstore"
)

// folderShape asks for what the store keeps of a folder: its place, name
// and counters, and the two MAPI props recovery compares.
func folderShape() ews.FolderShape {
	s := ews.FolderSyncShape()
	s.Fields = append(s.Fields, ews.FieldFolderParentFolderID, ews.FieldFolderDisplayName, ews.FieldFolderClass)
	return s
}

func folderInfo(f ews.Folder) localstore.FolderInfo {
	return localstore.FolderInfo{
		ID:               localstore.FolderID(f.ID.ID),
		ChangeKey:        f.ID.ChangeKey,
		ParentID:         localstore.FolderID(f.ParentID.ID),
		DisplayName:      f.DisplayName,
		FolderClass:      f.FolderClass,
		TotalCount:       int64(max(f.TotalCount, 0)),
		UnreadCount:      int64(max(f.UnreadCount, 0)),
		ChildFolderCount: int64(max(f.ChildFolderCount, 0)),
	}
}

// storedProps is a folder's record as the props a sync stores with its
// checkpoint, unchanged.
func storedProps(f localstore.Folder) ews.Folder {
	return ews.Folder{
		ID:                 ews.FolderID{ID: string(f.ID), ChangeKey: f.ChangeKey},
		ParentID:           ews.FolderID{ID: string(f.ParentID)},
		FolderClass:        f.FolderClass,
		DisplayName:        f.DisplayName,
		TotalCount:         int(f.TotalCount),
		UnreadCount:        int(f.UnreadCount),
		ChildFolderCount:   int(f.ChildFolderCount),
		LocalCommitTimeMax: f.LocalCommitTimeMax,
		DeletedCountTotal:  f.DeletedCountTotal,
	}
}

// mergeFolderInfo fills what a GetFolder response omitted (a folder shape
// without the parent, say) from the stored record.
func mergeFolderInfo(fresh localstore.FolderInfo, stored localstore.FolderInfo) localstore.FolderInfo {
	if fresh.ParentID == "" {
		fresh.ParentID = stored.ParentID
	}
	if fresh.DisplayName == "" {
		fresh.DisplayName = stored.DisplayName
	}
	if fresh.FolderClass == "" {
		fresh.FolderClass = stored.FolderClass
	}
	return fresh
}

func address(mb *ews.Mailbox) localstore.Address {
	if mb == nil {
		return localstore.Address{}
	}
	return localstore.Address{Name: mb.Name, Email: mb.EmailAddress}
}

func addresses(mbs []ews.Mailbox) []localstore.Address {
	if len(mbs) == 0 {
		return nil
	}
	out := make([]localstore.Address, len(mbs))
	for i := range mbs {
		out[i] = address(&mbs[i])
	}
	return out
}

// StoreItem converts an item as ews returns it (from SyncFolderItems or
// GetItem) into the store's record, as the engine writes it. folder is the
// parent to use when the response did not name one.
func StoreItem(it *ews.Item, folder localstore.FolderID) localstore.Item {
	imp := localstore.ImportanceNormal
	switch it.Importance {
	case "Low":
		imp = localstore.ImportanceLow
	case "High":
		imp = localstore.ImportanceHigh
	}
	fid := localstore.FolderID(it.ParentFolderID.ID)
	if fid == "" {
		fid = folder
	}
	return localstore.Item{
		ID:                localstore.ItemID(it.ID.ID),
		ChangeKey:         it.ID.ChangeKey,
		FolderID:          fid,
		ItemClass:         it.ItemClass,
		Subject:           it.Subject,
		From:              address(it.From),
		To:                addresses(it.ToRecipients),
		Cc:                addresses(it.CcRecipients),
		Received:          it.DateTimeReceived,
		Sent:              it.DateTimeSent,
		Size:              it.Size,
		IsRead:            it.IsRead,
		HasAttachments:    it.HasAttachments,
		Importance:        imp,
		Categories:        it.Categories,
		InternetMessageID: it.InternetMessageID,
		ConversationID:    it.ConversationID,
	}
}
