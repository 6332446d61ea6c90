package blockdev

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDirectIsReallyDirect: Open with Direct must leave O_DIRECT on the
// descriptor. An earlier version cleared it with fcntl(F_SETFL, 0) while
// dropping O_NONBLOCK, and bad-sector narrowing silently went through the
// page cache. The kernel is the judge: an unaligned O_DIRECT read fails with
// EINVAL, a buffered one succeeds.
func TestDirectIsReallyDirect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(path, OpenOptions{Direct: true})
	if errors.Is(err, syscall.EINVAL) {
		t.Skipf("the filesystem of %s has no O_DIRECT", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.ReadAt(make([]byte, 1), 1); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("unaligned read of a Direct device: %v, want EINVAL (O_DIRECT lost)", err)
	}
	b, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.ReadAt(make([]byte, 1), 1); err != nil {
		t.Fatalf("unaligned buffered read: %v", err)
	}
}
