package ews

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FolderID is an EWS folder id with its change key (which may be empty).
type FolderID struct {
	ID        string
	ChangeKey string
}

// Ref returns a FolderRef naming this folder.
func (id FolderID) Ref() FolderRef { return FolderRef{ID: id.ID, ChangeKey: id.ChangeKey} }

// ItemID is an EWS item id with its change key (which may be empty).
type ItemID struct {
	ID        string
	ChangeKey string
}

// FolderRef names a folder in a request: either by ID (t:FolderId) or by a
// distinguished name such as "inbox" or "msgfolderroot"
// (t:DistinguishedFolderId), optionally in another Mailbox.
type FolderRef struct {
	// ID and ChangeKey name a folder by id.
	ID        string
	ChangeKey string
	// Distinguished is a DistinguishedFolderId name ("inbox", "root",
	// "msgfolderroot", "deleteditems", ...). Set either ID or
	// Distinguished.
	Distinguished string
	// Mailbox is the SMTP address of the mailbox holding a
	// distinguished folder, when it is not the caller's (or the
	// impersonated) mailbox.
	Mailbox string
}

// DistinguishedFolder returns a FolderRef for a distinguished folder name
// such as "inbox" in the default mailbox.
func DistinguishedFolder(name string) FolderRef { return FolderRef{Distinguished: name} }

func (r FolderRef) validate() error {
	switch {
	case r.ID == "" && r.Distinguished == "":
		return fmt.Errorf("folder reference names neither an ID nor a distinguished folder")
	case r.ID != "" && r.Distinguished != "":
		return fmt.Errorf("folder reference names both ID %q and distinguished folder %q", r.ID, r.Distinguished)
	case r.Mailbox != "" && r.Distinguished == "":
		return fmt.Errorf("a Mailbox applies only to a distinguished folder")
	}
	return nil
}

// String returns the distinguished name or the id.
func (r FolderRef) String() string {
	if r.Distinguished != "" {
		if r.Mailbox != "" {
			return r.Distinguished + "@" + r.Mailbox
		}
		return r.Distinguished
	}
	return r.ID
}

// BaseShape is the t:BaseShape of a response shape.
type BaseShape string

// Base shapes. IdOnly is the cheapest and what Microsoft advises for sync.
const (
	IDOnly        BaseShape = "IdOnly"
	DefaultShape  BaseShape = "Default"
	AllProperties BaseShape = "AllProperties"
)

// FieldURI values (t:FieldURI) for folder and item properties.
const (
	FieldFolderID               = "folder:FolderId"
	FieldFolderParentFolderID   = "folder:ParentFolderId"
	FieldFolderDisplayName      = "folder:DisplayName"
	FieldFolderClass            = "folder:FolderClass"
	FieldFolderTotalCount       = "folder:TotalCount"
	FieldFolderUnreadCount      = "folder:UnreadCount"
	FieldFolderChildFolderCount = "folder:ChildFolderCount"

	FieldItemID                   = "item:ItemId"
	FieldItemParentFolderID       = "item:ParentFolderId"
	FieldItemClass                = "item:ItemClass"
	FieldItemSubject              = "item:Subject"
	FieldItemDateTimeReceived     = "item:DateTimeReceived"
	FieldItemDateTimeSent         = "item:DateTimeSent"
	FieldItemSize                 = "item:Size"
	FieldItemHasAttachments       = "item:HasAttachments"
	FieldItemImportance           = "item:Importance"
	FieldItemCategories           = "item:Categories"
	FieldItemConversationID       = "item:ConversationId"
	FieldMessageFrom              = "message:From"
	FieldMessageSender            = "message:Sender"
	FieldMessageToRecipients      = "message:ToRecipients"
	FieldMessageCcRecipients      = "message:CcRecipients"
	FieldMessageIsRead            = "message:IsRead"
	FieldMessageInternetMessageID = "message:InternetMessageId"
	FieldMessageBccRecipients     = "message:BccRecipients"
	FieldItemDateTimeCreated      = "item:DateTimeCreated"
	FieldItemLastModifiedTime     = "item:LastModifiedTime"
)

// ExtendedFieldURI names a MAPI property (t:ExtendedFieldURI), either by
// PropertyTag or by property set plus name or id. Values are as on the wire;
// PropertyType is always required.
type ExtendedFieldURI struct {
	// PropertyTag is the 16-bit property id in hex ("0x670A") or
	// decimal. Servers echo it as lower-case hex; compare with Tag.
	PropertyTag string
	// PropertyType is e.g. "Integer", "SystemTime", "String".
	PropertyType string
	// DistinguishedPropertySetID or PropertySetID (a GUID) qualify a
	// named property, with PropertyName or PropertyID.
	DistinguishedPropertySetID string
	PropertySetID              string
	PropertyName               string
	PropertyID                 string
}

// The two folder properties recovery compares (DESIGN.md).
var (
	// PropLocalCommitTimeMax is PR_LOCAL_COMMIT_TIME_MAX (0x670A0040).
	PropLocalCommitTimeMax = ExtendedFieldURI{PropertyTag: "0x670A", PropertyType: "SystemTime"}
	// PropDeletedCountTotal is PR_DELETED_COUNT_TOTAL (0x670B0003).
	PropDeletedCountTotal = ExtendedFieldURI{PropertyTag: "0x670B", PropertyType: "Integer"}
)

// Tag returns the PropertyTag as an integer and whether it is set and
// valid (hex with 0x prefix, or decimal, 0–65535).
func (u ExtendedFieldURI) Tag() (uint16, bool) {
	s := strings.TrimSpace(u.PropertyTag)
	if s == "" {
		return 0, false
	}
	var n uint64
	var err error
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		n, err = strconv.ParseUint(s[2:], 16, 16)
	} else {
		n, err = strconv.ParseUint(s, 10, 16)
	}
	if err != nil {
		return 0, false
	}
	return uint16(n), true
}

// Matches reports whether u and v name the same property: equal tags
// compared as integers, or equal set and name/id. Types are not compared.
func (u ExtendedFieldURI) Matches(v ExtendedFieldURI) bool {
	if a, ok := u.Tag(); ok {
		b, ok := v.Tag()
		return ok && a == b
	}
	if u.PropertyName != v.PropertyName || u.PropertyID != v.PropertyID {
		return false
	}
	if u.DistinguishedPropertySetID != "" || v.DistinguishedPropertySetID != "" {
		return u.DistinguishedPropertySetID == v.DistinguishedPropertySetID
	}
	return strings.EqualFold(u.PropertySetID, v.PropertySetID)
}

func (u ExtendedFieldURI) validate() error {
	if u.PropertyType == "" {
		return fmt.Errorf("extended property without PropertyType")
	}
	if u.PropertyTag != "" {
		if _, ok := u.Tag(); !ok {
			return fmt.Errorf("PropertyTag %q is not a 16-bit hex (0x...) or decimal value", u.PropertyTag)
		}
		if u.PropertySetID != "" || u.DistinguishedPropertySetID != "" || u.PropertyName != "" || u.PropertyID != "" {
			return fmt.Errorf("PropertyTag %q combined with a property set", u.PropertyTag)
		}
		return nil
	}
	if (u.PropertySetID == "") == (u.DistinguishedPropertySetID == "") {
		return fmt.Errorf("extended property needs PropertyTag, or exactly one of PropertySetID and DistinguishedPropertySetID")
	}
	if (u.PropertyName == "") == (u.PropertyID == "") {
		return fmt.Errorf("named extended property needs exactly one of PropertyName and PropertyID")
	}
	return nil
}

// ExtendedProperty is a returned t:ExtendedProperty.
type ExtendedProperty struct {
	// Field is the echoed ExtendedFieldURI (tags come back lower-case).
	Field ExtendedFieldURI
	// Value is the t:Value text of a single-valued property.
	Value string
	// Values holds t:Values/t:Value texts of a multi-valued property.
	Values []string
}

// FolderShape is a folder response shape (m:FolderShape).
type FolderShape struct {
	// Base is the base shape; empty means IdOnly.
	Base BaseShape
	// Fields are FieldURI values (FieldFolder* constants).
	Fields []string
	// Extended are extended properties to return.
	Extended []ExtendedFieldURI
}

// FolderSyncShape returns the shape the sync engine uses for folders: ids,
// parent, display name, class, the three counters and the two recovery
// properties.
func FolderSyncShape() FolderShape {
	return FolderShape{
		Base: IDOnly,
		Fields: []string{FieldFolderParentFolderID, FieldFolderDisplayName, FieldFolderClass,
			FieldFolderTotalCount, FieldFolderUnreadCount, FieldFolderChildFolderCount},
		Extended: []ExtendedFieldURI{PropLocalCommitTimeMax, PropDeletedCountTotal},
	}
}

// ItemShape is an item response shape (m:ItemShape).
type ItemShape struct {
	// Base is the base shape; empty means IdOnly.
	Base BaseShape
	// IncludeMimeContent asks for t:MimeContent (GetItem only).
	IncludeMimeContent bool
	// Fields are FieldURI values (FieldItem*/FieldMessage* constants).
	Fields []string
	// Extended are extended properties to return.
	Extended []ExtendedFieldURI
}

// MessageMetadataShape returns the shape for message metadata: subject,
// sender, recipients, times, size, flags, importance, categories, ids,
// class and parent folder; with mime, also the MIME content.
func MessageMetadataShape(mime bool) ItemShape {
	return ItemShape{
		Base:               IDOnly,
		IncludeMimeContent: mime,
		Fields: []string{FieldItemParentFolderID, FieldItemClass, FieldItemSubject,
			FieldItemDateTimeReceived, FieldItemDateTimeSent, FieldItemSize, FieldItemHasAttachments,
			FieldItemImportance, FieldItemCategories, FieldItemConversationID, FieldMessageFrom,
			FieldMessageSender, FieldMessageToRecipients, FieldMessageCcRecipients,
			FieldMessageIsRead, FieldMessageInternetMessageID},
	}
}

// Folder is a folder as returned by GetFolder, FindFolder and
// SyncFolderHierarchy. Counters the response did not carry are -1.
type Folder struct {
	// Kind is the element name: "Folder", "CalendarFolder",
	// "ContactsFolder", "SearchFolder" or "TasksFolder".
	Kind        string
	ID          FolderID
	ParentID    FolderID
	FolderClass string
	DisplayName string
	// TotalCount, UnreadCount and ChildFolderCount are -1 when absent.
	TotalCount       int
	UnreadCount      int
	ChildFolderCount int
	// LocalCommitTimeMax is PR_LOCAL_COMMIT_TIME_MAX, zero when absent.
	LocalCommitTimeMax time.Time
	// DeletedCountTotal is PR_DELETED_COUNT_TOTAL, -1 when absent.
	DeletedCountTotal int64
	// Extended holds every returned extended property, the two above
	// included.
	Extended []ExtendedProperty
}

// Mailbox is a t:Mailbox (EmailAddressType). RoutingType "EX" means
// EmailAddress is a legacy Exchange DN, not SMTP.
type Mailbox struct {
	Name         string
	EmailAddress string
	RoutingType  string
	MailboxType  string
}

// Item is an item (message or other kind) as returned by GetItem and in
// SyncFolderItems changes. Fields the response did not carry are zero.
type Item struct {
	// Kind is the element name: "Message", "Item", "CalendarItem",
	// "MeetingRequest", "Contact", "Task", "PostItem", ...
	Kind              string
	ID                ItemID
	ParentFolderID    FolderID
	ItemClass         string
	Subject           string
	From              *Mailbox
	Sender            *Mailbox
	ToRecipients      []Mailbox
	CcRecipients      []Mailbox
	BccRecipients     []Mailbox
	DateTimeReceived  time.Time
	DateTimeSent      time.Time
	Size              int64
	IsRead            bool
	HasAttachments    bool
	Importance        string
	Categories        []string
	InternetMessageID string
	ConversationID    string
	// MimeContent is the decoded RFC 822 stream when asked for.
	MimeContent []byte
	// MimeCharset is the MimeContent CharacterSet attribute.
	MimeCharset string
	// Extended holds returned extended properties.
	Extended []ExtendedProperty
}

// ChangeKind says what a sync change is.
type ChangeKind uint8

// Change kinds of SyncFolderHierarchy and SyncFolderItems.
const (
	ChangeCreate ChangeKind = iota + 1
	ChangeUpdate
	ChangeDelete
	// ChangeReadFlag is a SyncFolderItems ReadFlagChange.
	ChangeReadFlag
)

// String returns the element name of the change.
func (k ChangeKind) String() string {
	switch k {
	case ChangeCreate:
		return "Create"
	case ChangeUpdate:
		return "Update"
	case ChangeDelete:
		return "Delete"
	case ChangeReadFlag:
		return "ReadFlagChange"
	}
	return "ChangeKind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText encodes the kind as its element name.
func (k ChangeKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }
