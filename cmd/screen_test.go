package cmd

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/report"
)

func sampleStart() acquire.Start {
	return acquire.Start{
		Source: report.Source{Path: "/dev/disk/by-id/usb-Kingston_DT_1234", Device: "/dev/sdb", Kind: "block device",
			Size: 16008609792, LogicalSectorSize: 512, PhysicalSectorSize: 4096,
			Vendor: "Kingston", Model: "DataTraveler 3.0", Serial: "E0D55EA573E9F361", FirmwareRevision: "PMAP", Transport: "usb",
			WriteBlock: report.WriteBlock{Enabled: true, Method: "BLKROSET", Devices: []string{"/dev/sdb", "/dev/sdb1"}, Confirmed: true, CounterChecked: true}},
		Name: "sdb", Dir: "/evidence/case-42", DirFree: 512 << 30,
		Format: "ewf", Compression: "fast", SegmentSize: 1500 << 20, Hashes: []string{"md5", "sha1", "sha256"},
	}
}

// TestHeaderGolden pins the block printed before imaging (issue 13 #6).
func TestHeaderGolden(t *testing.T) {
	var b bytes.Buffer
	header(&b, sampleStart())
	st := sampleStart()
	st.Source = report.Source{Path: "disk.img", Kind: "regular file", Size: 8 << 20, LogicalSectorSize: 512, PhysicalSectorSize: 512}
	st.Name, st.Dir, st.DirFree, st.Format, st.SegmentSize, st.Hashes = "", "/tmp/out", -1, "raw", 0, []string{"sha256"}
	header(&b, st)
	st = sampleStart()
	st.Source.WriteBlock = report.WriteBlock{CounterChecked: true}
	st.Source.Model, st.Source.Vendor, st.Source.Serial, st.Source.FirmwareRevision, st.Source.Transport = "evil\x1b[2J", "", "", "", "virtual"
	st.From = 4 << 30
	header(&b, st)
	golden(t, "golden/header.txt", b.Bytes())
}

// TestClosingGolden pins the block printed after imaging for each way an
// acquisition ends.
func TestClosingGolden(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	base := func() *report.Report {
		return &report.Report{Status: report.StatusComplete, BytesAcquired: 16008609792,
			Source: report.Source{Path: "/dev/sdb", Size: 16008609792, LogicalSectorSize: 512}}
	}
	var b bytes.Buffer
	for _, c := range []struct {
		name string
		mod  func(*report.Report)
		path string
		code int
	}{
		{"ok", func(*report.Report) {}, "/evidence/case 42/sdb.report.json", ExitOK},
		{"verified, signed", func(r *report.Report) {
			r.Verification.Performed, r.Verification.Matched = true, true
			r.Signer = &report.SignerInfo{Fingerprint: "SHA256:abc"}
		}, "/evidence/sdb.report.json", ExitOK},
		{"unreadable", func(r *report.Report) { r.Unreadable = []report.Range{{Offset: 4096, Length: 9 * 512}} }, "/evidence/sdb.report.json", ExitUnreadable},
		{"mismatch", func(r *report.Report) { r.Verification.Performed = true }, "/evidence/sdb.report.json", ExitMismatch},
		{"interrupted", func(r *report.Report) { r.Status, r.BytesAcquired = report.StatusIncomplete, 184<<20 }, "/evidence/sdb.report.json", ExitFailure},
		{"no report", func(r *report.Report) { r.Status, r.BytesAcquired = report.StatusIncomplete, 1<<30 }, "", ExitFailure},
	} {
		r := base()
		c.mod(r)
		b.WriteString("== " + c.name + "\n")
		closing(&b, closingInfo{Report: r, ReportPath: c.path, Code: c.code, Started: t0, Finished: t0.Add(83 * time.Second)})
	}
	golden(t, "golden/closing.txt", b.Bytes())
}

// TestBarFrozenWhenInterrupted: the bar of an interrupted run ends where
// imaging stopped, not at 100 % (issue 13 #4); a complete one is full.
func TestBarFrozenWhenInterrupted(t *testing.T) {
	last := func(out string) string {
		frames := strings.FieldsFunc(out, func(r rune) bool { return r == '\r' || r == '\n' })
		for i := len(frames) - 1; i >= 0; i-- {
			if strings.Contains(frames[i], "%") {
				return frames[i]
			}
		}
		return ""
	}
	for _, c := range []struct {
		done int64
		want string
	}{{68 << 20, " 68% "}, {100 << 20, "100%"}} {
		var b bytes.Buffer
		p := &progressOutput{stdout: &b, stderr: &b, bar: newMeter(&b, true)}
		p.update(acquire.Progress{Phase: acquire.PhaseImage, Total: 100 << 20, Done: 1 << 20}, 0, false)
		p.update(acquire.Progress{Phase: acquire.PhaseImage, Total: 100 << 20, Done: c.done}, 0, false)
		p.update(acquire.Progress{Phase: acquire.PhaseDone, Total: 100 << 20, Done: c.done}, 0, true)
		if got := last(b.String()); !strings.Contains(got, c.want) {
			t.Errorf("done %d: last frame %q, want %q", c.done, got, c.want)
		}
	}
}

// TestPlainProgressLines: without a terminal and without --json, stderr
// gets plain text lines (no bar frames, no escapes) and stdout no JSON.
func TestPlainProgressLines(t *testing.T) {
	var b bytes.Buffer
	m := newMeter(&b, false)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	for done := int64(0); done <= 50; done++ {
		now = now.Add(100 * time.Millisecond)
		m.set("imaging", done<<20, 100<<20, 0, 10<<20)
	}
	now = now.Add(time.Minute)
	m.set("imaging", 51<<20, 100<<20, 4096, 0)
	m.stop(52<<20, 4096)
	golden(t, "golden/plain-progress.txt", b.Bytes())
}

// normalizeLine replaces the parts of a JSON line that differ between
// runs (times, rates, the folder) so that goldens can pin the rest.
func normalizeLine(t *testing.T, line, dir string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("not JSON: %q: %v", line, err)
	}
	for _, k := range []string{"time", "bytes_per_second"} {
		if _, ok := m[k]; ok {
			m[k] = "…"
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), dir, "DIR")
}

// TestAcquireJSONLinesGolden pins the JSON line types of acquire --json
// (issue 11): every line has the schema, the event and result lines their
// fields; progress lines (timing-dependent in number) are checked for
// their keys.
func TestAcquireJSONLinesGolden(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ev")
	code, stdout, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", dir, "--hash", "sha256", "--examiner", "x", "--case-number", "1", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var kept []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		n := normalizeLine(t, line, dir)
		if !strings.HasPrefix(n, `{`) || !strings.Contains(n, `"schema":"custodian/acquire/v1"`) {
			t.Errorf("line without schema: %s", n)
		}
		if strings.Contains(n, `"type":"progress"`) {
			for _, k := range []string{"phase", "total", "done", "unreadable", "verified", "percent", "bytes_per_second"} {
				if !strings.Contains(n, `"`+k+`":`) {
					t.Errorf("progress line without %s: %s", k, n)
				}
			}
			continue
		}
		kept = append(kept, n)
	}
	golden(t, "golden/acquire-json-lines.txt", []byte(strings.Join(kept, "\n")+"\n"))
	// The human text is on stderr: the header and the closing block.
	for _, want := range []string{"source:      ../testdata/sample.img", "write-block: not applicable", "exit status: complete, every sector read: exit 0",
		"verify with: custodian verify --no-trust " + dir} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestAcquireLogNotJSON: without --json, stdout is the human header and
// summary and stderr plain text, whatever they are connected to
// (2>acquire.log used to switch to JSON lines; issue 13 #8).
func TestAcquireLogNotJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ev")
	code, stdout, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", dir, "--hash", "sha256")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if strings.Contains(stdout, "{") || strings.Contains(stderr, "{") {
		t.Errorf("JSON without --json:\nstdout %s\nstderr %s", stdout, stderr)
	}
	if regexp.MustCompile("\x1b|\r").MatchString(stderr + stdout) {
		t.Errorf("terminal control characters without a terminal: %q", stderr)
	}
	for _, want := range []string{"source:      ../testdata/sample.img", "status:      complete", "exit status: complete, every sector read: exit 0"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
}

// TestVerifyJSONSchema: verify --json is one object with its schema.
func TestVerifyJSONSchema(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ev")
	if code, _, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", dir, "--hash", "sha256", "--json"); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, "verify", "--no-trust", "--json", dir)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var v struct {
		Schema   string `json:"schema"`
		Result   string `json:"result"`
		ExitCode *int   `json:"exit_code"`
	}
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || v.Schema != verifySchema || v.ExitCode == nil || *v.ExitCode != 0 {
		t.Errorf("verify --json: %+v %v\n%s", v, err, stdout)
	}
}

// TestVerifySourceProgress: verify --source shows its progress on stderr
// in the acquire style (a plain line without a terminal).
func TestVerifySourceProgress(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ev")
	if code, _, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", dir, "--hash", "sha256", "--json"); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	code, _, stderr := runCLI(t, "verify", "--no-trust", "--source", "../testdata/sample.img", dir)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "custodian: verifying 100.0 %, 16.0 MiB of 16.0 MiB") {
		t.Errorf("no progress line on stderr:\n%s", stderr)
	}
}

// TestAcquireScreenGolden pins what an examiner reads on stdout for the
// sample disk, end to end: the header, the summary and the closing block
// (the folder, free space, duration and speed normalised).
func TestAcquireScreenGolden(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ev")
	code, stdout, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", dir, "--verify", "--examiner", "x", "--case-number", "1")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	norm := strings.ReplaceAll(stdout, dir, "DIR")
	for _, re := range []struct{ re, with string }{
		{`\(DIR \([^)]*free\)`, "(DIR (… free)"},
		{`(?m)^destination: DIR \([^)]*\)$`, "destination: DIR (… free)"},
		{`(?m)^duration:    .*$`, "duration:    …"},
		{`(?m)^speed:       .*$`, "speed:       …"},
	} {
		norm = regexp.MustCompile(re.re).ReplaceAllString(norm, re.with)
	}
	golden(t, "golden/acquire-screen.txt", []byte(norm))
}
