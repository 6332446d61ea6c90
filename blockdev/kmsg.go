package blockdev

import (
	"strconv"
	"strings"
	"time"
)

// KmsgRecord is one record of the kernel log as /dev/kmsg gives it:
// "PRIORITY,SEQ,TIMESTAMP_US,FLAGS[,…];MESSAGE" followed by optional
// continuation lines (" KEY=VALUE") that are ignored here.
type KmsgRecord struct {
	Priority int
	Seq      uint64
	// SinceBoot is the monotonic time of the message since boot.
	SinceBoot time.Duration
	Message   string
}

// ParseKmsgRecord parses one /dev/kmsg record. ok is false for anything
// that is not one.
func ParseKmsgRecord(rec string) (r KmsgRecord, ok bool) {
	head, msg, found := strings.Cut(rec, ";")
	if !found {
		return r, false
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	f := strings.Split(head, ",")
	if len(f) < 3 {
		return r, false
	}
	pri, err1 := strconv.Atoi(f[0])
	seq, err2 := strconv.ParseUint(f[1], 10, 64)
	us, err3 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || pri < 0 || us < 0 {
		return r, false
	}
	return KmsgRecord{Priority: pri, Seq: seq, SinceBoot: time.Duration(us) * time.Microsecond,
		Message: sanitizeN(unescapeKmsg(msg), 1024)}, true
}

// readOnlyWritePrefix starts the kernel's warning when a write bio reaches a
// read-only block device (block/blk-core.c bio_check_ro). The kernel prints
// it once per device until the next boot, so it is a second signal next to
// the counters, never the only one.
const readOnlyWritePrefix = "Trying to write to read-only block-device "

// ReadOnlyWriteDevice reports the device name in a kernel message
// "Trying to write to read-only block-device NAME" (optionally followed by
// " (partno N)" on older kernels).
func ReadOnlyWriteDevice(msg string) (name string, ok bool) {
	i := strings.Index(msg, readOnlyWritePrefix)
	if i < 0 {
		return "", false
	}
	rest := msg[i+len(readOnlyWritePrefix):]
	if j := strings.IndexAny(rest, " \t("); j >= 0 {
		rest = rest[:j]
	}
	if !validName(rest) {
		return "", false
	}
	return rest, true
}

// unescapeKmsg decodes the \xNN escapes /dev/kmsg uses for non-printable
// bytes; the result is sanitized by the caller.
func unescapeKmsg(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
