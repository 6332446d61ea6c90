package ewf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// PartialSuffix marks a segment file whose acquisition is not complete.
const PartialSuffix = ".partial"

// extension returns the extension of segment n (1-based), libewf's
// scheme: E01 … E99, then EAA … EZZ, FAA … ZZZ. ok is false past ZZZ.
func extension(n int) (ext string, ok bool) {
	if n < 1 || n > maxSegments {
		return "", false
	}
	if n <= 99 {
		return fmt.Sprintf("E%02d", n), true
	}
	n -= 100
	c3 := byte('A' + n%26)
	n /= 26
	c2 := byte('A' + n%26)
	n /= 26
	return string([]byte{byte('E' + n), c2, c3}), true
}

// extensionNumber is the inverse of extension (upper case only).
func extensionNumber(ext string) (int, bool) {
	if len(ext) != 3 || ext[0] < 'E' || ext[0] > 'Z' {
		return 0, false
	}
	if ext[0] == 'E' && ext[1] >= '0' && ext[1] <= '9' && ext[2] >= '0' && ext[2] <= '9' {
		n := int(ext[1]-'0')*10 + int(ext[2]-'0')
		return n, n >= 1
	}
	if ext[1] < 'A' || ext[1] > 'Z' || ext[2] < 'A' || ext[2] > 'Z' {
		return 0, false
	}
	return 100 + int(ext[0]-'E')*676 + int(ext[1]-'A')*26 + int(ext[2]-'A'), true
}

// SegmentName is the final name of segment n of the image called name.
// It panics past ZZZ, which Plan refuses.
func SegmentName(name string, n int) string {
	ext, ok := extension(n)
	if !ok {
		panic(fmt.Sprintf("ewf: segment %d has no name", n))
	}
	return name + "." + ext
}

func partialName(name string, n int) string { return SegmentName(name, n) + PartialSuffix }

// segmentNumber parses a file name this format writes for an image called
// name: NAME.E01 … NAME.ZZZ and their .partial forms.
func segmentNumber(name, file string) (n int, partial, ok bool) {
	rest, found := strings.CutPrefix(file, name+".")
	if !found || name == "" {
		return 0, false, false
	}
	rest, partial = strings.CutSuffix(rest, PartialSuffix)
	n, ok = extensionNumber(rest)
	return n, partial, ok
}

// Glob returns the segment files of the EWF set whose first file is first
// (NAME.E01, or NAME.e01 for the old lower-case scheme), in order, as
// libewf finds them: NAME.E01, NAME.E02, … until the first name that does
// not exist. Every file found must be a regular file (symbolic links are
// refused).
func Glob(root *os.Root, first string) ([]string, error) {
	var base string
	var lower bool
	switch {
	case strings.HasSuffix(first, ".E01"):
		base = strings.TrimSuffix(first, ".E01")
	case strings.HasSuffix(first, ".e01"):
		base, lower = strings.TrimSuffix(first, ".e01"), true
	default:
		return nil, fmt.Errorf("ewf: %s: the first segment of an EWF set is named NAME.E01", first)
	}
	var files []string
	for n := 1; ; n++ {
		ext, ok := extension(n)
		if !ok {
			break
		}
		if lower {
			ext = strings.ToLower(ext)
		}
		name := base + "." + ext
		fi, err := root.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ewf: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("ewf: %s is not a regular file (%v)", name, fi.Mode().Type())
		}
		files = append(files, name)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("ewf: %s: %w", first, fs.ErrNotExist)
	}
	return files, nil
}
