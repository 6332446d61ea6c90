//go:build unix

package report

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadSignerKeyPermissions: a private key its group or others may read
// or change is refused, as ssh-keygen refuses it; 0600 and 0400 are used.
func TestLoadSignerKeyPermissions(t *testing.T) {
	dir := t.TempDir()
	kp, err := GenerateKey(filepath.Join(dir, "examiner"), "j.doe@lab.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	key := kp.PrivatePath
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true}, {0o700, true},
		{0o644, false}, {0o640, false}, {0o604, false}, {0o620, false}, {0o602, false}, {0o660, false}, {0o666, false},
		{0o610, false}, {0o601, false},
	} {
		if err := os.Chmod(key, tc.mode); err != nil {
			t.Fatal(err)
		}
		s, err := LoadSigner(key, nil)
		switch {
		case tc.ok && err != nil:
			t.Errorf("mode %04o: %v", tc.mode, err)
		case tc.ok && s.Info().Fingerprint != kp.Info.Fingerprint:
			t.Errorf("mode %04o: signer %+v", tc.mode, s.Info())
		case !tc.ok && !errors.Is(err, ErrKeyPermissions):
			t.Errorf("mode %04o: LoadSigner = %v, want an error wrapping ErrKeyPermissions", tc.mode, err)
		case !tc.ok && (!strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), fmt.Sprintf("permissions %04o", uint32(tc.mode)))):
			t.Errorf("mode %04o: error %q does not name the file and its mode as chmod takes it", tc.mode, err)
		}
	}
	// ssh-keygen refuses the same file (as the owner running it).
	os.Chmod(key, 0o644)
	if p, err := exec.LookPath("ssh-keygen"); err == nil {
		out, err := exec.Command(p, "-y", "-f", key).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "UNPROTECTED PRIVATE KEY FILE") {
			t.Errorf("ssh-keygen -y on a 0644 key: %v: %s", err, out)
		}
	}
	os.Chmod(key, 0o600)

	// Symbolic links are followed; the file reached is checked.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(key, link); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(link, nil); err != nil {
		t.Errorf("symlink to a 0600 key: %v", err)
	}
	os.Chmod(key, 0o640)
	if _, err := LoadSigner(link, nil); !errors.Is(err, ErrKeyPermissions) {
		t.Errorf("symlink to a 0640 key: %v", err)
	}
	os.Chmod(key, 0o600)

	// Not regular files: refused at once, a FIFO without waiting for a
	// writer.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := LoadSigner(fifo, nil); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrKeyPermissions) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LoadSigner blocks on a FIFO")
	}
	sub := filepath.Join(dir, "dir")
	os.Mkdir(sub, 0o700)
	if _, err := LoadSigner(sub, nil); !errors.Is(err, ErrKeyPermissions) {
		t.Errorf("directory: %v", err)
	}
	// A public key given by mistake (0644, as ssh-keygen writes it) is
	// named as such, not as a permissions problem.
	if _, err := LoadSigner(kp.PublicPath, nil); err == nil || !strings.Contains(err.Error(), "public key") || errors.Is(err, ErrKeyPermissions) {
		t.Errorf("public key file: %v", err)
	}
}
