package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/internal/faultdisk"
	"github.com/custodian-forensics/custodian/internal/looptest"
)

// benchEnvInt reads a benchmark knob from the environment.
func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// batchFile writes a batch of devs with the default hashes.
func batchFile(b *testing.B, dir string, devs []string) string {
	b.Helper()
	var sb strings.Builder
	fmt.Fprintf(&sb, "defaults:\n  output: %s\n  restore-writeblock: true\njobs:\n", filepath.Join(dir, "out"))
	for i, d := range devs {
		fmt.Fprintf(&sb, "  - {source: %s, name: d%d}\n", d, i)
	}
	f := filepath.Join(dir, "batch.yaml")
	if err := os.WriteFile(f, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	return f
}

// runBatchTimed runs the batch with --jobs n into a fresh folder and
// returns its wall time.
func runBatchTimed(b *testing.B, dir, file string, n int) time.Duration {
	b.Helper()
	if err := os.RemoveAll(filepath.Join(dir, "out")); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	var stdout, stderr strings.Builder
	code := run(b.Context(), []string{"batch", file, "--jobs", strconv.Itoa(n), "--json"}, strings.NewReader(""), &stdout, &stderr)
	el := time.Since(t0)
	if code != ExitOK {
		b.Fatalf("batch --jobs %d: exit %d\n%s", n, code, stderr.String())
	}
	return el
}

// BenchmarkBatch measures a batch's wall time against the same jobs one
// after another (--jobs 1), interleaved round by round so that the
// machine's other load hits both alike: page-cached loop devices (hashing
// is the limit) and FUSE disks throttled to a fixed rate (each disk's
// read speed is the limit). bench/batch.sh runs it; BATCH_MIB (size of
// each cached device, default 256), BATCH_SLOW_MIB (each slow device, 48)
// and BATCH_SLOW_RATE (MiB/s, 16) change the set-up.
func BenchmarkBatch(b *testing.B) {
	looptest.RequireRoot(b)
	cachedMiB := benchEnvInt("BATCH_MIB", 256)
	slowMiB := benchEnvInt("BATCH_SLOW_MIB", 48)
	rate := benchEnvInt("BATCH_SLOW_RATE", 16)
	cached := func(b *testing.B, n int) []string {
		var devs []string
		for i := range n {
			f := filepath.Join(b.TempDir(), "d.img")
			if err := os.WriteFile(f, randomBytes(uint64(i+1), cachedMiB<<20), 0o600); err != nil {
				b.Fatal(err)
			}
			devs = append(devs, looptest.Attach(b, f, looptest.Options{}))
		}
		return devs
	}
	slow := func(b *testing.B, n int) []string {
		var devs []string
		for i := range n {
			d := faultdisk.Device(b, faultdisk.Options{Size: int64(slowMiB) << 20, Content: faultdisk.Pattern(uint64(i)), Rate: int64(rate) << 20}, 512)
			devs = append(devs, d.Dev)
		}
		return devs
	}
	for _, tc := range []struct {
		name string
		devs func(*testing.B, int) []string
		n    int
		jobs []int
	}{
		{"cached-2", cached, 2, []int{1, 2}},
		{"cached-4", cached, 4, []int{1, 2, 4}},
		{"slow-2", slow, 2, []int{1, 2}},
		{"slow-4", slow, 4, []int{1, 2, 4}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			devs := tc.devs(b, tc.n)
			dir := b.TempDir()
			file := batchFile(b, dir, devs)
			total := map[int]time.Duration{}
			rounds := 0
			for b.Loop() {
				for _, j := range tc.jobs {
					total[j] += runBatchTimed(b, dir, file, j)
				}
				rounds++
			}
			for _, j := range tc.jobs {
				b.ReportMetric(total[j].Seconds()/float64(rounds), fmt.Sprintf("s/jobs%d", j))
				if j > 1 {
					b.ReportMetric(total[1].Seconds()/total[j].Seconds(), fmt.Sprintf("speedup-jobs%d", j))
				}
			}
		})
	}
}
