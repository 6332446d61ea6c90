package cmd

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/faultdisk"
	"github.com/custodian-forensics/custodian/report"
)

// TestBadSectorLinesGolden (issue 13, item 5): a real failing device with
// three runs of bad sectors (one sector, 8 sectors, 512 sectors across two
// reads) and a flaky sector: the screen shows one line per run, with its
// sectors and bytes, and nothing for the failed reads and retries behind
// them (those are in the JSON lines and the JSON report).
func TestBadSectorLinesGolden(t *testing.T) {
	const kib = 1 << 10
	o := faultdisk.Options{Size: 4 << 20, Content: faultdisk.Pattern(7),
		Bad: []faultdisk.Range{{Offset: 100 * 512, Length: 512}, {Offset: 4096 * 512, Length: 8 * 512},
			{Offset: 1<<20 - 128*kib, Length: 256 * kib}},
		Flaky: []faultdisk.Flaky{{Range: faultdisk.Range{Offset: 3 << 20, Length: 512}, Failures: 1}}}
	d := faultdisk.Device(t, o, 512)
	var events []report.Event
	opts := acquire.Options{Name: "bad", Format: "raw", Hashes: hashing.Set{hashing.SHA256}, ReadSize: 1 << 20,
		Retries: 1, WriteBlock: true, RestoreWriteBlock: true, OnEvent: func(e report.Event) { events = append(events, e) }}
	_, err := acquire.New(d.Dev, filepath.Join(t.TempDir(), "ev"), opts).Run(context.Background())
	if !errors.Is(err, acquire.ErrUnreadable) {
		t.Fatalf("Run: %v", err)
	}
	var stderr bytes.Buffer
	p := &progressOutput{stdout: &bytes.Buffer{}, stderr: &stderr}
	for _, e := range events {
		if e.Kind == "unreadable" || e.Kind == "read_error" || e.Kind == "retry_ok" {
			p.event(e)
		}
	}
	golden(t, "badsector-lines.golden", stderr.Bytes())
	if n := strings.Count(stderr.String(), "\n"); n != 3 {
		t.Errorf("%d lines for 3 runs of bad sectors:\n%s", n, stderr.String())
	}
}
