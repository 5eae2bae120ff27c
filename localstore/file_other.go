//go:build !unix

package localstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// errLockTimeout is lockFile's answer when another opener holds the lock.
var errLockTimeout = errors.New("lock timeout")

// lockFile does nothing here: bbolt takes the lock itself after the check.
func lockFile(*os.File, bool, time.Duration) error { return nil }

// mapFile reads the whole file (no mapping on this platform).
func mapFile(f *os.File, size int64) ([]byte, func(), error) {
	if int64(int(size)) != size {
		return nil, nil, fmt.Errorf("file of %d bytes too large to read", size)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	return data, func() {}, nil
}

// writerMmapSize is bbolt's initial mapping: the default here, as bbolt
// grows the file to the size of its mapping on Windows.
func writerMmapSize(bool) int { return 0 }
