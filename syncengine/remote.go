package syncengine

import (
	"context"
	"iter"
	"sync"
	"sync/atomic"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/localstore"
)

// Remote is what the engine needs of an EWS client; *ews.Client
// implements it.
type Remote interface {
	GetFolder(ctx context.Context, req ews.GetFolderRequest) ([]ews.FolderResult, error)
	SyncFolderHierarchy(ctx context.Context, req ews.SyncFolderHierarchyRequest) (*ews.SyncFolderHierarchyResult, error)
	SyncFolderItems(ctx context.Context, req ews.SyncFolderItemsRequest) (*ews.SyncFolderItemsResult, error)
	GetItem(ctx context.Context, req ews.GetItemRequest) ([]ews.ItemResult, error)
	Subscribe(ctx context.Context, req *ews.SubscribeRequest) (*ews.Subscription, error)
	GetEvents(ctx context.Context, subscriptionID, watermark string, opts *ews.GetEventsOptions) (*ews.Notification, error)
	Unsubscribe(ctx context.Context, subscriptionID string, opts *ews.UnsubscribeOptions) error
	NewStreamingConnection(opts *ews.StreamingOptions) (*ews.StreamingConnection, error)
}

var _ Remote = (*ews.Client)(nil)

// Store is what the engine needs of the mirror; *localstore.Store
// implements it.
type Store interface {
	Apply(ctx context.Context, b localstore.Batch) error
	Folder(ctx context.Context, mb localstore.Mailbox, id localstore.FolderID) (localstore.Folder, error)
	Folders(ctx context.Context, mb localstore.Mailbox) iter.Seq2[localstore.Folder, error]
	Items(ctx context.Context, mb localstore.Mailbox, folder localstore.FolderID, q localstore.Query) iter.Seq2[localstore.Item, error]
	MailboxState(ctx context.Context, mb localstore.Mailbox) (localstore.MailboxState, error)
	RemoveMailbox(ctx context.Context, mb localstore.Mailbox) error
}

var _ Store = (*localstore.Store)(nil)

// counter counts EWS calls by operation.
type counter struct {
	total atomic.Int64
	mu    sync.Mutex
	byOp  map[string]int64
}

func (c *counter) add(op string) {
	c.total.Add(1)
	c.mu.Lock()
	if c.byOp == nil {
		c.byOp = make(map[string]int64)
	}
	c.byOp[op]++
	c.mu.Unlock()
}

func (c *counter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int64, len(c.byOp))
	for k, v := range c.byOp {
		m[k] = v
	}
	return m
}

// counted wraps a Remote, counting each call in the mailbox's counter and
// the engine's.
type counted struct {
	Remote
	mb, all *counter
}

func (c counted) count(op string) { c.mb.add(op); c.all.add(op) }

func (c counted) GetFolder(ctx context.Context, req ews.GetFolderRequest) ([]ews.FolderResult, error) {
	c.count("GetFolder")
	return c.Remote.GetFolder(ctx, req)
}

func (c counted) SyncFolderHierarchy(ctx context.Context, req ews.SyncFolderHierarchyRequest) (*ews.SyncFolderHierarchyResult, error) {
	c.count("SyncFolderHierarchy")
	return c.Remote.SyncFolderHierarchy(ctx, req)
}

func (c counted) SyncFolderItems(ctx context.Context, req ews.SyncFolderItemsRequest) (*ews.SyncFolderItemsResult, error) {
	c.count("SyncFolderItems")
	return c.Remote.SyncFolderItems(ctx, req)
}

func (c counted) GetItem(ctx context.Context, req ews.GetItemRequest) ([]ews.ItemResult, error) {
	c.count("GetItem")
	return c.Remote.GetItem(ctx, req)
}

func (c counted) Subscribe(ctx context.Context, req *ews.SubscribeRequest) (*ews.Subscription, error) {
	c.count("Subscribe")
	return c.Remote.Subscribe(ctx, req)
}

func (c counted) GetEvents(ctx context.Context, id, wm string, opts *ews.GetEventsOptions) (*ews.Notification, error) {
	c.count("GetEvents")
	return c.Remote.GetEvents(ctx, id, wm, opts)
}

func (c counted) Unsubscribe(ctx context.Context, id string, opts *ews.UnsubscribeOptions) error {
	c.count("Unsubscribe")
	return c.Remote.Unsubscribe(ctx, id, opts)
}
