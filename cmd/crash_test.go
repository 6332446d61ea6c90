package cmd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/report"
)

// TestSIGKILLAtAnyMoment kills a real custodian process with SIGKILL at
// random moments over whole runs (imaging, the end checkpoint, the rename
// loop, the report, --verify), then runs the same command with --resume.
// Every trial must end with a complete report whose hashes are the
// source's and a folder that custodian verify accepts: --resume finishes
// what was left, or refuses cleanly because the acquisition was already
// complete (or never began: then a new run succeeds).
func TestSIGKILLAtAnyMoment(t *testing.T) {
	for _, tc := range []struct {
		format string
		trials int
	}{{"raw", 30}, {"ewf", 15}} {
		t.Run(tc.format, func(t *testing.T) {
			trials := tc.trials
			if testing.Short() {
				trials = 5
			}
			sigkillTrials(t, tc.format, trials)
		})
	}
}

func sigkillTrials(t *testing.T, format string, trials int) {
	data := make([]byte, 24<<20+3*512)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	src := filepath.Join(t.TempDir(), "source.img")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	args := func(out string, resume bool) []string {
		a := []string{"acquire", src, "-o", out, "--name", "ev", "--format", format, "--hash", "md5,sha256", "--segment-size", "4MiB",
			"--checkpoint-every", "1MiB", "--read-size", "256KiB", "--verify", "--json"}
		if resume {
			a = append(a, "--resume")
		}
		return a
	}

	// How long a whole run takes here: the kills are spread over it.
	t0 := time.Now()
	if out, err := custodianProcess(t, args(filepath.Join(t.TempDir(), "probe"), false)...).CombinedOutput(); err != nil {
		t.Fatalf("a clean run failed: %v\n%s", err, out)
	}
	span := time.Since(t0)
	t.Logf("a whole run takes %v; killing at random moments within %v", span, span*5/4)

	outcomes := map[string]int{}
	for trial := range trials {
		out := filepath.Join(t.TempDir(), fmt.Sprintf("ev%d", trial))
		c := custodianProcess(t, args(out, false)...)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int64N(int64(span * 5 / 4)))
		timer := time.AfterFunc(delay, func() { c.Process.Kill() })
		err := c.Wait()
		timer.Stop()
		state := folderState(out)
		var ee *exec.ExitError
		killed := errors.As(err, &ee) && !ee.Exited()
		if !killed {
			outcomes["finished before the kill"]++
		} else {
			outcomes["killed: "+state]++
		}

		res, rerr := custodianProcess(t, args(out, true)...).CombinedOutput()
		code := exitOf(rerr)
		switch {
		case code == ExitOK:
		case code == ExitUsage && bytes.Contains(res, []byte("already complete")):
		case code == ExitUsage && (bytes.Contains(res, []byte("no journal")) || bytes.Contains(res, []byte("no output folder"))) && !strings.Contains(state, "partial"):
			// Killed before anything was imaged: a new run starts it.
			if res2, err := custodianProcess(t, args(out, false)...).CombinedOutput(); err != nil {
				t.Fatalf("trial %d (killed at %v, %s): a new run after a refused resume failed: %v\n%s", trial, delay, state, err, res2)
			}
		default:
			t.Fatalf("trial %d (killed at %v, folder: %s): --resume exit %d\n%s", trial, delay, state, code, tail(res))
		}
		r, err := readReportFile(filepath.Join(out, "ev.report.json"))
		if err != nil {
			t.Fatalf("trial %d (killed at %v, %s): %v", trial, delay, state, err)
		}
		if r.Status != report.StatusComplete || r.Hashes["sha256"] != want {
			t.Fatalf("trial %d (killed at %v, %s): report %s, sha256 %s, want complete %s", trial, delay, state, r.Status, r.Hashes["sha256"], want)
		}
		if vout, err := custodianProcess(t, "verify", "--no-trust", out).CombinedOutput(); err != nil {
			t.Fatalf("trial %d (killed at %v, %s): verify after the resume: %v\n%s", trial, delay, state, err, vout)
		}
		if _, err := os.Stat(filepath.Join(out, "ev.journal")); !os.IsNotExist(err) {
			t.Errorf("trial %d: the journal is left beside a complete report", trial)
		}
	}
	t.Logf("%d trials: %v", trials, outcomes)
}

// folderState names what a killed run left: the kinds of files present.
func folderState(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "no folder"
	}
	kinds := map[string]bool{}
	for _, e := range entries {
		n := e.Name()
		switch {
		case strings.HasSuffix(n, ".partial"):
			kinds["partial"] = true
		case strings.HasSuffix(n, ".journal"):
			b, _ := os.ReadFile(filepath.Join(dir, n))
			if bytes.Contains(b, []byte("final_hashes")) {
				kinds["journal with final hashes"] = true
			} else {
				kinds["journal"] = true
			}
		case strings.HasSuffix(n, ".report.json"):
			r, err := readReportFile(filepath.Join(dir, n))
			if err == nil && r.Verification.Performed {
				kinds["verified report"] = true
			} else if err == nil {
				kinds[string(r.Status)+" report"] = true
			}
		case strings.HasPrefix(n, "ev.0"), strings.HasPrefix(n, "ev.E"):
			kinds["final segments"] = true
		}
	}
	if len(kinds) == 0 {
		return "empty folder"
	}
	var out []string
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func readReportFile(path string) (*report.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return report.Parse(b)
}

func exitOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// tail is the last lines of a command's output.
func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-6):], "\n")
}
