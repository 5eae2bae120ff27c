package syncengine

import (
	"context"
	"iter"

	"github.com/mailsync/mailsync/ews"
)

type pageResult struct {
	page *ews.SyncFolderItemsResult
	err  error
}

// itemPages yields SyncFolderItems pages from req.SyncState to
// IncludesLastItemInRange, like ews.Client.SyncFolderItemsPages, but
// pipelined: while the caller applies page k, page k+1 (whose request needs
// only page k's SyncState) is already being fetched and decoded. If the
// caller stops early, the prefetch is cancelled and waited for; its page is
// discarded, which is harmless because nothing was committed for it.
func itemPages(ctx context.Context, r Remote, req ews.SyncFolderItemsRequest) iter.Seq2[*ews.SyncFolderItemsResult, error] {
	return func(yield func(*ews.SyncFolderItemsResult, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		fetch := func(req ews.SyncFolderItemsRequest) <-chan pageResult {
			ch := make(chan pageResult, 1)
			go func() {
				p, err := r.SyncFolderItems(ctx, req)
				ch <- pageResult{p, err}
			}()
			return ch
		}
		next := fetch(req)
		for {
			res := <-next
			if res.err != nil {
				yield(nil, res.err)
				return
			}
			last := res.page.IncludesLastItemInRange
			if !last {
				req.SyncState = res.page.SyncState
				next = fetch(req)
			}
			if !yield(res.page, nil) || last {
				if !last {
					cancel()
					<-next
				}
				return
			}
		}
	}
}
