package cmd

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/internal/faultdisk"
	"github.com/custodian-forensics/custodian/internal/looptest"
	"github.com/custodian-forensics/custodian/report"
)

// lastJSONLine decodes the last line of stdout (the --json result).
func lastJSONLine(t *testing.T, stdout string) resultLine {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var r resultLine
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil || r.Type != "result" {
		t.Fatalf("last stdout line is not a result: %v\n%s", err, stdout)
	}
	return r
}

func sampleSHA256(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/sample.img.sha256")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))[0]
}

// TestAcquireSampleDisk is the README's first command, in-process.
func TestAcquireSampleDisk(t *testing.T) {
	out := filepath.Join(t.TempDir(), "evidence")
	code, stdout, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", out,
		"--case-number", "DEMO-1", "--examiner", "tester", "--verify", "--segment-size", "3MiB", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	r := lastJSONLine(t, stdout)
	if r.ExitCode != 0 || r.Status != report.StatusComplete || r.Hashes["sha256"] != sampleSHA256(t) || r.Segments != 3 {
		t.Errorf("result %+v", r)
	}
	if r.Verified == nil || !*r.Verified {
		t.Errorf("not verified: %+v", r)
	}
	for _, f := range []string{"sample.001", "sample.002", "sample.003", "sample.report.json", "sample.report.txt"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(stderr, "status:      complete") {
		t.Errorf("no human summary on stderr with --json:\n%s", stderr)
	}
	// verify agrees.
	if code, _, stderr := runCLI(t, "verify", "--no-trust", out); code != ExitOK {
		t.Errorf("verify: exit %d\n%s", code, stderr)
	}
}

// TestAcquireRefusals: bad input gets exit 2 and a clear message, and
// nothing is written.
func TestAcquireRefusals(t *testing.T) {
	tmp := t.TempDir()
	existing := filepath.Join(tmp, "existing")
	if code, _, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", existing, "--json"); code != 0 {
		t.Fatalf("setup: exit %d %s", code, stderr)
	}
	before := dirListing(t, existing)
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown hash", []string{"../testdata/sample.img", "--hash", "md5,crc32"}, "unknown hash algorithm"},
		{"bad size", []string{"../testdata/sample.img", "--segment-size", "2XB"}, "invalid size"},
		{"negative size", []string{"../testdata/sample.img", "--hash-window", "-1"}, "invalid size"},
		{"compress with raw", []string{"../testdata/sample.img", "--compress", "best"}, "--format ewf"},
		{"unknown format", []string{"../testdata/sample.img", "--format", "aff4"}, "not supported (supported: raw, ewf)"},
		{"compression unknown to ewf", []string{"../testdata/sample.img", "--format", "ewf", "--compress", "zstd"}, "zstd"},
		{"bad segment hash", []string{"../testdata/sample.img", "--segment-hash", "whirlpool"}, "unknown hash algorithm"},
		{"source /dev/null", []string{"/dev/null"}, "hint:"},
		{"source directory", []string{tmp}, "hint:"},
		{"source missing", []string{filepath.Join(tmp, "nope.img")}, "nope.img"},
		{"no output", []string{"../testdata/sample.img", "-o", ""}, "output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(tmp, "out-"+strings.ReplaceAll(tc.name, " ", "-"))
			args := append([]string{"acquire"}, tc.args...)
			if !strings.Contains(strings.Join(tc.args, " "), "-o ") {
				args = append(args, "-o", out)
			}
			code, _, stderr := runCLI(t, args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want 2\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "custodian: error:") || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output folder %s was created", out)
			}
		})
	}
	t.Run("existing image", func(t *testing.T) {
		code, _, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", existing)
		// A complete image: the hint points to verify, not to --resume
		// (which would fail with "already complete"; issue 13 #15).
		if code != ExitUsage || !strings.Contains(stderr, "hint: that acquisition is complete") || strings.Contains(stderr, "--resume") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
		if after := dirListing(t, existing); strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Errorf("folder changed: %v -> %v", before, after)
		}
	})
}

func dirListing(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		fi, _ := e.Info()
		out = append(out, e.Name()+" "+fi.ModTime().String())
	}
	return out
}

// TestAcquireConfigPrecedence: flag > CUSTODIAN_* environment > --config.
func TestAcquireConfigPrecedence(t *testing.T) {
	tmp := t.TempDir()
	cfg := filepath.Join(tmp, "custodian.yaml")
	os.WriteFile(cfg, []byte("segment-size: 1MiB\nhash: [sha1, sha512]\ncase_number: CFG-7\nexaminer: From Config\n"), 0o600)
	t.Setenv("CUSTODIAN_SEGMENT_SIZE", "4MiB")
	t.Setenv("CUSTODIAN_EXAMINER", "From Env")
	out := filepath.Join(tmp, "ev")
	code, stdout, stderr := runCLI(t, "--config", cfg, "acquire", "../testdata/sample.img", "-o", out, "--hash", "md5", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	res := lastJSONLine(t, stdout)
	if len(res.Hashes) != 1 || res.Hashes["md5"] == "" {
		t.Errorf("--hash md5 on the command line should win over the config: %v", res.Hashes)
	}
	if res.Segments != 2 { // 8 MiB in 4 MiB segments (env) rather than 1 MiB (config)
		t.Errorf("%d segments, want 2 (CUSTODIAN_SEGMENT_SIZE=4MiB beats the config)", res.Segments)
	}
	b, _ := os.ReadFile(filepath.Join(out, "sample.report.json"))
	r, err := report.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Case.CaseNumber != "CFG-7" || r.Case.Examiner != "From Env" {
		t.Errorf("case %+v: want case number from config, examiner from env", r.Case)
	}

	// Other commands do not take values from the environment: a batch
	// job's CUSTODIAN_OUTPUT must not become keygen's -o.
	t.Setenv("CUSTODIAN_OUTPUT", filepath.Join(tmp, "leaked-key"))
	if code, _, _ := runCLI(t, "keygen"); code != ExitUsage {
		t.Errorf("keygen without -o: exit %d, want 2", code)
	}
	if _, err := os.Stat(filepath.Join(tmp, "leaked-key")); !os.IsNotExist(err) {
		t.Error("keygen wrote a key to the path from CUSTODIAN_OUTPUT")
	}
}

// TestAcquireSIGINTAndResume sends SIGINT to a real custodian process
// imaging a slow (FUSE-backed) block device: it must stop cleanly with exit
// 1, an incomplete report and only *.partial segments; --resume then
// completes the image with the right hash.
func TestAcquireSIGINTAndResume(t *testing.T) {
	o := faultdisk.Options{Size: 24 << 20, Content: faultdisk.Pattern(99), Delay: 4 * time.Millisecond}
	d := faultdisk.Device(t, o, 512)
	want := sha256.Sum256(o.Image())
	out := filepath.Join(t.TempDir(), "ev")
	args := []string{"acquire", d.Dev, "-o", out, "--name", "slow", "--hash", "sha256", "--segment-size", "5MiB",
		"--checkpoint-every", "1MiB", "--read-size", "256KiB", "--restore-writeblock", "--json"}

	c := custodianProcess(t, args...)
	stdout, _ := c.StdoutPipe()
	var stderr strings.Builder
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(out, "slow.journal")
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(journal)
		if strings.Contains(string(b), `"checkpoint"`) {
			break
		}
		if time.Now().After(deadline) {
			c.Process.Kill()
			t.Fatalf("no checkpoint in %s after 20 s", journal)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Process.Signal(syscall.SIGINT)
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	err := c.Wait()
	code := c.ProcessState.ExitCode()
	if code != ExitFailure {
		t.Fatalf("after SIGINT: exit %d (%v), want 1\nstderr:\n%s", code, err, stderr.String())
	}
	res := lastJSONLine(t, strings.Join(lines, "\n"))
	if res.Status != report.StatusIncomplete || res.ExitCode != 1 || res.BytesAcquired >= o.Size {
		t.Errorf("result after SIGINT: %+v", res)
	}
	if !strings.Contains(stderr.String(), "--resume") {
		t.Errorf("no resume hint:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "interrupted: interrupted") || strings.Contains(stderr.String(), "pipeline:") {
		t.Errorf("doubled wording (issue 13 #14):\n%s", stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(out, "slow.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := report.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != report.StatusIncomplete || len(r.Hashes) != 0 {
		t.Errorf("report after SIGINT: status %s, hashes %v", r.Status, r.Hashes)
	}
	if final, _ := filepath.Glob(filepath.Join(out, "slow.[0-9][0-9][0-9]")); len(final) != 0 {
		t.Errorf("segments with final names after SIGINT: %v", final)
	}
	if code, _, stderr := runCLI(t, "verify", out); code == ExitOK {
		t.Errorf("verify of an incomplete acquisition exited 0:\n%s", stderr)
	}

	// The same command without --resume is refused with a hint that tells
	// an interrupted acquisition (a journal) from a complete one.
	if code, _, stderr := runCLI(t, args...); code != ExitUsage || !strings.Contains(stderr, "hint: that acquisition was interrupted and its journal is kept: continue it with the same command plus --resume") {
		t.Errorf("rerun without --resume: exit %d\n%s", code, stderr)
	}

	// Resume in-process: completes with the uninterrupted hash.
	resume := append(append([]string{}, args...), "--resume")
	code, stdout2, stderr2 := runCLI(t, resume...)
	if code != ExitOK {
		t.Fatalf("resume: exit %d\n%s", code, stderr2)
	}
	res2 := lastJSONLine(t, stdout2)
	if res2.Hashes["sha256"] != hex.EncodeToString(want[:]) || res2.Segments != 5 {
		t.Errorf("resumed result %+v, want sha256 %x and 5 segments", res2, want)
	}
	if code, _, stderr := runCLI(t, "verify", "--no-trust", out); code != ExitOK {
		t.Errorf("verify after resume: exit %d\n%s", code, stderr)
	}
}

// TestAcquireWrongPassphraseBeforeImaging: an encrypted signing key with the
// wrong passphrase fails at once (exit 2, hint), before the output folder
// exists, never after hours of imaging; the right one signs a report that
// stock OpenSSH accepts.
func TestAcquireWrongPassphraseBeforeImaging(t *testing.T) {
	tmp := t.TempDir()
	key := filepath.Join(tmp, "examiner")
	t.Setenv(passphraseEnv, "correct horse")
	if code, _, stderr := runCLI(t, "keygen", "-o", key, "-I", "examiner@lab"); code != 0 {
		t.Fatalf("keygen: exit %d\n%s", code, stderr)
	}
	out := filepath.Join(tmp, "ev")
	t.Setenv(passphraseEnv, "wrong")
	code, _, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", out, "--sign-key", key)
	if code != ExitUsage || !strings.Contains(stderr, "hint:") {
		t.Fatalf("wrong passphrase: exit %d, want 2 with a hint\n%s", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("the output folder exists after a key failure: %v", err)
	}

	t.Setenv(passphraseEnv, "correct horse")
	if code, _, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", out, "--sign-key", key, "--json"); code != 0 {
		t.Fatalf("right passphrase: exit %d\n%s", code, stderr)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(tmp, "allowed_signers")
	os.WriteFile(allowed, []byte(`examiner@lab namespaces="custodian" `+string(pub)), 0o644)
	rep, err := os.Open(filepath.Join(out, "sample.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "examiner@lab", "-n", "custodian",
		"-s", filepath.Join(out, "sample.report.json.sig"))
	cmd.Stdin = rep
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y verify: %v\n%s", err, b)
	}
}

// TestAcquireFullDestinationThenResume fills a real (tmpfs) destination:
// exit 1 with a hint, the complete segments and a journal checkpoint at the
// last segment boundary are kept; after the destination grows, --resume
// finishes from there with the right hash.
func TestAcquireFullDestinationThenResume(t *testing.T) {
	looptest.RequireRoot(t)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=6m", "custodian-test", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	out := filepath.Join(mnt, "ev")
	args := []string{"acquire", "../testdata/sample.img", "-o", out, "--segment-size", "2MiB", "--read-size", "1MiB", "--json"}

	code, stdout, stderr := runCLI(t, append(args, "--force")...)
	if code != ExitFailure {
		t.Fatalf("full destination: exit %d, want 1\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "destination is full") || !strings.Contains(stderr, "--resume") {
		t.Errorf("no clear error and resume hint:\n%s", stderr)
	}
	// Imaging stops before the filesystem is full (issue 13, item 2), with
	// a checkpoint where it stopped: the error names that byte.
	m := regexp.MustCompile(`stopped before it filled up, at byte (\d+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("the error does not say where imaging stopped before the destination filled up:\n%s", stderr)
	}
	stoppedAt, _ := strconv.ParseInt(m[1], 10, 64)
	res := lastJSONLine(t, stdout)
	if res.Status != report.StatusIncomplete || res.ExitCode != 1 || res.BytesAcquired != stoppedAt {
		t.Errorf("result %+v, want incomplete with %d bytes acquired", res, stoppedAt)
	}
	b, err := os.ReadFile(filepath.Join(out, "sample.journal"))
	if err != nil {
		t.Fatalf("no journal after a full destination: %v", err)
	}
	var j struct {
		Checkpoint *struct{ Offset int64 } `json:"checkpoint"`
	}
	if err := json.Unmarshal(b, &j); err != nil || j.Checkpoint == nil || j.Checkpoint.Offset != stoppedAt || stoppedAt < 3<<20 {
		t.Fatalf("journal checkpoint %+v (%v): want where imaging stopped (%d, ≥ 3 MiB)", j.Checkpoint, err, stoppedAt)
	}

	if out, err := exec.Command("mount", "-o", "remount,size=32m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("grow tmpfs: %v %s", err, out)
	}
	code, stdout, stderr = runCLI(t, append(args, "--resume")...)
	if code != ExitOK {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	if res := lastJSONLine(t, stdout); res.Hashes["sha256"] != sampleSHA256(t) || res.Segments != 4 {
		t.Errorf("resumed result %+v", res)
	}
}

// TestAcquiredSegmentsReadByTSK: The Sleuth Kit reads the raw segments as
// one split image: img_stat sees the whole size split over the files, mmls
// finds both partitions of the sample disk, and icat recovers the deleted
// SECRET.TXT (inode 10 of the first volume) through the segment boundaries,
// with the sha256 testdata/README.md gives for it.
func TestAcquiredSegmentsReadByTSK(t *testing.T) {
	for _, tool := range []string{"img_stat", "mmls", "icat"} {
		looptest.RequireTool(t, tool, "sleuthkit")
	}
	out := filepath.Join(t.TempDir(), "ev")
	if code, _, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", out, "--segment-size", "3MiB", "--json"); code != 0 {
		t.Fatalf("acquire: exit %d\n%s", code, stderr)
	}
	segs := []string{"sample.001", "sample.002", "sample.003"}
	tsk := func(name string, args ...string) string {
		t.Helper()
		c := exec.Command(name, append(append([]string{"-i", "raw"}, args...), segs...)...)
		c.Dir = out
		b, err := c.Output()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return string(b)
	}
	if s := tsk("img_stat"); !strings.Contains(s, "Size in bytes: 8388608") || !strings.Contains(s, "sample.003  (6291456 to 8388607)") {
		t.Errorf("img_stat:\n%s", s)
	}
	mm := tsk("mmls")
	for _, want := range []string{"0000002048   0000008191   0000006144   DOS FAT12", "0000008704   0000014847   0000006144   DOS FAT16"} {
		if !strings.Contains(mm, want) {
			t.Errorf("mmls lacks %q:\n%s", want, mm)
		}
	}
	c := exec.Command("icat", append(append([]string{"-i", "raw", "-o", "2048"}, segs...), "10")...)
	c.Dir = out
	secret, err := c.Output()
	if err != nil {
		t.Fatalf("icat: %v", err)
	}
	if sum := sha256.Sum256(secret); hex.EncodeToString(sum[:]) != "296a7abbbc8ef9593b3b5325199b76f4ac8c340effd8832b55be2a4fad1ee8cf" {
		t.Errorf("deleted SECRET.TXT recovered through the segments has sha256 %x", sum)
	}
}

// TestAcquireInputNotDropped: nothing given is dropped silently. A repeated
// --hash adds up; an unknown config key or CUSTODIAN_* variable is refused
// with a did-you-mean before anything is written; a safeguard cannot be
// switched off from the environment or a config; and the report says
// where every setting that was not typed came from.
func TestAcquireInputNotDropped(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "ev")
	code, stdout, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", out, "--hash", "md5", "--hash", "sha1", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if res := lastJSONLine(t, stdout); len(res.Hashes) != 2 || res.Hashes["md5"] == "" || res.Hashes["sha1"] == "" {
		t.Errorf("--hash md5 --hash sha1 computed %v, want both", res.Hashes)
	}

	cfg := filepath.Join(tmp, "typo.yaml")
	os.WriteFile(cfg, []byte("examinr: J. Doe\ncase_number: C-1\n"), 0o600)
	out2 := filepath.Join(tmp, "ev2")
	code, _, stderr = runCLI(t, "--config", cfg, "acquire", "../testdata/sample.img", "-o", out2)
	if code != ExitUsage || !strings.Contains(stderr, `"examinr"`) || !strings.Contains(stderr, "did you mean examiner?") {
		t.Errorf("config typo: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Error("the output folder was created although the config was refused")
	}

	t.Setenv("CUSTODIAN_EXAMINR", "J. Doe")
	code, _, stderr = runCLI(t, "acquire", "../testdata/sample.img", "-o", out2)
	if code != ExitUsage || !strings.Contains(stderr, "CUSTODIAN_EXAMINR") || !strings.Contains(stderr, "did you mean CUSTODIAN_EXAMINER?") {
		t.Errorf("environment typo: exit %d\n%s", code, stderr)
	}
	os.Unsetenv("CUSTODIAN_EXAMINR")

	t.Setenv("CUSTODIAN_NO_WRITEBLOCK", "true")
	code, _, stderr = runCLI(t, "acquire", "../testdata/sample.img", "-o", out2)
	if code != ExitUsage || !strings.Contains(stderr, "--no-writeblock") || !strings.Contains(stderr, "command line") {
		t.Errorf("safeguard off from the environment: exit %d\n%s", code, stderr)
	}
	os.Unsetenv("CUSTODIAN_NO_WRITEBLOCK")

	t.Setenv("CUSTODIAN_EXAMINER", "From Env")
	out3 := filepath.Join(tmp, "ev3")
	if code, _, stderr = runCLI(t, "acquire", "../testdata/sample.img", "-o", out3, "--case-number", "C-9"); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	b, _ := os.ReadFile(filepath.Join(out3, "sample.report.json"))
	r, err := report.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range r.Settings.Origins {
		got[o.Setting] = o.Value + " from " + o.From
	}
	if got["examiner"] != "From Env from environment CUSTODIAN_EXAMINER" || got["case-number"] != "C-9 from command line" {
		t.Errorf("origins %v", r.Settings.Origins)
	}
}

// TestAcquireRefusesUpFront: a --name the report could not hold and absurd
// sizes are refused before the source is read (exit 2, nothing written).
func TestAcquireRefusesUpFront(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"newline in name", []string{"--name", "ev\nil"}, "invalid image name"},
		{"escape in name", []string{"--name", "ev\x1b[2J"}, "invalid image name"},
		{"backslash in name", []string{"--name", `ev\il`}, "invalid image name"},
		{"name too long", []string{"--name", strings.Repeat("n", 227)}, "invalid image name"},
		{"segment of 2 bytes", []string{"--segment-size", "2"}, "below the minimum"},
		{"segment not whole sectors", []string{"--segment-size", "1000000100"}, "multiples of 512"},
		{"hash window of 1 byte", []string{"--hash-window", "1B"}, "below the minimum"},
		{"buffers beyond memory", []string{"--buffers", "100000"}, "of buffers, more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "ev")
			code, _, stderr := runCLI(t, append([]string{"acquire", "../testdata/sample.img", "-o", out}, tc.args...)...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "hint:") {
				t.Errorf("exit %d, want 2 mentioning %q with a hint:\n%s", code, tc.want, stderr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Error("the output folder exists after a refusal")
			}
		})
	}
}
