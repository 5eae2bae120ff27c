// Package ewstest is a faithful fake Exchange Web Services server for
// tests, shaped like net/http/httptest: NewServer starts it on 127.0.0.1,
// URL is its EWS endpoint (ending in /EWS/Exchange.asmx), Client returns
// an HTTP client for it and Close stops it. Server.Mailbox gives a Go
// handle on each user's mailbox.
//
// # Basics
//
// Each user has a mailbox with Exchange's distinguished folders (root,
// msgfolderroot with inbox, drafts, sentitems, deleteditems, junkemail,
// outbox, archive, conversationhistory, calendar, contacts, tasks, notes,
// journal; searchfolders and recoverableitemsroot/deletions as hidden
// folders) and any nested user folders. Messages carry the properties a
// mail client reads and render as RFC 5322 MIME on demand (Size is the MIME
// length). Ids are opaque base64 records that embed the mailbox, as
// Exchange's do; ChangeKeys change on every modification (a delete that
// moves an item to Deleted Items or Deletions keeps it, as Exchange does),
// and a stale ChangeKey under AutoResolve or NeverOverwrite gives
// ErrorIrresolvableConflict.
//
// Every mutation, whether it comes from a SOAP operation or from a Go
// test through the Mailbox methods (Deliver, CreateItem, SetRead,
// UpdateItem, MoveItem, CopyItem, DeleteItem, MarkAllRead, EmptyFolder,
// CreateFolder, RenameFolder, MoveFolder, CopyFolder, DeleteFolder), takes the same
// code path: it allocates a
// mailbox change number, keeps TotalCount, UnreadCount, ChildFolderCount,
// PR_LOCAL_COMMIT_TIME_MAX (0x670A, one-second granularity; moved by
// create, modify and move-in, and by a read-flag-only change only with
// Options.ReadFlagMovesCommitTime) and PR_DELETED_COUNT_TOTAL (0x670B,
// grown by delete and move-out), and publishes the events Exchange raises
// for the action to the notification broker.
//
// ICS: SyncFolderItems and SyncFolderHierarchy return net changes since an
// opaque sync state (base64 of a versioned, checksummed record naming the
// mailbox and folder): created-then-deleted gives nothing, many
// modifications give one Update, a read-flag-only change gives
// ReadFlagChange, created-and-modified gives one Create. Items come newest
// first, MaxChangesReturned at a time, and changes made between pages are
// delivered exactly once. A garbage state, a state of another folder or
// kind, or one older than Options.TombstoneRetention gives
// ErrorInvalidSyncStateData.
//
// The SOAP layer parses requests by namespace URI and local name (any
// prefixes, default namespaces, SOAP 1.1 or 1.2, SOAPAction optional,
// and the operation element in no namespace when its children are EWS
// ones, as in Microsoft's push Subscribe example), checks
// RequestServerVersion (a request without it may use every operation;
// item properties newer than the requested schema are left out of
// responses), honours ExchangeImpersonation (refused with
// ErrorImpersonateUserDenied for authenticated callers not listed in
// Options.ImpersonationUsers) and answers as Exchange writes: an s:
// envelope with an h:ServerVersionInfo header, m:/t: prefixes, one response
// message per input id with ResponseClass, MessageText, ResponseCode and
// DescriptiveLinkKey, and SOAP faults (HTTP 500) for request-wide errors
// such as ErrorSchemaValidation, ErrorInvalidServerVersion and
// ErrorServerBusy. Operations: GetFolder, FindFolder, CreateFolder,
// UpdateFolder, DeleteFolder, MoveFolder, CopyFolder, GetItem, FindItem, CreateItem
// (SaveOnly, and SendOnly/SendAndSaveCopy delivering to local
// recipients; also the ReplyToItem, ReplyAllToItem and ForwardItem
// response objects, which quote the original), UpdateItem, DeleteItem, MoveItem, CopyItem, GetAttachment,
// SendItem, MarkAllItemsAsRead, EmptyFolder, ConvertId, SyncFolderHierarchy and
// SyncFolderItems, the account-level operations third-party clients call
// (ResolveNames, GetServerTimeZones, Get/SetUserOofSettings,
// GetUserAvailability, CreateAttachment, DeleteAttachment, MarkAsJunk,
// ExportItems, UploadItems, GetMailTips, FindPeople, GetPersona,
// GetRoomLists, GetRooms, GetDelegate, ArchiveItem; see Caveats), plus the
// notification operations Subscribe, GetEvents, GetStreamingEvents and
// Unsubscribe. One table in ops.go lists every operation with the file
// that serves it, one file per operation family. FindItem
// and SyncFolderItems return summary properties only (no body,
// attachments or MIME), as on Exchange. Any other EWS operation gets ErrorInvalidRequest; an
// element that is not an EWS operation gets ErrorSchemaValidation.
//
// FindItem and FindFolder return at most 1000 rows per call (250 for a
// restricted FindItem), Exchange's EWSFindCountLimit; clients page on with
// IndexedPagingOffset. Options.Compression gzips large responses for
// clients that accept it.
//
// Server.Faults injects ErrorServerBusy with BackOffMilliseconds,
// ErrorInvalidSyncStateData, dropped connections, latency on the server's
// clock and arbitrary per-operation faults at run time.
// On the notification side, Server.Restart drops every subscription (a
// Client Access server restart), MoveMailbox moves a mailbox to another
// database and backend, DropStreamingConnections cuts streaming
// connections, and ExpireWatermarks and OverrunWatermarks make old
// watermarks invalid. Server.RequestStats counts the SOAP requests served
// by operation and the response bytes, so that a test can count what a
// client asked for.
//
// Autodiscover (autodiscover.go) is served at AutodiscoverSOAPPath
// (GetUserSettings for many mailboxes per request) and AutodiscoverPOXPath,
// behind the same authentication, with each mailbox's EWS URL
// (SetBackendEwsURL, default the server's URL) and GroupingInformationOf
// its backend, so a MoveMailbox changes it. SetAutodiscoverUser makes an
// address redirect (RedirectAddress, RedirectUrl) or fail,
// SetAutodiscoverFailure fails whole requests, and
// SetAutodiscoverHTTPRedirect answers the unauthenticated GET of the HTTP
// redirect method.
//
// Options.Auth selects authentication (auth.go): none, Basic against the
// users' passwords, Bearer against configured tokens, or NTLM with a real
// server side (challenge with target info, NTLMv2 and MIC verification,
// one handshake per TCP connection). Wrong credentials get 401 and
// nothing else happens. Options.Throttle adds a per-user concurrent-request
// limit answered with ErrorServerBusy and BackOffMilliseconds
// (GetStreamingEvents exempt) and a real per-request latency;
// Server.Throttle changes them at run time.
//
// Seed fills a mailbox with deterministic, realistic folders and messages
// (100,000 messages in a fraction of a second). Server.StartActivity runs
// a deterministic activity generator (new mail, read/unread, flags, moves,
// deletes, folder create/rename/delete) on the server's clock through the
// same Mailbox methods the SOAP operations use. NewControl serves a
// token-protected JSON control endpoint for tests in other languages
// (syncdemo serve -control).
//
// # Caveats
//
// The fake models mail items (IPM.Note and other classes stored as
// messages). CalendarItem, Contact, Task and DistributionList items
// (calendar.go) keep the properties of their derived type as the elements
// the client sent (a property bag written back in schema order, plus the
// values Exchange computes such as UID, Organizer, CalendarItemType and
// Duration), can be created, read, found, restricted on, updated,
// deleted and synced, and FindItem takes a CalendarView (items overlapping
// the range, by start time) or a ContactsView (contacts and lists by
// name); there are no meeting semantics (no invitations are sent, no
// recurrence expansion). GetUserAvailability computes free/busy from the
// Calendar folder (time zones by Bias only, no daylight saving; working
// hours are Monday to Friday 08:00 to 17:00 UTC). MarkAsJunk moves items
// to Junk Email or back to the Inbox (no blocked-senders list).
// ExportItems data is this server's own versioned record (not Exchange's
// fast-transfer stream; extended properties are not carried), so it
// round-trips through UploadItems here only.
// ResolveNames (prefix match on the server's users),
// GetServerTimeZones (fixed-offset zones), Get/SetUserOofSettings,
// CreateAttachment/DeleteAttachment (file attachments, and item
// attachments whose embedded item GetAttachment returns with all its
// properties; ids are positional, so deleting one renumbers later ones;
// ExportItems carries an item attachment as its MIME only) are
// implemented;
// FindPeople lists one folder's contacts as personas (no linking across
// folders; QueryString matches names and addresses as a substring,
// Restriction is refused), and GetPersona returns one.
// GetMailTips reports local mailboxes' active out-of-office replies and
// other addresses as external. GetRoomLists, GetRooms and GetDelegate
// answer as an organization without room lists or delegates, and ArchiveItem as a mailbox without an archive
// (ErrorArchiveMailboxNotEnabled). Other ItemType properties outside the
// Message type are accepted on update but not stored. Restrictions (restrict.go) support the whole search-expression
// grammar (And, Or, Not, Exists, Excludes, the six comparisons against a
// constant or another property, Contains with every ContainmentMode and
// ContainmentComparison; IgnoreNonSpacingCharacters folds Latin
// diacritics only) over every item property the fake stores (subject,
// body, dates, size, categories, importance, sensitivity, class, flags,
// read and draft state, From, Sender and recipients by address or name,
// Internet message id, conversation id and topic, and the matching MAPI
// tags); multi-valued properties match on any value; SortOrder takes any
// of them. Extended properties a client writes (CreateItem's
// ExtendedProperty, UpdateItem's SetItemField and DeleteItemField with an
// ExtendedFieldURI; by tag, or by property set with name or id; arrays
// too) are stored on the item (extprops.go), returned by GetItem and
// FindItem, kept by moves and copies, and seen by restrictions and sort
// orders typed by their PropertyType; they live in memory only. Items also
// answer PR_INTERNET_ARTICLE_NUMBER (0x0E23, rising with each arrival in a
// folder: an IMAP UID), PR_RECORD_KEY, PR_MESSAGE_FLAGS and PR_FLAG_STATUS
// (the Flag) from their state; PR_MESSAGE_FLAGS given at creation decides
// read and draft state. ConvertId answers the id's real mailbox whatever
// Mailbox the request names. DavMail (an IMAP gateway) works against the
// fake (interop_davmail_test.go). FindFolder
// restrictions take the same grammar on DisplayName, FolderClass, the three
// counts and the MAPI tags 0x10F4, 0x670A, 0x670B, 0x3001 and 0x3613;
// other paths are ErrorUnsupportedPathForQuery. FindItem also takes an AQS
// QueryString (aqs.go: free words matched at word starts against subject,
// body, sender, recipients, categories and attachment names; quoted
// phrases; AND, OR, NOT, "-" and parentheses; subject:, body:, from:, to:,
// cc:, bcc:, participants:, category:, attachment:, hasattachment:,
// isread:, isflagged:, importance:, kind:, received:/sent: with days,
// ranges (a..b) and comparisons, and size:), evaluated on the items rather
// than a content index, FractionalPageItemView, and GroupBy or
// DistinguishedGroupBy (ConversationTopic) answered as t:Groups. SyncFolderHierarchy returns all changes in one
// response. A moved item gets a new ItemId, as on Exchange. Sync states
// grow with the number of pages of the last pass (a few bytes per page);
// past 256 pages in one pass neighbouring pages are merged, which can make
// the next sync repeat an Update or Delete (never lose one). Soft delete
// and move to Deleted Items are published as MovedEvent (what a folder
// subscription sees on Exchange 2013+); the notification broker shapes
// what an all-folders subscription sees. Without the authentication middleware requests are
// unauthenticated and act on the impersonated mailbox, the X-AnchorMailbox
// or the only mailbox.
package ewstest
