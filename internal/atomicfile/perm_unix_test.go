//go:build unix

package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWriteFileExactPerm: under a umask of 077 a file written with
// ExactPerm has exactly the bits asked for, also when it replaces a file
// with other bits; without it the umask applies.
func TestWriteFileExactPerm(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	mode := func(p string) fs.FileMode {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	rule := filepath.Join(dir, "61-rule.rules")
	if err := os.WriteFile(rule, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(rule, []byte("new"), 0o644, ExactPerm()); err != nil {
		t.Fatal(err)
	}
	if m := mode(rule); m != 0o644 {
		t.Errorf("ExactPerm 0644 under umask 077: %v", m)
	}
	state := filepath.Join(dir, "state.json")
	if err := WriteFile(state, []byte("{}"), 0o640, ExactPerm()); err != nil {
		t.Fatal(err)
	}
	if m := mode(state); m != 0o640 {
		t.Errorf("ExactPerm 0640 under umask 077: %v", m)
	}
	plain := filepath.Join(dir, "plain")
	if err := WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if m := mode(plain); m != 0o600 {
		t.Errorf("without ExactPerm the umask must apply: %v, want 0600", m)
	}
	if es, _ := os.ReadDir(dir); len(es) != 3 {
		t.Errorf("left over files: %v", es)
	}
}
