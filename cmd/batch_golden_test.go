package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// normalize replaces what differs between runs (times, durations, the
// temporary folder) in batch output.
func normalize(s, tmp string) string {
	s = strings.ReplaceAll(s, tmp, "$TMP")
	for _, re := range []struct{ re, to string }{
		{`"(time|started_at|finished_at)": ?"[^"]*"`, `"$1":"TIME"`},
		{`"duration_seconds": ?[0-9.e+-]+`, `"duration_seconds":0`},
	} {
		s = regexp.MustCompile(re.re).ReplaceAllString(s, re.to)
	}
	return s
}

// TestBatchJSONGolden pins batch's --json lines (schema custodian/batch/v1)
// and OUTPUT/batch-summary.json (custodian/batch-summary/v1): scripts rely
// on both. Progress lines depend on timing and are left out; one job at a
// time keeps the order of the lines fixed.
func TestBatchJSONGolden(t *testing.T) {
	tmp := t.TempDir()
	for i, n := range []string{"alpha", "beta"} {
		if err := os.WriteFile(filepath.Join(tmp, n+".img"), randomBytes(uint64(100+i), 64<<10), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(tmp, "b.yaml")
	yaml := fmt.Sprintf(`defaults:
  output: %[1]s/out
  hash: [md5, sha256]
  examiner: J. Doe & Co
  case_number: "2026-042"
jobs:
  - source: %[1]s/alpha.img
    name: alpha
    evidence_number: EV-01
  - source: %[1]s/beta.img
    name: beta
    format: ewf
`, tmp)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "batch", file, "--jobs", "1", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var kept []string
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if !strings.Contains(l, `"type":"progress"`) {
			kept = append(kept, l)
		}
	}
	golden(t, "batch-json.golden", []byte(normalize(strings.Join(kept, "\n")+"\n", tmp)))
	sum, err := os.ReadFile(filepath.Join(tmp, "out", "batch-summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "batch-summary.golden", []byte(normalize(string(sum), tmp)))

	code, stdout, stderr = runCLI(t, "batch", file, "--dry-run", "--resume", "--json")
	if code != ExitOK {
		t.Fatalf("dry run: exit %d\n%s", code, stderr)
	}
	out := normalize(stdout, tmp)
	out = regexp.MustCompile(`"free":[0-9]+`).ReplaceAllString(out, `"free":0`)
	golden(t, "batch-plan.golden", []byte(out))
}
