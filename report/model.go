package report

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"time"
)

// Schema identifies the report format. It changes only when a field's
// meaning changes; new fields may be added within a schema version.
const Schema = "custodian/report/v1"

// ErrMismatch is returned (wrapped) when a signature, a segment or an image
// hash does not match what the report records.
var ErrMismatch = errors.New("verification mismatch")

// Status of an acquisition as recorded in the report.
type Status string

const (
	// StatusComplete: every byte of the source was imaged (unreadable sectors,
	// if any, are listed and zero-filled) and the image files are synced.
	StatusComplete Status = "complete"
	// StatusIncomplete: the acquisition stopped early (interrupted, or an
	// error on the destination); Report.BytesAcquired says how far it got.
	StatusIncomplete Status = "incomplete"
	// StatusFailed: the acquisition could not produce a usable image.
	StatusFailed Status = "failed"
)

// Report is everything an acquisition established. Field order here is the
// order in the JSON encoding; maps are encoded with sorted keys, so the same
// facts always give the same bytes (the bytes that are signed).
type Report struct {
	Schema        string       `json:"schema"`
	Status        Status       `json:"status"`
	Error         string       `json:"error,omitempty"`
	Tool          Tool         `json:"tool"`
	Case          Case         `json:"case"`
	Source        Source       `json:"source"`
	Image         Image        `json:"image"`
	Settings      Settings     `json:"settings"`
	BytesAcquired int64        `json:"bytes_acquired"`
	Hashes        Hashes       `json:"hashes"`
	HashWindows   []HashWindow `json:"hash_windows"`
	Unreadable    []Range      `json:"unreadable"`
	Verification  Verification `json:"verification"`
	Signer        *SignerInfo  `json:"signer,omitempty"`
	StartedAt     string       `json:"started_at"`
	FinishedAt    string       `json:"finished_at"`
	// StartedAtLocal and FinishedAtLocal are the same instants in the
	// local time zone of the machine, with its offset and name (see
	// [LocalTimestamp]).
	StartedAtLocal  string `json:"started_at_local,omitempty"`
	FinishedAtLocal string `json:"finished_at_local,omitempty"`
	// DurationSeconds is the time the acquisition's runs took together
	// (the gaps between an interrupted run and its resume do not count;
	// a run that ended without a record counts to its last checkpoint).
	// AverageBytesPerSecond is BytesAcquired over it.
	DurationSeconds       int64    `json:"duration_seconds,omitempty"`
	AverageBytesPerSecond int64    `json:"average_bytes_per_second,omitempty"`
	Host                  Host     `json:"host"`
	CommandLine           []string `json:"command_line"`
	// Runs are the runs of custodian that made the image, in order: one,
	// or more after --resume. Their events are Events[FirstEvent:
	// FirstEvent+EventCount].
	Runs   []Run   `json:"runs,omitempty"`
	Events []Event `json:"events"`
}

// Tool names the program that wrote the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// GoVersion is the Go release the binary was built with;
	// ExecutableSHA256 the SHA-256 of the binary file itself
	// (/proc/self/exe), read once per process.
	GoVersion        string `json:"go_version,omitempty"`
	ExecutableSHA256 string `json:"executable_sha256,omitempty"`
}

// Case holds the chain-of-custody fields given by the examiner.
type Case struct {
	CaseNumber     string `json:"case_number"`
	EvidenceNumber string `json:"evidence_number"`
	Examiner       string `json:"examiner"`
	Description    string `json:"description"`
	Notes          string `json:"notes"`
}

// Source describes the imaged device or file and its write-block state.
type Source struct {
	// Path is the source as given (maybe a /dev/disk/by-id/… link);
	// Device is the kernel's node it resolved to, when that differs.
	Path               string `json:"path"`
	Device             string `json:"device,omitempty"`
	Kind               string `json:"kind"` // "block device" or "regular file"
	Size               int64  `json:"size"`
	LogicalSectorSize  int    `json:"logical_sector_size"`
	PhysicalSectorSize int    `json:"physical_sector_size"`
	Vendor             string `json:"vendor,omitempty"`
	Model              string `json:"model"`
	Serial             string `json:"serial"`
	WWID               string `json:"wwid,omitempty"`
	// FirmwareRevision and Transport (usb, sata, nvme, scsi, mmc, virtio,
	// virtual) come from sysfs where it has them; empty for regular files.
	FirmwareRevision string `json:"firmware_revision,omitempty"`
	Transport        string `json:"transport,omitempty"`
	ReadOnlyBefore   bool   `json:"read_only_before"`
	ReadOnlyDuring   bool   `json:"read_only_during"`
	// SectorsWrittenDuring is the rise of the block layer's sectors-written
	// counter of the source (and its partitions) between the start and the
	// end of the acquisition. Anything but 0 is a write-block failure. It is
	// 0 for regular files, whose writes the block layer cannot attribute.
	SectorsWrittenDuring int64      `json:"sectors_written_during"`
	WriteBlock           WriteBlock `json:"write_block"`
	// PartitionTable is the source's partition table as read (read-only)
	// from its first sectors at the start of the acquisition.
	PartitionTable *PartitionTable `json:"partition_table,omitempty"`
}

// WriteBlock records what was done to keep the source read-only.
type WriteBlock struct {
	// Enabled is false with --no-writeblock and for regular files.
	Enabled bool `json:"enabled"`
	// Method is how: "BLKROSET" for block devices.
	Method string `json:"method,omitempty"`
	// Devices are the device nodes set read-only (the disk and partitions).
	Devices []string `json:"devices,omitempty"`
	// Confirmed is true when BLKROGET read back read-only for all Devices.
	Confirmed bool `json:"confirmed"`
	// Restored is true when the previous writable state was put back after
	// the acquisition (only when asked).
	Restored bool `json:"restored"`
	// CounterChecked is true when the block layer's write counters were read
	// before and after, so SectorsWrittenDuring is a measurement.
	CounterChecked bool `json:"counter_checked"`
}

// Image describes the written image files.
type Image struct {
	Format      string    `json:"format"` // "raw" or "ewf"
	Name        string    `json:"name"`
	SegmentSize int64     `json:"segment_size"`
	Compression string    `json:"compression"`
	Segments    []Segment `json:"segments"`
}

// Segment is one image file. Offset and Length are the range of the source
// stream it holds. Hashes are over the file's own bytes as written (for raw
// images that is exactly the source range), so each file can be checked
// alone; FileSize is its size on disk.
type Segment struct {
	File     string `json:"file"`
	Offset   int64  `json:"offset"`
	Length   int64  `json:"length"`
	FileSize int64  `json:"file_size"`
	Hashes   Hashes `json:"hashes"`
}

// Settings are the acquisition parameters that shaped the result.
type Settings struct {
	HashAlgorithms []string `json:"hash_algorithms"`
	HashWindow     int64    `json:"hash_window"`
	ReadSize       int      `json:"read_size"`
	Retries        int      `json:"retries"`
	DirectIO       bool     `json:"direct_io"`
	Resumed        bool     `json:"resumed"`
	// Origins says where every setting that is not the default came from:
	// the command line (also in CommandLine), the environment or a config
	// file, so that a report never hides a setting nobody typed.
	Origins []SettingOrigin `json:"origins,omitempty"`
}

// SettingOrigin is one setting and where its value came from.
type SettingOrigin struct {
	Setting string `json:"setting"` // the long flag name, e.g. "segment-size"
	Value   string `json:"value"`
	From    string `json:"from"` // "command line", "environment CUSTODIAN_X", "config FILE"
}

// Hashes maps an algorithm name ("md5", "sha1", "sha256", "sha512") to a
// lower-case hex digest.
type Hashes map[string]string

// HashWindow is a piecewise hash of Length bytes of the source at Offset.
type HashWindow struct {
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	Hashes Hashes `json:"hashes"`
}

// Range is a byte range of the source, aligned to its logical sector size.
type Range struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// Verification is the result of re-reading the written image (--verify).
type Verification struct {
	Performed bool   `json:"performed"`
	Matched   bool   `json:"matched"`
	Hashes    Hashes `json:"hashes"`
}

// SignerInfo identifies the key that signs the report. WriteFiles fills it
// in before signing, so the signature covers it: whoever verifies learns
// from the signed bytes which key the examiner meant to sign with.
type SignerInfo struct {
	KeyType     string `json:"key_type"`
	Fingerprint string `json:"fingerprint"` // "SHA256:…" as ssh-keygen -l prints it
	PublicKey   string `json:"public_key"`  // authorized_keys format
	Identity    string `json:"identity,omitempty"`
}

// Host is the machine that ran the acquisition.
type Host struct {
	Hostname string `json:"hostname"`
	Kernel   string `json:"kernel"`
}

// Event is a notable moment of the acquisition: a retry, an unreadable
// range, a write-block warning, an interruption.
type Event struct {
	Time    string `json:"time"`
	Level   string `json:"level"` // "info", "warning" or "error"
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Offset  *int64 `json:"offset,omitempty"`
	Length  *int64 `json:"length,omitempty"`
	// Sector and Sectors are, for a run of unreadable sectors, its first
	// logical sector and how many sectors it has.
	Sector  *int64 `json:"sector,omitempty"`
	Sectors *int64 `json:"sectors,omitempty"`
}

// TimeFormat is how every timestamp in a report is written: RFC 3339 in UTC
// to the second, fixed width, so timestamps sort as strings and the same
// instant always gives the same bytes. It is what
// t.UTC().Format(time.RFC3339) gives; events keep their order in the list,
// so sub-second precision is not needed to order them.
const TimeFormat = "2006-01-02T15:04:05Z"

// Timestamp formats t for a report (see [TimeFormat]).
func Timestamp(t time.Time) string { return t.UTC().Format(TimeFormat) }

// LocalTimeFormat is how the local-time fields are written: RFC 3339 with
// the zone's offset, then the zone's name, e.g.
// "2026-03-01T11:00:00+01:00 CET".
const LocalTimeFormat = "2006-01-02T15:04:05-07:00 MST"

// LocalTimestamp formats t in its own location (time.Now gives the
// machine's local zone) for the *_local fields.
func LocalTimestamp(t time.Time) string { return t.Format(LocalTimeFormat) }

// Env is what a report learns from its surroundings rather than from the
// acquisition: the clock, the machine and the tool. It is injected so that
// tests (and golden files) are deterministic; [DefaultEnv] reads the real
// values.
type Env struct {
	Now      func() time.Time
	Hostname string
	Kernel   string
	Version  string
	Args     []string // the command line, program name first
	// GoVersion and ExecutableSHA256 describe the binary (Tool).
	GoVersion        string
	ExecutableSHA256 string
}

// DefaultEnv returns the environment of this process: wall clock, host name,
// kernel release (from /proc/sys/kernel/osrelease), the given tool version
// and os.Args.
func DefaultEnv(version string) Env {
	host, _ := os.Hostname()
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	sum, _ := ExecutableSHA256() // "" when unreadable: the field is left out
	return Env{Now: time.Now, Hostname: host, Kernel: kernel, Version: version, Args: os.Args,
		GoVersion: runtime.Version(), ExecutableSHA256: sum}
}

// New starts a report: schema, tool, host, command line and started_at come
// from env; the status is incomplete until the acquisition says otherwise.
// Slices and maps are empty, not nil, as in every encoded report.
func New(env Env) *Report {
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	t0 := now()
	return &Report{
		Schema:      Schema,
		Status:      StatusIncomplete,
		Tool:        Tool{Name: "custodian", Version: env.Version, GoVersion: env.GoVersion, ExecutableSHA256: env.ExecutableSHA256},
		Image:       Image{Segments: []Segment{}},
		Settings:    Settings{HashAlgorithms: []string{}},
		Hashes:      Hashes{},
		HashWindows: []HashWindow{},
		Unreadable:  []Range{},
		Verification: Verification{
			Hashes: Hashes{},
		},
		StartedAt:      Timestamp(t0),
		StartedAtLocal: LocalTimestamp(t0),
		Host:           Host{Hostname: env.Hostname, Kernel: env.Kernel},
		CommandLine:    append([]string{}, env.Args...),
		Events:         []Event{},
	}
}

// Log appends an event at time t.
func (r *Report) Log(t time.Time, level, kind, message string) {
	r.Events = append(r.Events, Event{Time: Timestamp(t), Level: level, Kind: kind, Message: message})
}

// LogRange appends an event about length bytes of the source at offset.
func (r *Report) LogRange(t time.Time, level, kind, message string, offset, length int64) {
	r.Events = append(r.Events, Event{Time: Timestamp(t), Level: level, Kind: kind, Message: message,
		Offset: &offset, Length: &length})
}

// UnreadableBytes is the total length of the unreadable ranges.
func (r *Report) UnreadableBytes() int64 {
	var n int64
	for _, u := range r.Unreadable {
		n += u.Length
	}
	return n
}
