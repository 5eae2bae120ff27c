//go:build unix

package localstore

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"syscall"
	"time"
)

// errLockTimeout is lockFile's answer when another opener holds the lock.
var errLockTimeout = errors.New("lock timeout")

// lockFile takes the flock bbolt takes (exclusive, or shared for a reader)
// on f, trying once and then every 50 ms until timeout has passed. bbolt,
// handed the same open file, then takes the same lock again at once, so the
// file can be checked before bbolt reads it and while no writer can change
// it.
func lockFile(f *os.File, exclusive bool, timeout time.Duration) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return fmt.Errorf("lock: %w", err)
		case !time.Now().Before(deadline):
			return errLockTimeout
		}
		time.Sleep(min(50*time.Millisecond, time.Until(deadline)))
	}
}

// mapFile maps size bytes of f read-only; unmap releases the mapping.
func mapFile(f *os.File, size int64) (data []byte, unmap func(), err error) {
	if size == 0 {
		return nil, func() {}, nil
	}
	if int64(int(size)) != size {
		return nil, nil, fmt.Errorf("file of %d bytes too large to map", size)
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("map: %w", err)
	}
	return data, func() { _ = syscall.Munmap(data) }, nil
}

// writerMmapSize is bbolt's initial mapping for a writer: 1 GiB of address
// space on 64-bit systems (a mapping past the end of the file costs no
// memory here), so that a growing store seldom remaps.
func writerMmapSize(readOnly bool) int {
	if readOnly || bits.UintSize < 64 {
		return 0
	}
	return 1 << 30
}
