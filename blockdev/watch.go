package blockdev

import (
	"path"
	"time"
)

// Kinds of [WatchEvent.Kind].
const (
	// WatchReady: the uevent socket listens (and the initial sweep, if
	// asked, is done); devices attached from now on are caught.
	WatchReady = "ready"
	// WatchProtected: the watcher set the flag and confirmed it.
	WatchProtected = "protected"
	// WatchAlreadyReadOnly: the device was read-only already (confirmed).
	WatchAlreadyReadOnly = "already-read-only"
	// WatchReprotected: a protected disk sent a change event and its flag
	// had to be set again.
	WatchReprotected = "reprotected"
	// WatchExcluded: the device matched an exclusion and was left alone.
	WatchExcluded = "excluded"
	// WatchFailed: the flag could not be set or confirmed.
	WatchFailed = "failed"
	// WatchViolation: something was written to a protected device (its
	// sectors-written counter rose, or the kernel logged a write attempt).
	WatchViolation = "violation"
	// WatchFlagCleared: a protected device became writable (someone cleared
	// the flag); the watcher stops tracking it.
	WatchFlagCleared = "flag-cleared"
	// WatchRemoved: a protected device went away.
	WatchRemoved = "removed"
	// WatchOverflow: the kernel dropped uevents (socket buffer full); the
	// watcher swept all devices to catch up.
	WatchOverflow = "overflow"
	// WatchWarning: something did not work but the watcher goes on (bad
	// message, no kernel log, state file not written).
	WatchWarning = "warning"
)

// WatchEvent is one thing the watcher did or saw. It is also the JSON line
// `custodian writeblock watch --json` prints.
type WatchEvent struct {
	Time time.Time `json:"time"`
	Kind string    `json:"event"`
	// Device is the node ("/dev/sdb1"), Name the kernel name, Disk its disk.
	Device string `json:"device,omitempty"`
	Name   string `json:"name,omitempty"`
	Disk   string `json:"disk,omitempty"`
	// Trigger is what caused it: the uevent action ("add", "change"),
	// "existing" (initial sweep), "overflow", "counters" or "kmsg".
	Trigger string `json:"trigger,omitempty"`
	SeqNum  uint64 `json:"seqnum,omitempty"`
	Model   string `json:"model,omitempty"`
	Serial  string `json:"serial,omitempty"`
	Size    int64  `json:"size,omitempty"`
	// Latency is from receiving the uevent to the flag being set and
	// confirmed (0 for events not caused by a uevent).
	Latency       time.Duration `json:"-"`
	LatencyMicros int64         `json:"latency_us,omitempty"`
	// SectorsWritten, for violations, is the rise of the counter since
	// protection began (512-byte units).
	SectorsWritten int64  `json:"sectors_written,omitempty"`
	Message        string `json:"message,omitempty"`
	Err            error  `json:"-"`
	Error          string `json:"error,omitempty"`
}

// WatchDevice is what a [WatchOptions.Match] filter sees.
type WatchDevice struct {
	Name string // kernel name, "sdb1"
	Disk string // its disk, "sdb"
	Kind string // KindDisk or KindPartition
}

// WatchOptions configures [Watch]. The zero value watches every new block
// device on the running machine, logs nothing and records nothing.
type WatchOptions struct {
	// System is the machine; nil means [DefaultSystem].
	System *System
	// IncludeExisting also protects the devices present at start.
	IncludeExisting bool
	// Exclude leaves devices alone: each entry is a shell pattern
	// (path.Match) matched against the device name and its disk's name, or a
	// serial or WWID compared with its disk's (e.g. "vda*", "S3Z9NB0K123").
	Exclude []string
	// Match, when set, restricts the watcher to devices it accepts (tests
	// use it to touch only their own devices). Devices it rejects are
	// ignored silently.
	Match func(WatchDevice) bool
	// PollInterval is how often the write counters of protected devices are
	// compared; 0 means 200ms.
	PollInterval time.Duration
	// KernelLog also reads /dev/kmsg for the kernel's "Trying to write to
	// read-only block-device" warning.
	KernelLog bool
	// State records the counters of each device it protects; nil records
	// nothing.
	State *StateStore
	// OnEvent receives every event, from the watcher's one goroutine, in
	// order. It should return quickly: uevents queue in the socket while it
	// runs. nil discards events.
	OnEvent func(WatchEvent)
}

// excluded reports whether name (of disk) matches an exclusion pattern.
func excludedName(patterns []string, name, disk string) bool {
	for _, p := range patterns {
		for _, n := range []string{name, disk} {
			if n == "" {
				continue
			}
			if ok, err := path.Match(p, n); err == nil && ok {
				return true
			}
		}
	}
	return false
}

func excludedID(patterns []string, serial, wwid string) bool {
	for _, p := range patterns {
		if p != "" && (p == serial || p == wwid) {
			return true
		}
	}
	return false
}

// NoBaselineWarning is the message of the warning Watch emits when a disk
// gets a new medium that it never saw empty before: writes that reached the
// medium before the read-only flag cannot be told from the earlier
// medium's, so they are not counted as violations.
const NoBaselineWarning = "new medium in a disk not seen empty before it: writes that reached it before the read-only flag cannot be counted"
