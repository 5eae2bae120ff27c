package localstore

import (
	"os"
	"path/filepath"
	"testing"
)

// A new store file is created 0600 (snapshots: TestOpenReader_WhileWriting;
// existing files: TestOpen_TightensMode).
func TestOpen_CreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mirror.db")
	s, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new store: %v %v, want 0600", fi.Mode().Perm(), err)
	}
}
