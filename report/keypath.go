package report

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CheckIdentity refuses an identity that cannot be an allowed_signers
// principal (the error wraps [ErrIdentity]).
func CheckIdentity(identity string) error {
	if identity == "" || strings.ContainsAny(identity, " \t\r\n\",") {
		return fmt.Errorf("%w %q: it must be one word without spaces, quotes or commas (e.g. name@example.org)", ErrIdentity, identity)
	}
	return nil
}

// PrepareKeyPath gets path ready for [GenerateKey] before anything is asked
// of the user (a passphrase typed twice for a key that then cannot be
// written is time lost): neither path nor path.pub may exist (the error
// wraps fs.ErrExist), and a missing folder is created with mode 0700 (a
// key's folder is nobody else's business). created is the topmost folder it
// made, "" when the folder existed.
func PrepareKeyPath(path string) (created string, err error) {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return "", fmt.Errorf("%s is not a folder", dir)
	case err == nil:
		for _, p := range []string{path, path + ".pub"} {
			if _, err := os.Lstat(p); err == nil {
				return "", fmt.Errorf("%s already exists: %w", p, fs.ErrExist)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return "", err
			}
		}
		return "", nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	top := dir
	for p := filepath.Dir(top); p != top; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			break
		}
		top = p
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create the key's folder: %w", err)
	}
	return top, nil
}
