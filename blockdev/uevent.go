package blockdev

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Uevent is one kernel uevent as the kernel multicasts it on
// NETLINK_KOBJECT_UEVENT group 1: a header "ACTION@DEVPATH" and NUL-separated
// KEY=VALUE pairs (ACTION, DEVPATH, SUBSYSTEM, MAJOR, MINOR, DEVNAME,
// DEVTYPE, DISKSEQ, PARTN, SEQNUM, …).
type Uevent struct {
	Action    string // add, change, remove, bind, …
	DevPath   string // /devices/virtual/block/loop3
	Subsystem string // block
	DevName   string // loop3, sdb1 (relative to /dev)
	DevType   string // disk, partition
	// Major and Minor are valid when HasDevNum.
	Major, Minor uint32
	HasDevNum    bool
	PartN        int
	DiskSeq      uint64
	SeqNum       uint64
	// Env holds every key, values sanitized to printable text.
	Env map[string]string
}

// Limits of what [ParseUevent] accepts. The kernel builds a uevent in a
// 2 KiB environment buffer (UEVENT_BUFFER_SIZE) with at most 64 keys
// (UEVENT_NUM_ENVP), so anything larger is not from the kernel.
const (
	maxUeventLen  = 8 << 10
	maxUeventKeys = 64
)

// ErrBadUevent: a netlink message that is not a well-formed kernel uevent.
var ErrBadUevent = errors.New("malformed uevent")

// ParseUevent parses a kernel uevent message defensively: it never panics,
// bounds sizes, skips pairs without '=', sanitizes values and rejects
// messages from udev (they start with "libudev") or whose header disagrees
// with their ACTION and DEVPATH keys. Errors wrap [ErrBadUevent].
func ParseUevent(msg []byte) (Uevent, error) {
	var ev Uevent
	if len(msg) == 0 || len(msg) > maxUeventLen {
		return ev, fmt.Errorf("%w: length %d", ErrBadUevent, len(msg))
	}
	fields := bytes.Split(bytes.TrimRight(msg, "\x00"), []byte{0})
	head := string(fields[0])
	action, devpath, ok := strings.Cut(head, "@")
	if !ok || action == "" || !strings.HasPrefix(devpath, "/") || strings.ContainsRune(head, '=') {
		return ev, fmt.Errorf("%w: header %q", ErrBadUevent, Sanitize(head))
	}
	if len(fields)-1 > maxUeventKeys {
		return ev, fmt.Errorf("%w: %d keys", ErrBadUevent, len(fields)-1)
	}
	ev.Env = make(map[string]string, len(fields)-1)
	for _, f := range fields[1:] {
		k, v, ok := bytes.Cut(f, []byte{'='})
		if !ok || len(k) == 0 {
			continue
		}
		ev.Env[sanitizeN(string(k), 64)] = sanitizeN(string(v), 1024)
	}
	ev.Action = ev.Env["ACTION"]
	ev.DevPath = ev.Env["DEVPATH"]
	if ev.Action != sanitizeN(action, 1024) || ev.DevPath != sanitizeN(devpath, 1024) {
		return ev, fmt.Errorf("%w: header %q disagrees with ACTION=%q DEVPATH=%q", ErrBadUevent,
			Sanitize(head), ev.Action, ev.DevPath)
	}
	ev.Subsystem = ev.Env["SUBSYSTEM"]
	ev.DevName = ev.Env["DEVNAME"]
	ev.DevType = ev.Env["DEVTYPE"]
	ma, err1 := strconv.ParseUint(ev.Env["MAJOR"], 10, 32)
	mi, err2 := strconv.ParseUint(ev.Env["MINOR"], 10, 32)
	if err1 == nil && err2 == nil {
		ev.Major, ev.Minor, ev.HasDevNum = uint32(ma), uint32(mi), true
	}
	if n, err := strconv.Atoi(ev.Env["PARTN"]); err == nil && n >= 0 {
		ev.PartN = n
	}
	ev.DiskSeq, _ = strconv.ParseUint(ev.Env["DISKSEQ"], 10, 64)
	ev.SeqNum, _ = strconv.ParseUint(ev.Env["SEQNUM"], 10, 64)
	return ev, nil
}

// BlockName is the kernel name of a block device event ("sdb1"): the last
// element of DEVNAME, else of DEVPATH; "" when neither gives a plain name.
func (ev Uevent) BlockName() string {
	for _, p := range []string{ev.DevName, ev.DevPath} {
		if p == "" {
			continue
		}
		n := path.Base(p)
		if validName(n) {
			return n
		}
	}
	return ""
}

// DiskName is the whole disk of a block device event: the name itself for
// a disk, the parent directory in DEVPATH for a partition.
func (ev Uevent) DiskName() string {
	name := ev.BlockName()
	if ev.DevType != KindPartition {
		return name
	}
	if d := path.Base(path.Dir(ev.DevPath)); validName(d) && d != "block" {
		return d
	}
	return ""
}

// validName accepts a kernel block device name: printable, no '/', not
// "." or "..", at most 64 bytes.
func validName(n string) bool {
	if n == "" || n == "." || n == ".." || n == "/" || len(n) > 64 {
		return false
	}
	for _, c := range []byte(n) {
		if c <= ' ' || c >= 0x7f || c == '/' || c == '\\' {
			return false
		}
	}
	return true
}
