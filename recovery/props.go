package recovery

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/mailsync/mailsync/ews"
)

// Defaults of ReadOptions.
const (
	// DefaultBatchSize is how many folders one GetFolder call reads.
	// Exchange documents no cap on GetFolder ids; a few hundred keep each
	// response well under the client's response limit.
	DefaultBatchSize = 250
	// DefaultConcurrency is how many GetFolder calls run at once.
	DefaultConcurrency = 4
)

// FolderGetter is what ReadProps needs of an EWS client.
type FolderGetter interface {
	GetFolder(ctx context.Context, req ews.GetFolderRequest) ([]ews.FolderResult, error)
}

var _ FolderGetter = (*ews.Client)(nil)

// ReadOptions tune ReadProps.
type ReadOptions struct {
	// BatchSize is the number of folder ids per GetFolder call. Zero means
	// DefaultBatchSize.
	BatchSize int
	// Concurrency bounds the GetFolder calls in flight. Zero means
	// DefaultConcurrency.
	Concurrency int
	// Shape is the folder shape to read; the zero value means
	// ews.FolderSyncShape() (ids, counters and the two props).
	Shape ews.FolderShape
}

// Fresh is the outcome of ReadProps.
type Fresh struct {
	// Folders holds each folder the server returned, by id.
	Folders map[string]ews.Folder
	// Missing lists the ids the server answered ErrorFolderNotFound
	// (deleted, or moved out of reach).
	Missing []string
	// Requests is the number of GetFolder calls made.
	Requests int
}

// Props returns the comparable props of every returned folder.
func (f *Fresh) Props() map[string]Props {
	m := make(map[string]Props, len(f.Folders))
	for id, fo := range f.Folders {
		m[id] = PropsOf(fo)
	}
	return m
}

// PropsOf extracts the comparable props of a folder as ews returns it.
func PropsOf(f ews.Folder) Props {
	return Props{
		LocalCommitTimeMax: f.LocalCommitTimeMax,
		DeletedCountTotal:  f.DeletedCountTotal,
		TotalCount:         int64(f.TotalCount),
		UnreadCount:        int64(f.UnreadCount),
	}
}

// ReadProps reads the props of the folders ids with batched GetFolder
// calls, opts.Concurrency at a time. A folder the server reports as not
// found goes to Missing; any other per-folder error, or a failed call,
// fails the whole read (nothing is half-read: the caller retries from the
// top).
func ReadProps(ctx context.Context, g FolderGetter, ids []string, opts *ReadOptions) (*Fresh, error) {
	if len(ids) == 0 {
		return nil, ErrNoFolders
	}
	var o ReadOptions
	if opts != nil {
		o = *opts
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Shape.Base == "" && len(o.Shape.Fields) == 0 && len(o.Shape.Extended) == 0 {
		o.Shape = ews.FolderSyncShape()
	}
	out := &Fresh{Folders: make(map[string]ews.Folder, len(ids))}
	var mu sync.Mutex
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(o.Concurrency)
	for start := 0; start < len(ids); start += o.BatchSize {
		chunk := ids[start:min(start+o.BatchSize, len(ids))]
		out.Requests++
		eg.Go(func() error {
			refs := make([]ews.FolderRef, len(chunk))
			for i, id := range chunk {
				refs[i] = ews.FolderRef{ID: id}
			}
			res, err := g.GetFolder(ctx, ews.GetFolderRequest{Folders: refs, Shape: o.Shape})
			if err != nil {
				return fmt.Errorf("recovery: read folder props: %w", err)
			}
			if len(res) != len(chunk) {
				return fmt.Errorf("recovery: read folder props: %w: %d results for %d folders", ews.ErrMalformedResponse, len(res), len(chunk))
			}
			mu.Lock()
			defer mu.Unlock()
			for i, r := range res {
				switch {
				case r.Err == nil:
					out.Folders[chunk[i]] = r.Folder
				case errors.Is(r.Err, ews.ErrFolderNotFound), errors.Is(r.Err, ews.ErrItemNotFound):
					out.Missing = append(out.Missing, chunk[i])
				default:
					return fmt.Errorf("recovery: read props of folder %.16s…: %w", chunk[i], r.Err)
				}
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}
