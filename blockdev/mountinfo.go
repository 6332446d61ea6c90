package blockdev

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	Major, Minor uint32
	Root         string // the mounted directory within the filesystem
	MountPoint   string
	FSType       string
	Source       string
	// ReadWrite is true when the filesystem itself (the super options
	// after "-") is read-write: it may write to its device at any time
	// (journal, atime, metadata), whatever the per-mount "ro" of one bind
	// mount says.
	ReadWrite bool
}

// maxMountInfo bounds how much of mountinfo is read (a host with thousands
// of mounts has a few hundred KiB).
const maxMountInfo = 16 << 20

// ParseMountInfo parses the proc(5) mountinfo format: field 3 is
// major:minor, field 5 the mount point; after the "-" separator come the
// filesystem type and the source. Malformed lines are skipped. Octal
// escapes (\040 for a space) are decoded when they give a printable
// character and left as they are otherwise (a newline stays \012), so a
// mount point is always one printable line.
func ParseMountInfo(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(io.LimitReader(r, maxMountInfo))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if m, ok := parseMountLine(sc.Text()); ok {
			mounts = append(mounts, m)
		}
	}
	if err := sc.Err(); err != nil {
		return mounts, fmt.Errorf("parse mountinfo: %w", err)
	}
	return mounts, nil
}

func parseMountLine(line string) (Mount, bool) {
	f := strings.Fields(line)
	if len(f) < 7 {
		return Mount{}, false
	}
	maj, mnr, ok := strings.Cut(f[2], ":")
	if !ok {
		return Mount{}, false
	}
	ma, err1 := strconv.ParseUint(maj, 10, 32)
	mi, err2 := strconv.ParseUint(mnr, 10, 32)
	if err1 != nil || err2 != nil {
		return Mount{}, false
	}
	m := Mount{Major: uint32(ma), Minor: uint32(mi), Root: unescapeOctal(f[3]), MountPoint: unescapeOctal(f[4])}
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			if i+1 < len(f) {
				m.FSType = unescapeOctal(f[i+1])
			}
			if i+2 < len(f) {
				m.Source = unescapeOctal(f[i+2])
			}
			if i+3 < len(f) {
				for _, o := range strings.Split(f[i+3], ",") {
					m.ReadWrite = m.ReadWrite || o == "rw"
				}
			}
			break
		}
	}
	return m, true
}

// unescapeOctal decodes the kernel's \NNN escapes that stand for printable
// characters (space, and a backslash); others stay escaped, and any other
// non-printable byte is escaped the same way.
func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && isOctal(s, i+1) {
			v, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			if v >= 0x20 && v < 0x7f {
				b.WriteByte(byte(v))
			} else {
				b.WriteString(s[i : i+4])
			}
			i += 3
			continue
		}
		if c < 0x20 || c == 0x7f {
			fmt.Fprintf(&b, `\%03o`, c)
			continue
		}
		b.WriteByte(c)
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

func isOctal(s string, i int) bool {
	if i+3 > len(s) {
		return false
	}
	for _, c := range []byte(s[i : i+3]) {
		if c < '0' || c > '7' {
			return false
		}
	}
	return s[i] <= '3' // at most \377
}
