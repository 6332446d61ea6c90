package blockdev

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/custodian-forensics/custodian/internal/atomicfile"
)

// DefaultStateDir is where the write-block state records live: on tmpfs, so
// they vanish at reboot together with the kernel's flags and counters they
// describe.
const DefaultStateDir = "/run/custodian/writeblock"

// StateSchema names the format of a [StateRecord].
const StateSchema = "custodian/writeblock-state/v1"

// StateRecord is what is known about a write-blocked disk from the moment
// protection began: its identity and the block layer's counters of the disk
// and each partition, so a later look can tell whether anything was written.
type StateRecord struct {
	Schema string `json:"schema"`
	Disk   string `json:"disk"` // kernel name, "sdb"
	Path   string `json:"path"` // node, "/dev/sdb"
	Major  uint32 `json:"major"`
	Minor  uint32 `json:"minor"`
	// DiskSeq is the kernel's sequence number of the disk's medium (sysfs
	// diskseq); a different value later means another medium (a re-attached
	// loop device, a new card) whose counters are not comparable. 0 when
	// the kernel has none.
	DiskSeq     uint64    `json:"diskseq"`
	Size        int64     `json:"size"`
	Model       string    `json:"model"`
	Serial      string    `json:"serial"`
	ProtectedAt time.Time `json:"protected_at"`
	// By says who started the protection: "on", "watch".
	By string `json:"by"`
	// PartitionOnly: only the listed partitions were made read-only, not
	// the disk.
	PartitionOnly bool `json:"partition_only"`
	// Devices are the devices made read-only with their counters then.
	Devices []StateDevice `json:"devices"`
	// Baseline are the counters of the disk and of every partition, made
	// read-only or not, read together when protection began. Writes through
	// the disk node count on the disk's counter only, never on a
	// partition's; the baseline lets a later look tell them from writes
	// through the nodes of partitions (see [System.WrittenSince]). Records
	// of older versions have none.
	Baseline []StateDevice `json:"baseline,omitempty"`
	// Writers are rw mounts and holders present when protection began (only
	// with --force); the flag does not stop them.
	Writers []Writer `json:"writers,omitempty"`
}

// StateDevice is one device of a [StateRecord].
type StateDevice struct {
	Name           string `json:"name"`
	Path           string `json:"path"`
	WasReadOnly    bool   `json:"was_read_only"`
	SectorsWritten int64  `json:"sectors_written"`
	WritesDone     int64  `json:"writes_completed"`
}

// StateStore keeps one JSON file per disk in Dir. The zero value uses
// [DefaultStateDir].
type StateStore struct {
	Dir string
}

func (st *StateStore) dir() string {
	if st == nil || st.Dir == "" {
		return DefaultStateDir
	}
	return st.Dir
}

func (st *StateStore) file(disk string) (string, error) {
	if !validName(disk) {
		return "", fmt.Errorf("invalid disk name %q", disk)
	}
	return filepath.Join(st.dir(), disk+".json"), nil
}

// Save writes rec atomically (see internal/atomicfile: temporary file,
// fsync, rename, fsync of Dir), mode 0600 whatever the umask, creating Dir
// (0700) when needed.
func (st *StateStore) Save(rec *StateRecord) error {
	p, err := st.file(rec.Disk)
	if err != nil {
		return err
	}
	rec.Schema = StateSchema
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(st.dir(), 0o700); err != nil {
		return fmt.Errorf("write-block state: %w", err)
	}
	if err := atomicfile.WriteFile(p, append(b, '\n'), 0o600, atomicfile.ExactPerm()); err != nil {
		return fmt.Errorf("write-block state: %w", err)
	}
	return nil
}

// Load reads the record of disk; an error wrapping fs.ErrNotExist when there
// is none.
func (st *StateStore) Load(disk string) (*StateRecord, error) {
	p, err := st.file(disk)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("write-block state of %s: %w", disk, err)
	}
	var rec StateRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("write-block state of %s: %w", disk, err)
	}
	if rec.Schema != StateSchema || rec.Disk != disk {
		return nil, fmt.Errorf("write-block state of %s: not a %s record for this disk", disk, StateSchema)
	}
	return &rec, nil
}

// Remove deletes the record of disk; no record is not an error.
func (st *StateStore) Remove(disk string) error {
	p, err := st.file(disk)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write-block state of %s: %w", disk, err)
	}
	return nil
}

// List returns the disk names that have records, sorted.
func (st *StateStore) List() ([]string, error) {
	ents, err := os.ReadDir(st.dir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("write-block state: %w", err)
	}
	var out []string
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && !strings.HasPrefix(n, ".") && validName(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// baseline returns the baseline counter of name: from Baseline, or for a
// record without one that protected the whole disk, from Devices (read at
// the same moment then).
func (rec *StateRecord) baseline(name string) (StateDevice, bool) {
	for _, d := range rec.Baseline {
		if d.Name == name {
			return d, true
		}
	}
	if len(rec.Baseline) == 0 && !rec.PartitionOnly {
		if _, ok := rec.device(rec.Disk); ok {
			return rec.device(name)
		}
	}
	return StateDevice{}, false
}

// device returns the record's entry for name.
func (rec *StateRecord) device(name string) (StateDevice, bool) {
	for _, d := range rec.Devices {
		if d.Name == name {
			return d, true
		}
	}
	return StateDevice{}, false
}
