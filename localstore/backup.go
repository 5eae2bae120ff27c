package localstore

import (
	"context"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent snapshot of the whole file to w while writes go
// on (bbolt's Tx.WriteTo in a read transaction) and returns the bytes written.
// The snapshot is a complete store file: Open it like any other. Cancelling
// ctx stops the copy with ctx.Err().
//
// The read transaction stays open for the whole copy; pages freed meanwhile
// are reused only after it ends, so the file may grow during a long backup.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := s.readTx(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx: ctx, w: w})
		return err
	})
	return n, err
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

// Write fails once ctx has ended.
func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
