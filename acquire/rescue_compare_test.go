package acquire_test

// Long comparisons with GNU ddrescue on the same fault device, and the
// peak memory of the built binary. They take minutes, so they run only
// when asked:
//
//	CUSTODIAN_DDRESCUE_COMPARE=1 flock /tmp/custodian-devices.lock \
//	    go test -count=1 -run 'TestCompare' -v -timeout 30m ./acquire
//
// TestCompareDdrescue logs, per pattern, the failed reads and seconds of
// an acquisition and of `ddrescue -d` (no retries, its default) on one
// faultdisk device, and fails if custodian needs more than twice either.
// TestCompareMemory logs the peak RSS of `custodian acquire` on a clean
// disk and on one with 128 MiB unreadable.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/internal/faultdisk"
	"github.com/custodian-forensics/custodian/internal/looptest"
)

func requireCompare(t *testing.T) {
	t.Helper()
	if os.Getenv("CUSTODIAN_DDRESCUE_COMPARE") == "" {
		t.Skip("set CUSTODIAN_DDRESCUE_COMPARE=1 to compare with GNU ddrescue (minutes)")
	}
	looptest.RequireTool(t, "ddrescue", "gddrescue")
}

type comparePattern struct {
	name  string
	size  int64
	bad   []faultdisk.Range
	delay time.Duration // every read
}

func comparePatterns() []comparePattern {
	const mib = 1 << 20
	return []comparePattern{
		{name: "32 MiB dead", size: 64 * mib, bad: []faultdisk.Range{{Offset: 16 * mib, Length: 32 * mib}}},
		{name: "64 MiB dead", size: 96 * mib, bad: []faultdisk.Range{{Offset: 16 * mib, Length: 64 * mib}}},
		{name: "1 MiB dead, 2 ms per read", size: 16 * mib, bad: []faultdisk.Range{{Offset: 8 * mib, Length: mib}}, delay: 2 * time.Millisecond},
	}
}

// ddrescueRun runs `ddrescue -d` on dev into dir and returns its mapfile
// path and how long it took.
func ddrescueRun(t *testing.T, dev string, sector int, dir string, extra ...string) (string, time.Duration) {
	t.Helper()
	img, mp := filepath.Join(dir, "dd.img"), filepath.Join(dir, "dd.map")
	args := append([]string{"-d", "-q", "-b", strconv.Itoa(sector)}, extra...)
	args = append(args, dev, img, mp)
	start := time.Now()
	out, err := exec.Command("ddrescue", args...).CombinedOutput()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("ddrescue %v: %v\n%s", args, err, out)
	}
	return mp, took
}

func TestCompareDdrescue(t *testing.T) {
	requireCompare(t)
	for _, p := range comparePatterns() {
		t.Run(p.name, func(t *testing.T) {
			o := faultdisk.Options{Size: p.size, Content: faultdisk.Pattern(9), Bad: p.bad, Delay: p.delay}
			d := faultdisk.Device(t, o, 512)
			opts := badOptions()
			opts.ReadSize = acquire.DefaultReadSize
			opts.Retries = acquire.DefaultRetries
			opts.Buffers = acquire.DefaultBuffers

			d.ResetReads()
			r, _, took, err := acquired(t, d.Dev, opts)
			if !errors.Is(err, acquire.ErrUnreadable) {
				t.Fatalf("Run: %v", err)
			}
			ours := d.Failures()
			oursReads := len(d.Reads())

			d.ResetReads()
			_, ddTook := ddrescueRun(t, d.Dev, 512, t.TempDir())
			theirs := d.Failures()
			theirsReads := len(d.Reads())

			t.Logf("%s: custodian %d failed reads (%d in all), %.1f s; ddrescue -d %d failed reads (%d in all), %.1f s; unreadable %d bytes",
				p.name, ours, oursReads, took.Seconds(), theirs, theirsReads, ddTook.Seconds(), r.UnreadableBytes())
			if ours > 2*theirs || took > 2*ddTook {
				t.Errorf("custodian needs more than twice ddrescue's failed reads or time")
			}
		})
	}
}

// buildCustodian builds the binary once per test into a temporary folder.
func buildCustodian(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "custodian")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/custodian-forensics/custodian/cmd/custodian").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// peakRSS runs the binary's acquire on dev under /usr/bin/time and returns
// its peak resident set and the report's size. (Not this process's wait4
// rusage of a direct child: Go starts children with CLONE_VM, so their
// ru_maxrss starts at this test process's own high-water mark.)
func peakRSS(t *testing.T, bin, dev string) (int64, int64) {
	t.Helper()
	looptest.RequireTool(t, "/usr/bin/time", "time")
	dir := filepath.Join(t.TempDir(), "ev")
	rss := filepath.Join(t.TempDir(), "rss")
	cmd := exec.CommandContext(context.Background(), "/usr/bin/time", "-f", "%M", "-o", rss, bin, "acquire", dev, "-o", dir, "--name", "m",
		"--hash", "md5,sha256", "--restore-writeblock")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v\n%s", bin, err, out)
	}
	fi, serr := os.Stat(filepath.Join(dir, "m.report.json"))
	if serr != nil {
		t.Fatalf("no report: %v\n%s", serr, out)
	}
	b, err := os.ReadFile(rss)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	kb, err := strconv.ParseInt(f[len(f)-1], 10, 64)
	if err != nil {
		t.Fatalf("/usr/bin/time said %q", b)
	}
	return kb * 1024, fi.Size()
}

func TestCompareMemory(t *testing.T) {
	requireCompare(t)
	bin := buildCustodian(t)
	const mib = 1 << 20
	for _, bad := range []int64{0, 32 * mib, 128 * mib} {
		t.Run(fmt.Sprintf("%d MiB unreadable", bad/mib), func(t *testing.T) {
			o := faultdisk.Options{Size: 160 * mib, Content: faultdisk.Pattern(2)}
			if bad > 0 {
				o.Bad = []faultdisk.Range{{Offset: 16 * mib, Length: bad}}
			}
			d := faultdisk.Device(t, o, 512)
			start := time.Now()
			rss, rep := peakRSS(t, bin, d.Dev)
			t.Logf("%d MiB unreadable: peak RSS %.1f MiB, report.json %d bytes, %.1f s",
				bad/mib, float64(rss)/mib, rep, time.Since(start).Seconds())
		})
	}
}

// TestCompareSourceStops: a 1 GiB disk that stops answering at 16 MiB.
// ddrescue -d would scrape the 1008 MiB sector by sector (some 2 million
// failed reads); custodian stops after the first dead MiB and its probes.
func TestCompareSourceStops(t *testing.T) {
	requireCompare(t)
	const mib = 1 << 20
	o := faultdisk.Options{Size: 1024 * mib, Content: faultdisk.Pattern(3), DeadFrom: 16 * mib}
	d := faultdisk.Device(t, o, 512)
	opts := badOptions()
	opts.ReadSize = acquire.DefaultReadSize
	r, _, took, err := acquired(t, d.Dev, opts)
	if !errors.Is(err, acquire.ErrSourceDead) {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("dead from 16 MiB of 1 GiB: stopped after %.1f s, %d failed reads; %s", took.Seconds(), d.Failures(), r.Error)
}
