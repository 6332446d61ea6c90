package report

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testEnv is the injected environment of every golden report.
func testEnv() Env {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	return Env{
		Now:              func() time.Time { return t0 },
		Hostname:         "forensic-ws-01",
		Kernel:           "6.18.0-custodian",
		Version:          "v0.1.0 (rev 0123456789ab)",
		Args:             []string{"custodian", "acquire", "/dev/sdb", "-o", "/evidence/case-42", "--hash", "md5,sha256", "--notes", "seized at \"site B\" <desk 3>"},
		GoVersion:        "go1.25.4",
		ExecutableSHA256: strings.Repeat("5a", 32),
	}
}

// sampleReport is a complete acquisition of a 3 MiB disk in two raw
// segments, with one unreadable sector, a retry and a write-block record.
func sampleReport() *Report {
	env := testEnv()
	r := New(env)
	t0 := env.Now()
	r.Status = StatusComplete
	r.Case = Case{CaseNumber: "2026-042", EvidenceNumber: "EV-01", Examiner: "J. Doe",
		Description: "laptop SSD, Lenovo T14", Notes: "seized at \"site B\" <desk 3>"}
	r.Source = Source{Path: "/dev/sdb", Kind: "block device", Size: 3 << 20, LogicalSectorSize: 512,
		PhysicalSectorSize: 4096, Model: "Samsung SSD 870", Serial: "S5Y1NX0T123456", FirmwareRevision: "SVT02B6Q", Transport: "sata", ReadOnlyBefore: false,
		ReadOnlyDuring: true, WriteBlock: WriteBlock{Enabled: true, Method: "BLKROSET",
			Devices: []string{"/dev/sdb", "/dev/sdb1"}, Confirmed: true, CounterChecked: true}}
	r.Image = Image{Format: "raw", Name: "sdb", SegmentSize: 2 << 20, Segments: []Segment{
		{File: "sdb.001", Offset: 0, Length: 2 << 20, FileSize: 2 << 20, Hashes: Hashes{"md5": "b2d1b5b3e1b1d2e0c0b9a1f4b0f3c2a1", "sha256": strings.Repeat("ab", 32)}},
		{File: "sdb.002", Offset: 2 << 20, Length: 1 << 20, FileSize: 1 << 20, Hashes: Hashes{"sha256": strings.Repeat("cd", 32), "md5": "0123456789abcdef0123456789abcdef"}},
	}}
	r.Settings = Settings{HashAlgorithms: []string{"md5", "sha256"}, HashWindow: 1 << 20, ReadSize: 1 << 20, Retries: 3}
	r.BytesAcquired = 3 << 20
	r.Hashes = Hashes{"sha256": strings.Repeat("ef", 32), "md5": "fedcba9876543210fedcba9876543210"}
	r.HashWindows = []HashWindow{{Offset: 0, Length: 1 << 20, Hashes: Hashes{"md5": "00112233445566778899aabbccddeeff"}}}
	r.Unreadable = []Range{{Offset: 1048576, Length: 512}}
	r.Verification = Verification{Performed: true, Matched: true, Hashes: Hashes{"md5": "fedcba9876543210fedcba9876543210", "sha256": strings.Repeat("ef", 32)}}
	r.Source.PartitionTable = &PartitionTable{Type: "gpt", DiskGUID: "6E1B7C3A-2F4D-4B8E-9A21-3C5D7E9F0A1B", Partitions: []Partition{
		{Number: 1, Offset: 1 << 20, Length: 1 << 20, Type: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", TypeName: "EFI System",
			Name: "EFI system partition", GUID: "0B3E5F7A-1C2D-4E6F-8A9B-0C1D2E3F4A5B"},
	}}
	r.LogRange(t0.Add(2*time.Second), "warning", "read_error", "read of 1048576 bytes failed (EIO); reading it again in 64 KiB clusters, failed clusters sector by sector", 1048576, 1048576)
	r.Log(t0.Add(2*time.Second), "error", "interrupted", "interrupted after 1048576 of 3145728 bytes; resume with --resume")
	r.LogRange(t0.Add(63*time.Second), "info", "resume", "resumed from the journal's checkpoint at byte 1048576 of 3145728", 1048576, -1)
	r.Events[len(r.Events)-1].Length = nil
	r.LogRange(t0.Add(64*time.Second), "info", "retry_ok", "sector 2049 read on attempt 2", 1049088, 512)
	r.LogRange(t0.Add(65*time.Second), "warning", "unreadable", "sector 2048 (1 sector, bytes 1048576–1049087), zero-filled", 1048576, 512)
	sector, sectors := int64(2048), int64(1)
	r.Events[len(r.Events)-1].Sector, r.Events[len(r.Events)-1].Sectors = &sector, &sectors
	r.Log(t0.Add(66*time.Second), "info", "writeblock", "write counters unchanged: 0 sectors written")
	first := env.Args
	r.Runs = []Run{
		{CommandLine: first, StartedAt: Timestamp(t0), StartedAtLocal: LocalTimestamp(t0), FinishedAt: Timestamp(t0.Add(2 * time.Second)),
			FinishedAtLocal: LocalTimestamp(t0.Add(2 * time.Second)), Outcome: RunInterrupted, Error: "interrupted (signal); the journal allows --resume",
			EndOffset: 1 << 20, FirstEvent: 0, EventCount: 2},
		{CommandLine: []string{"custodian", "acquire", "/dev/sdb", "-o", "/evidence/case-42", "--resume"}, StartedAt: Timestamp(t0.Add(60 * time.Second)),
			StartedAtLocal: LocalTimestamp(t0.Add(60 * time.Second)), FinishedAt: Timestamp(t0.Add(66 * time.Second)),
			FinishedAtLocal: LocalTimestamp(t0.Add(66 * time.Second)), Outcome: RunComplete, StartOffset: 1 << 20, EndOffset: 3 << 20,
			FirstEvent: 2, EventCount: 4},
	}
	r.SetFinished(t0.Add(66 * time.Second))
	r.Signer = &SignerInfo{KeyType: "ssh-ed25519", Fingerprint: "SHA256:2bPtq4Jtj1rEnWQxm3yVxmDcCfAJ1vSCgQbGxrUn3Ow",
		PublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH5e8dBNr3yjbcGVvb3xyNbUl7qZHO0rYGlXmxXb3Bb5", Identity: "j.doe@lab.example"}
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", name, cmp.Diff(string(want), string(got)))
	}
}

func TestMarshalGolden(t *testing.T) {
	got, err := Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.json", got)
}

func TestMarshalEmptyGolden(t *testing.T) {
	// A report with nothing filled in has the same shape: [] and {}, no null.
	got, err := Marshal(&Report{Schema: Schema, Status: StatusFailed})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(got, []byte("null")) {
		t.Errorf("empty report encodes null:\n%s", got)
	}
	golden(t, "empty.golden.json", got)
}

func TestRenderTextGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderText(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.txt", buf.Bytes())
}

func TestRenderTextUnsignedIncomplete(t *testing.T) {
	r := sampleReport()
	r.Signer = nil
	r.Status = StatusIncomplete
	r.BytesAcquired = 1 << 20
	r.Source.Model = "evil\x1b[2Jmodel"
	var buf bytes.Buffer
	if err := RenderText(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"Signature:        not signed", "INCOMPLETE: 1048576 of 3145728 bytes acquired", `evil\x1b[2Jmodel`} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Error("text report passes an escape character through")
	}
}

func TestMarshalDeterministicAndPure(t *testing.T) {
	r := sampleReport()
	r.Image.Segments[0].Hashes = nil
	r.HashWindows[0].Hashes = nil
	a, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, _ := Marshal(r)
		if !bytes.Equal(a, b) {
			t.Fatal("Marshal is not deterministic")
		}
	}
	if r.Image.Segments[0].Hashes != nil || r.HashWindows[0].Hashes != nil {
		t.Error("Marshal modified the report it encoded")
	}
	if !bytes.HasSuffix(a, []byte("}\n")) || bytes.Contains(a, []byte(`\u003c`)) {
		t.Error("want one trailing newline and no HTML escaping")
	}
}

func TestParseRoundTrip(t *testing.T) {
	want := sampleReport()
	b, err := Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse(Marshal(r)) differs (-want +got):\n%s", diff)
	}
	again, _ := Marshal(got)
	if !bytes.Equal(b, again) || !IsCanonical(b) {
		t.Error("parse → encode does not give back the same bytes")
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := Marshal(sampleReport())
	for _, tc := range []struct {
		name, in, want string
		schema         bool
	}{
		{"not json", "hello", "invalid character", false},
		{"no schema", `{"status":"complete"}`, "no \"schema\"", true},
		{"other schema", `{"schema":"custodian/report/v2"}`, "custodian/report/v2", true},
		{"trailing data", string(good) + "{}", "", false},
		{"unknown status", strings.Replace(string(good), `"status": "complete"`, `"status": "done"`, 1), "unknown status", false},
		{"path in segment", strings.Replace(string(good), `"file": "sdb.001"`, `"file": "../../etc/shadow"`, 1), "not a plain file name", false},
		{"absolute segment", strings.Replace(string(good), `"file": "sdb.001"`, `"file": "/etc/shadow"`, 1), "not a plain file name", false},
		{"negative length", strings.Replace(string(good), `"length": 512`, `"length": -512`, 1), "negative", false},
		{"wrong type", strings.Replace(string(good), `"size": 3145728`, `"size": "big"`, 1), "cannot unmarshal", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if errors.Is(err, ErrSchema) != tc.schema {
				t.Errorf("errors.Is(err, ErrSchema) = %v, want %v", !tc.schema, tc.schema)
			}
		})
	}
}

func TestParseIgnoresFutureFields(t *testing.T) {
	good, _ := Marshal(sampleReport())
	future := bytes.Replace(good, []byte(`"status": "complete",`), []byte(`"status": "complete", "acquired_by_robot": {"arm": 2},`), 1)
	r, err := Parse(future)
	if err != nil {
		t.Fatalf("a report with an added field does not parse: %v", err)
	}
	if r.Case.CaseNumber != "2026-042" {
		t.Error("fields lost")
	}
	if IsCanonical(future) {
		t.Error("a report with unknown fields is reported canonical")
	}
}
