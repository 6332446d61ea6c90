package batch

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/exitcode"
	"github.com/custodian-forensics/custodian/internal/looptest"
)

func TestParse(t *testing.T) {
	f, ps := Parse([]byte(`defaults:
  output: /ev
  hash: [md5, sha256]
  case_number: "42"
jobs:
  - source: /dev/sdb
    name: a
    case-number: "43"
  - {source: /dev/sdc}
`))
	if ps != nil {
		t.Fatal(ps)
	}
	got := map[string]string{}
	for _, s := range f.Merged(0) {
		got[s.Flag] = s.Value()
	}
	want := map[string]string{"output": "/ev", "hash": "md5,sha256", "case-number": "43", "source": "/dev/sdb", "name": "a"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("job 1's settings (-want +got):\n%s", d)
	}
	if f.Label(0) != "a" || f.Label(1) != "/dev/sdc" {
		t.Errorf("labels %q %q", f.Label(0), f.Label(1))
	}

	for _, tc := range []struct{ name, yaml, want string }{
		{"not yaml", "jobs: [", "not valid YAML"},
		{"empty", "", "empty or not a mapping"},
		{"typo at the top", "job:\n  - source: x\n", `unknown top-level key "job"`},
		{"no jobs", "defaults: {output: x}\n", "no 'jobs:' list"},
		{"jobs not a list", "jobs: {source: x}\n", "non-empty list"},
		{"job not a mapping", "jobs:\n  - /dev/sdb\n", "a job is a mapping"},
		{"mapping value", "jobs:\n  - source: x\n    notes: {a: b}\n", "wrong type"},
		{"list of lists", "jobs:\n  - source: x\n    hash: [[md5]]\n", "plain values"},
		{"no value", "jobs:\n  - source: x\n    examiner:\n", "has no value"},
		{"the same flag twice", "jobs:\n  - source: x\n    case_number: a\n    case-number: b\n", "given twice (first on line 3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ps := Parse([]byte(tc.yaml))
			if len(ps) == 0 || !strings.Contains(ps.Error(), tc.want) {
				t.Errorf("problems %v, want one with %q", ps, tc.want)
			}
		})
	}
	_, ps = Parse([]byte("jbos:\n  - source: x\ndefautls: {}\n"))
	hints := map[string]bool{}
	for _, p := range ps {
		hints[p.Hint] = true
	}
	if !hints["did you mean jobs?"] || !hints["did you mean defaults?"] {
		t.Errorf("no did-you-mean for jbos and defautls: %+v", ps)
	}
}

func options(name string) acquire.Options {
	return acquire.Options{Name: name, Format: "raw", Hashes: hashing.Set{hashing.SHA256}, ToolVersion: "test"}
}

func writeFile(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.WriteFile(path, make([]byte, n), 0o600); err != nil {
		t.Fatal(err)
	}
}

func messages(ps Problems) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return strings.Join(out, "\n")
}

func TestValidateAcrossJobs(t *testing.T) {
	tmp := t.TempDir()
	writeFile(t, filepath.Join(tmp, "a.img"), 4096)
	if err := os.Symlink("a.img", filepath.Join(tmp, "link.img")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	job := func(label, src, name string) Job {
		return Job{Label: label, Source: filepath.Join(tmp, src), Dir: filepath.Join(out, name), Options: options(name)}
	}
	bad := options("b")
	bad.SegmentSize = 3 // below the minimum: acquire's own check
	_, ps := Validate(Config{Output: out, Jobs: []Job{
		job("a", "a.img", "a"),
		job("a2", "link.img", "a"),
		{Label: "b", Source: filepath.Join(tmp, "a.img"), Dir: filepath.Join(out, "b"), Options: bad},
		{Label: "u", Source: filepath.Join(tmp, "nope.img"), Dir: filepath.Join(out, "u"), Options: options("u"), Unresolved: true},
	}})
	got := messages(ps)
	for _, want := range []string{
		`a2: the name "a" is also a's`,
		"a2: source " + tmp + "/link.img is the same as a's",
		"--segment-size 3 is below the minimum", // acquire's wording after "b: "
		"u: source " + tmp + "/nope.img does not exist",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if len(ps) != 5 { // b's source is a's too
		t.Errorf("%d problems, want 5:\n%s", len(ps), got)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("Validate created %s", out)
	}
	if _, ps := Validate(Config{Jobs: []Job{job("a", "a.img", "a")}}); !strings.Contains(messages(ps), "no output folder") {
		t.Errorf("no output folder accepted: %v", ps)
	}
}

func TestChains(t *testing.T) {
	p := &Plan{Jobs: []PlannedJob{{Disk: "sdb"}, {Disk: ""}, {Disk: "sdc"}, {Disk: "sdb"}, {Disk: ""}, {Disk: "sdc"}}}
	p.chain()
	if d := cmp.Diff([][]int{{0, 3}, {1}, {2, 5}, {4}}, p.Chains); d != "" {
		t.Errorf("chains (-want +got):\n%s", d)
	}
	if err := p.checkChains(); err != nil {
		t.Error(err)
	}
	p.Chains = [][]int{{0}, {1}, {2, 5}, {3, 4}}
	if err := p.checkChains(); err == nil {
		t.Error("a plan with sdb's jobs in two chains passed")
	}
}

// TestValidateSpace: two jobs that each fit a 4 MiB destination but not
// together are refused; with force on one, the other's need fits.
func TestValidateSpace(t *testing.T) {
	looptest.RequireRoot(t)
	tmp := t.TempDir()
	mnt := filepath.Join(tmp, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "custodian-test", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	var jobs []Job
	for _, n := range []string{"x", "y"} {
		writeFile(t, filepath.Join(tmp, n+".img"), 2<<20)
		jobs = append(jobs, Job{Label: n, Source: filepath.Join(tmp, n+".img"), Dir: filepath.Join(mnt, "out", n), Options: options(n)})
	}
	for _, j := range jobs {
		if _, ps := Validate(Config{Output: filepath.Join(mnt, "out"), Jobs: []Job{j}}); ps != nil {
			t.Fatalf("one job alone: %v", ps)
		}
	}
	_, ps := Validate(Config{Output: filepath.Join(mnt, "out"), Jobs: jobs})
	if len(ps) != 1 || !strings.Contains(ps[0].Msg, "jobs (x, y) need up to") {
		t.Fatalf("problems %v, want the summed space", ps)
	}
	jobs[1].Options.Force = true
	if _, ps := Validate(Config{Output: filepath.Join(mnt, "out"), Jobs: jobs}); ps != nil {
		t.Errorf("with force on y: %v", ps)
	}
}

// TestValidateOutputOnSource: a folder on the filesystem of any job's
// source device is refused, for that job and for the others; a mounted
// source is refused (acquire would refuse it at run time).
func TestValidateOutputOnSource(t *testing.T) {
	looptest.RequireTool(t, "mkfs.ext4", "e2fsprogs")
	tmp := t.TempDir()
	img := filepath.Join(tmp, "fs.img")
	looptest.MakeImage(t, img, 16<<20)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v %s", err, out)
	}
	dev := looptest.Attach(t, img, looptest.Options{})
	mnt := filepath.Join(tmp, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() }) // before the detach (cleanups run last first)
	writeFile(t, filepath.Join(tmp, "f.img"), 4096)
	_, ps := Validate(Config{Output: filepath.Join(tmp, "out"), Jobs: []Job{
		{Label: "disk", Source: dev, Dir: filepath.Join(tmp, "out", "disk"), Options: options("disk")},
		{Label: "file", Source: filepath.Join(tmp, "f.img"), Dir: filepath.Join(mnt, "out", "file"), Options: options("file")},
	}})
	got := messages(ps)
	if !strings.Contains(got, "file: its output folder "+mnt+"/out/file is on a filesystem of a source device") ||
		!strings.Contains(got, "disk: source "+dev+" is in use ("+mnt+")") || len(ps) != 2 {
		t.Errorf("problems:\n%s", got)
	}
}

// TestRunOneFailureDoesNotStopOthers: a job that acquire refuses at run
// time ends with its code, the others complete, and the batch's code is
// the worst; a cancelled batch records the jobs it never began.
func TestRunOneFailureDoesNotStopOthers(t *testing.T) {
	tmp := t.TempDir()
	writeFile(t, filepath.Join(tmp, "odd.img"), 1000) // EWF wants whole sectors
	writeFile(t, filepath.Join(tmp, "ok.img"), 64<<10)
	odd := options("odd")
	odd.Format = "ewf"
	cfg := Config{Output: filepath.Join(tmp, "out"), Jobs: []Job{
		{Label: "odd", Source: filepath.Join(tmp, "odd.img"), Dir: filepath.Join(tmp, "out", "odd"), Options: odd},
		{Label: "ok", Source: filepath.Join(tmp, "ok.img"), Dir: filepath.Join(tmp, "out", "ok"), Options: options("ok")},
	}}
	plan, ps := Validate(cfg)
	if ps != nil {
		t.Fatal(ps)
	}
	var ended []string
	b := New(plan, RunOptions{Parallel: 1, OnEnd: func(r JobResult) { ended = append(ended, r.Name) }})
	s, err := b.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Jobs[0].Status != "refused" || s.Jobs[0].ExitCode != exitcode.Usage || s.Jobs[1].Status != "complete" || s.ExitCode != exitcode.Usage {
		t.Errorf("summary %+v", s)
	}
	if !slices.Equal(ended, []string{"odd", "ok"}) {
		t.Errorf("ended %v", ended)
	}
	if _, err := os.Stat(filepath.Join(tmp, "out", SummaryName)); err != nil {
		t.Error(err)
	}

	cfg.Output = filepath.Join(tmp, "out2")
	for i := range cfg.Jobs {
		cfg.Jobs[i].Dir = filepath.Join(cfg.Output, cfg.Jobs[i].Options.Name)
	}
	plan, _ = Validate(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err = New(plan, RunOptions{Parallel: 2}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Finished || s.Jobs[0].Status != StateNotStarted || s.Jobs[1].Status != StateNotStarted || s.ExitCode != exitcode.Failure {
		t.Errorf("cancelled batch: %+v", s)
	}
}

// TestResumeActions: with resume, a folder with a complete report is
// skipped, one with a journal is resumed, an empty one started; without
// resume, any earlier output of the job is refused.
func TestResumeActions(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	var jobs []Job
	for _, n := range []string{"done", "cut", "fresh"} {
		writeFile(t, filepath.Join(tmp, n+".img"), 256<<10)
		jobs = append(jobs, Job{Label: n, Source: filepath.Join(tmp, n+".img"), Dir: filepath.Join(out, n), Options: options(n)})
	}
	if _, err := acquire.New(jobs[0].Source, jobs[0].Dir, jobs[0].Options).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := acquire.New(jobs[1].Source, jobs[1].Dir, jobs[1].Options).Run(cancelled); err == nil {
		t.Fatal("a cancelled acquisition succeeded")
	}
	plan, ps := Validate(Config{Output: out, Jobs: jobs, Resume: true})
	if ps != nil {
		t.Fatal(ps)
	}
	var got []Action
	for _, j := range plan.Jobs {
		got = append(got, j.Action)
	}
	if d := cmp.Diff([]Action{ActionSkip, ActionResume, ActionStart}, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
	s, err := New(plan, RunOptions{Parallel: 3}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range s.Jobs {
		if j.Status != "complete" || j.ExitCode != 0 || j.Hashes["sha256"] == "" {
			t.Errorf("%s: %s exit %d", j.Name, j.Status, j.ExitCode)
		}
	}
	_, ps = Validate(Config{Output: out, Jobs: jobs})
	if len(ps) != 3 || !strings.Contains(ps[0].Msg, "already holds") || ps[0].Hint == "" {
		t.Errorf("without resume: %v", ps)
	}
}

// TestParallelLimit: never more than Parallel jobs run at once, and with
// enough chains that many do.
func TestParallelLimit(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	var jobs []Job
	for i := range 5 {
		n := string(rune('a' + i))
		writeFile(t, filepath.Join(tmp, n+".img"), 8<<20)
		jobs = append(jobs, Job{Label: n, Source: filepath.Join(tmp, n+".img"), Dir: filepath.Join(out, n), Options: options(n)})
	}
	plan, ps := Validate(Config{Output: out, Jobs: jobs})
	if ps != nil {
		t.Fatal(ps)
	}
	var mu sync.Mutex
	running, peak := 0, 0
	_, err := New(plan, RunOptions{
		Parallel: 2,
		OnStart: func(string) {
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			time.Sleep(50 * time.Millisecond) // let the other worker start
		},
		OnEnd: func(r JobResult) {
			mu.Lock()
			running--
			mu.Unlock()
		},
	}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if peak != 2 {
		t.Errorf("at most %d jobs ran at once, want 2", peak)
	}
}

// TestForeignOutputFolder: an existing batch output folder that others can
// write is refused, as acquire refuses such a job folder, both by Validate
// and by Run on the folder it opened (a folder swapped after validation);
// allow-foreign-folder on every job lets it be used.
func TestForeignOutputFolder(t *testing.T) {
	tmp := t.TempDir()
	writeFile(t, filepath.Join(tmp, "a.img"), 4096)
	out := filepath.Join(tmp, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := func(allow bool) Config {
		o := options("a")
		o.AllowForeignFolder = allow
		return Config{Output: out, Jobs: []Job{{Label: "a", Source: filepath.Join(tmp, "a.img"), Dir: filepath.Join(out, "a"), Options: o}}}
	}
	plan, ps := Validate(cfg(false))
	if ps != nil {
		t.Fatalf("own folder: %v", ps)
	}
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, ps := Validate(cfg(false)); !strings.Contains(messages(ps), "is writable by others (mode 0777)") {
		t.Errorf("a folder writable by others passed validation: %v", ps)
	}
	if _, err := New(plan, RunOptions{Parallel: 1}).Run(t.Context()); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("Run into a folder made writable by others after validation: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, SummaryName)); !os.IsNotExist(err) {
		t.Errorf("a summary was written into the foreign folder: %v", err)
	}
	if _, ps := Validate(cfg(true)); ps != nil {
		t.Errorf("allow-foreign-folder: %v", ps)
	}
}
