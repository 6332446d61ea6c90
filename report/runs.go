package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Run is one run of custodian on an acquisition: the first, and each
// --resume after it.
type Run struct {
	CommandLine    []string `json:"command_line"`
	StartedAt      string   `json:"started_at"`
	StartedAtLocal string   `json:"started_at_local,omitempty"`
	// FinishedAt is empty for a run that ended without a record (a crash
	// or a power loss: Outcome RunCrashed).
	FinishedAt      string `json:"finished_at"`
	FinishedAtLocal string `json:"finished_at_local,omitempty"`
	// Outcome says how the run ended (one of the Run* constants).
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	// StartOffset is the byte the run began imaging at (the checkpoint
	// the run before left, or 0); EndOffset the byte it left imaged and
	// checkpointed (what the next run continued from), or the source size.
	StartOffset int64 `json:"start_offset"`
	EndOffset   int64 `json:"end_offset"`
	// The run's events are the report's Events[FirstEvent:FirstEvent+EventCount].
	FirstEvent int `json:"first_event"`
	EventCount int `json:"event_count"`
}

// How a run ended.
const (
	RunComplete    = "complete"    // every byte imaged, the image files completed
	RunInterrupted = "interrupted" // SIGINT or SIGTERM
	RunNoSpace     = "no_space"    // the destination was full
	RunSourceDead  = "source_dead" // the source stopped answering
	RunFailed      = "failed"      // any other error
	RunCrashed     = "crashed"     // ended without a record (crash or power loss), found by the next run
	RunUnrecorded  = "unrecorded"  // an older custodian's journal kept no record of its runs
)

// RunOutcomeText is how the text report and the screen describe an outcome.
func RunOutcomeText(outcome string) string {
	switch outcome {
	case RunNoSpace:
		return "stopped: the destination was full"
	case RunSourceDead:
		return "stopped: the source stopped answering"
	case RunCrashed:
		return "ended without a record (crash or power loss)"
	case RunUnrecorded:
		return "not recorded (journal of an older custodian)"
	case "":
		return "(none)"
	}
	return outcome
}

// SetFinished sets the finishing time of the report (UTC and local), its
// duration (the sum of its runs' when it has runs, else finished −
// started) and its average speed over BytesAcquired.
func (r *Report) SetFinished(t time.Time) {
	r.FinishedAt, r.FinishedAtLocal = Timestamp(t), LocalTimestamp(t)
	var d time.Duration
	if len(r.Runs) > 0 {
		for _, run := range r.Runs {
			d += runDuration(run)
		}
	} else {
		d = span(r.StartedAt, r.FinishedAt)
	}
	r.DurationSeconds = int64(d / time.Second)
	r.AverageBytesPerSecond = 0
	if r.DurationSeconds > 0 {
		r.AverageBytesPerSecond = r.BytesAcquired / r.DurationSeconds
	}
}

func runDuration(run Run) time.Duration { return span(run.StartedAt, run.FinishedAt) }

// span is b − a for two report timestamps, 0 when either does not parse or
// b is before a.
func span(a, b string) time.Duration {
	ta, err1 := time.Parse(TimeFormat, a)
	tb, err2 := time.Parse(TimeFormat, b)
	if err1 != nil || err2 != nil || tb.Before(ta) {
		return 0
	}
	return tb.Sub(ta)
}

var exeSum = sync.OnceValues(func() (string, error) {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		path, perr := os.Executable()
		if perr != nil {
			return "", err
		}
		if f, err = os.Open(path); err != nil {
			return "", err
		}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
})

// ExecutableSHA256 is the SHA-256 of the running binary (/proc/self/exe:
// the file that was executed, even if its path was since replaced; else
// the file at os.Executable's path), read once per process. `custodian
// version` prints it and every report records it.
func ExecutableSHA256() (string, error) { return exeSum() }

// PartitionTable is a source's partition table as read from its first
// sectors.
type PartitionTable struct {
	// Type is "gpt", "mbr", "none" (no table: a filesystem or nothing
	// known at sector 0) or "unreadable" (Error says why).
	Type       string      `json:"type"`
	DiskGUID   string      `json:"disk_guid,omitempty"`
	Partitions []Partition `json:"partitions"`
	Error      string      `json:"error,omitempty"`
}

// Partition is one entry of a partition table; Offset and Length are in
// bytes of the source.
type Partition struct {
	Number int    `json:"number"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	Type   string `json:"type"` // GPT type GUID, or the MBR type byte as "0x83"
	// TypeName names well-known types ("Linux filesystem", "EFI System").
	TypeName string `json:"type_name,omitempty"`
	Name     string `json:"name,omitempty"` // the GPT partition name
	GUID     string `json:"guid,omitempty"` // the GPT unique partition GUID
	Bootable bool   `json:"bootable,omitempty"`
}

// SectorRun describes a run of unreadable sectors, as the screen and the
// text report show it: "sectors 2048–2055 (8 sectors, bytes
// 1048576–1052671)", or "sector 2048 (1 sector, bytes 1048576–1049087)".
func SectorRun(u Range, sectorSize int) string {
	ss := int64(max(sectorSize, 1))
	return FormatSectorRun(u.Offset/ss, (u.Length+ss-1)/ss, u.Offset, u.Length)
}

// FormatSectorRun is [SectorRun] of n sectors from sector first, holding
// length bytes from byte off (an event's Sector, Sectors, Offset, Length).
func FormatSectorRun(first, n, off, length int64) string {
	bytes := fmt.Sprintf("bytes %d–%d", off, off+length-1)
	if n == 1 {
		return fmt.Sprintf("sector %d (1 sector, %s)", first, bytes)
	}
	return fmt.Sprintf("sectors %d–%d (%d sectors, %s)", first, first+n-1, n, bytes)
}
