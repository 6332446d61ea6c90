package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/internal/faultdisk"
	"github.com/custodian-forensics/custodian/report"
)

// TestAcquireBadSectorExitStatus images a real failing block device (a
// FUSE file with one EIO sector on a read-only loop device) through the
// CLI: the image completes, the exit status is 3, stderr says how much was
// unreadable, and the report lists a range covering the bad sector.
// (Sector-exact ranges are checked in acquire/badsector_test.go.)
func TestAcquireBadSectorExitStatus(t *testing.T) {
	bad := faultdisk.Range{Offset: 1<<20 + 512, Length: 512}
	d := faultdisk.Device(t, faultdisk.Options{Size: 2 << 20, Bad: []faultdisk.Range{bad}}, 512)
	dir := filepath.Join(t.TempDir(), "ev")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"acquire", d.Dev, "-o", dir, "--name", "bad",
		"--read-size", "64KiB", "--retries", "1", "--restore-writeblock", "--hash", "sha256"},
		strings.NewReader(""), &stdout, &stderr)
	if code != ExitUnreadable {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitUnreadable, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String()+stdout.String(), "unreadable") {
		t.Errorf("no mention of unreadable sectors:\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	// The closing block says what exit 3 means (issue 13 #6).
	if !regexp.MustCompile(`(?m)^exit status: complete, [1-9][0-9]* sectors? unreadable \(zero-filled, listed in the report\): exit 3$`).MatchString(stdout.String()) {
		t.Errorf("closing block does not explain exit 3:\n%s", stdout.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "bad.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := report.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != report.StatusComplete || len(r.Unreadable) == 0 {
		t.Fatalf("report status %q, unreadable %v; want complete with a range", r.Status, r.Unreadable)
	}
	covered := false
	for _, u := range r.Unreadable {
		covered = covered || (u.Offset <= bad.Offset && bad.Offset+bad.Length <= u.Offset+u.Length)
	}
	if !covered {
		t.Errorf("unreadable %v does not cover the bad sector at %d", r.Unreadable, bad.Offset)
	}
}
