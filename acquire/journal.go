package acquire

import (
	"encoding/json"
	"os"
	"strings"

	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/report"
)

// journalVersion changes when the journal's meaning changes; a journal of
// another version is refused rather than misread.
const journalVersion = 1

// journal is NAME.journal: the state of an incomplete acquisition at its
// last checkpoint. Everything before Checkpoint.Offset is imaged, synced
// and hashed; a resume restores the hash states and the writer and reads
// on from there. It is replaced atomically at each checkpoint and removed
// when the report says complete.
type journal struct {
	Version  int            `json:"version"`
	Source   journalSource  `json:"source"`
	Settings journalOptions `json:"settings"`
	Started  string         `json:"started_at"`
	Check    *checkpointRec `json:"checkpoint,omitempty"`
	// FinalHashes are the whole-stream hashes, recorded once every byte is
	// imaged and before any file gets its final name.
	FinalHashes report.Hashes `json:"final_hashes,omitempty"`
	// Case is the chain-of-custody fields of the first run: a resume keeps
	// them (and refuses other ones). Absent in journals of custodian
	// before the run history; such a resume takes its own case fields.
	Case *report.Case `json:"case,omitempty"`
	// Runs is every run so far, the one writing the journal last (its
	// Outcome and FinishedAt empty while it runs: a run found so by the
	// next one ended without a record). Absent in older journals, whose
	// history is the checkpoint's events.
	Runs []journalRun `json:"runs,omitempty"`
}

// journalRun is one run and every event it recorded (as of its last
// journal write).
type journalRun struct {
	report.Run
	Events []report.Event `json:"events"`
}

type journalSource struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Model  string `json:"model"`
	Serial string `json:"serial"`
	Sector int    `json:"logical_sector_size"`
	// Continuity evidence for a resume (block devices): the boot, the
	// medium's diskseq, and the disk's sectors-written counter at the last
	// checkpoint. Same boot and medium with a higher counter on resume
	// means the source was written in between.
	Continuity *continuity `json:"continuity,omitempty"`
}

// continuity identifies the state of a block device at a checkpoint.
type continuity struct {
	BootID         string `json:"boot_id"`
	Disk           string `json:"disk"`
	DiskSeq        uint64 `json:"diskseq"`
	SectorsWritten int64  `json:"sectors_written"`
}

type journalOptions struct {
	Format        string   `json:"format"`
	SegmentSize   int64    `json:"segment_size"`
	Hashes        []string `json:"hashes"`
	SegmentHashes []string `json:"segment_hashes"`
	HashWindow    int64    `json:"hash_window"`
	Compression   string   `json:"compression"`
}

type checkpointRec struct {
	Offset     int64                    `json:"offset"`
	Hashes     map[string]hashing.State `json:"hashes"`
	Windows    *windowState             `json:"windows,omitempty"`
	Writer     json.RawMessage          `json:"writer"`
	Unreadable []report.Range           `json:"unreadable"`
	// Events are the events as of the checkpoint in journals of custodian
	// before the run history (Runs); newer journals keep them per run.
	Events []report.Event `json:"events,omitempty"`
	Rescue *rescueJournal `json:"rescue,omitempty"`
}

// readContinuity reads the boot id and disk's medium and write counter; nil
// when they cannot be read (then a resume cannot prove anything).
func readContinuity(disk string) *continuity {
	if disk == "" {
		return nil
	}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return nil
	}
	st, err := blockdev.WriteStats(disk)
	if err != nil {
		return nil
	}
	return &continuity{BootID: strings.TrimSpace(string(boot)), Disk: disk, DiskSeq: blockdev.DiskSeq(disk), SectorsWritten: st.SectorsWritten}
}
