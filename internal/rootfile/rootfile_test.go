package rootfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// folder makes a folder with its root handle, closed at the end.
func folder(t *testing.T) (string, *os.Root) {
	t.Helper()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return dir, root
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesWhatIsNotAFileOfItsOwn(t *testing.T) {
	dir, root := folder(t)
	outside := filepath.Join(t.TempDir(), "evidence")
	write(t, outside, "do not touch")
	write(t, filepath.Join(dir, "inside"), "a file of the folder")
	for _, link := range []struct{ name, target string }{{"out", outside}, {"in", "inside"}, {"dangling", "nowhere"}} {
		if err := os.Symlink(link.target, filepath.Join(dir, link.name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(outside, filepath.Join(dir, "hard")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"out":      "symbolic link",
		"in":       "symbolic link",
		"dangling": "symbolic link",
		"hard":     "2 links",
		"fifo":     "not a regular file",
		"sub":      "not a regular file",
	} {
		done := make(chan error, 1)
		go func() {
			f, err := Open(root, name, os.O_RDONLY)
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			var nr *NotRegularError
			if !errors.As(err, &nr) || !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), want) || nr.Name != name {
				t.Errorf("Open(%s) = %v, want a NotRegularError saying %q", name, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Open(%s) blocked", name)
		}
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "do not touch" {
		t.Errorf("the file outside changed: %q, %v", b, err)
	}
	f, err := Open(root, "inside", os.O_RDONLY)
	if err != nil {
		t.Fatalf("a regular file of the folder: %v", err)
	}
	f.Close()
	if _, err := Open(root, "missing", os.O_RDONLY); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestReadAllBound(t *testing.T) {
	dir, root := folder(t)
	write(t, filepath.Join(dir, "small"), "12345")
	if b, err := ReadAll(root, "small", 5); err != nil || string(b) != "12345" {
		t.Errorf("ReadAll at the limit = %q, %v", b, err)
	}
	if _, err := ReadAll(root, "small", 4); err == nil || !strings.Contains(err.Error(), "more than the 4") {
		t.Errorf("ReadAll over the limit = %v", err)
	}
	if err := os.Symlink("small", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAll(root, "link", 100); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadAll of a link = %v", err)
	}
}

func TestKept(t *testing.T) {
	dir, root := folder(t)
	write(t, filepath.Join(dir, "a.001.partial"), "abc")
	write(t, filepath.Join(dir, "b.001"), "abcd")
	if final, err := Kept(root, "a.001.partial", "a.001", 3); err != nil || final {
		t.Errorf("partial kept = %v, %v", final, err)
	}
	if final, err := Kept(root, "b.001.partial", "b.001", 4); err != nil || !final {
		t.Errorf("final kept = %v, %v", final, err)
	}
	if _, err := Kept(root, "a.001.partial", "a.001", 4); err == nil || !strings.Contains(err.Error(), "recorded 4") {
		t.Errorf("wrong size = %v", err)
	}
	if _, err := Kept(root, "c.001.partial", "c.001", 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing = %v", err)
	}
	if err := os.Symlink(filepath.Join(dir, "b.001"), filepath.Join(dir, "d.001.partial")); err != nil {
		t.Fatal(err)
	}
	if _, err := Kept(root, "d.001.partial", "d.001", 4); !errors.Is(err, ErrNotRegular) {
		t.Errorf("a link kept = %v", err)
	}
}

func TestFinalize(t *testing.T) {
	dir, root := folder(t)
	write(t, filepath.Join(dir, "x.partial"), "data")
	if err := Finalize(root, "x.partial", "x", 3); err == nil || !strings.Contains(err.Error(), "4 bytes, 3 were written") {
		t.Errorf("size mismatch = %v", err)
	}
	write(t, filepath.Join(dir, "taken"), "someone else's")
	if err := Finalize(root, "x.partial", "taken", 4); err == nil || !strings.Contains(err.Error(), "not overwritten") {
		t.Errorf("final exists = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "taken")); string(b) != "someone else's" {
		t.Errorf("an existing file was overwritten: %q", b)
	}
	if err := Finalize(root, "x.partial", "x", 4); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o440 {
		t.Errorf("final mode %v, want 0440", fi.Mode().Perm())
	}
	if _, err := os.Lstat(filepath.Join(dir, "x.partial")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("partial still there: %v", err)
	}
}
