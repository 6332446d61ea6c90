package acquire_test

// Bad sectors through the real kernel path: a FUSE file that fails chosen
// byte ranges with EIO, attached read-only to a loop device
// (internal/faultdisk), imaged by acquire.New(...).Run like any disk. The
// O_DIRECT read of a block fails, sourceReader reads it again in clusters,
// a failed cluster sector by sector, retries the failed sectors of partly
// readable clusters, zero-fills and records the ones that stay unreadable
// (one range and one event per run), and writes NAME.map.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/faultdisk"
	"github.com/custodian-forensics/custodian/report"
	"github.com/google/go-cmp/cmp"
)

const (
	diskSize = 4 << 20
	readSize = 64 << 10 // small, so that bad ranges cross read blocks
)

func badOptions() acquire.Options {
	return acquire.Options{
		Name: "bad", Format: "raw",
		Hashes:   hashing.Set{hashing.MD5, hashing.SHA1, hashing.SHA256},
		ReadSize: readSize, Buffers: 4, Retries: 3,
		WriteBlock: true, RestoreWriteBlock: true,
		Now: func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) },
	}
}

func hashesOf(data []byte) report.Hashes {
	m, s1, s256 := md5.Sum(data), sha1.Sum(data), sha256.Sum256(data)
	return report.Hashes{"md5": hex.EncodeToString(m[:]), "sha1": hex.EncodeToString(s1[:]), "sha256": hex.EncodeToString(s256[:])}
}

// acquired images dev and returns the report, the image's bytes, how long
// Run took and Run's error.
func acquired(t *testing.T, dev string, o acquire.Options) (*report.Report, []byte, time.Duration, error) {
	t.Helper()
	return acquiredIn(t, dev, filepath.Join(t.TempDir(), "out"), o)
}

// acquiredIn is acquired into the folder dir.
func acquiredIn(t *testing.T, dev, dir string, o acquire.Options) (*report.Report, []byte, time.Duration, error) {
	t.Helper()
	start := time.Now()
	r, err := acquire.New(dev, dir, o).Run(context.Background())
	took := time.Since(start)
	if r == nil {
		t.Fatalf("Run gave no report: %v", err)
	}
	var img []byte
	for _, s := range r.Image.Segments {
		b, rerr := os.ReadFile(filepath.Join(dir, s.File))
		if rerr != nil {
			t.Fatal(rerr)
		}
		img = append(img, b...)
	}
	return r, img, took, err
}

// zeroed returns a copy of data with the ranges set to zero.
func zeroed(data []byte, rs []report.Range) []byte {
	out := bytes.Clone(data)
	for _, u := range rs {
		clear(out[u.Offset : u.Offset+u.Length])
	}
	return out
}

func eventsOf(r *report.Report, kind string) []report.Event {
	var out []report.Event
	for _, e := range r.Events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// requireDirectIO fails the test unless blockdev.Open with Direct: true gives
// a real O_DIRECT descriptor (an unaligned read of one fails with EINVAL):
// without it, narrowing goes through the page cache and one bad sector is
// reported as a whole readahead window. This once happened (newDevice's
// fcntl(F_SETFL, 0) cleared O_DIRECT); it must never pass silently again.
func requireDirectIO(t *testing.T, dev string) {
	t.Helper()
	d, err := blockdev.Open(dev, blockdev.OpenOptions{Direct: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.ReadAt(make([]byte, 1), 1); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("blockdev.Open(%s, Direct: true) is not O_DIRECT: an unaligned read gave %v, want EINVAL", dev, err)
	}
}

// sectorsOf splits ranges into their sectors.
func sectorsOf(rs []report.Range, ss int64) []report.Range {
	var out []report.Range
	for _, u := range rs {
		for off := u.Offset; off < u.Offset+u.Length; off += ss {
			out = append(out, report.Range{Offset: off, Length: ss})
		}
	}
	return out
}

func eventRanges(es []report.Event) []report.Range {
	var out []report.Range
	for _, e := range es {
		if e.Offset == nil || e.Length == nil {
			out = append(out, report.Range{Offset: -1, Length: -1})
			continue
		}
		out = append(out, report.Range{Offset: *e.Offset, Length: *e.Length})
	}
	return out
}

func TestBadSectorsOnLoopDevice(t *testing.T) {
	type rg = faultdisk.Range
	type want = report.Range
	const k4 = 4096
	for _, tc := range []struct {
		name   string
		sector int
		bad    []rg
		want   []want
	}{
		{"one sector", 512, []rg{{Offset: 1<<20 + 3*512, Length: 512}}, []want{{Offset: 1<<20 + 3*512, Length: 512}}},
		{"part of a sector", 512, []rg{{Offset: 2<<20 + 100, Length: 10}}, []want{{Offset: 2 << 20, Length: 512}}},
		{"two adjacent sectors merge", 512, []rg{{Offset: 3 << 20, Length: 512}, {Offset: 3<<20 + 512, Length: 512}},
			[]want{{Offset: 3 << 20, Length: 1024}}},
		{"range across a read block boundary", 512, []rg{{Offset: 5*readSize - 1024, Length: 2048}},
			[]want{{Offset: 5*readSize - 1024, Length: 2048}}},
		{"first sector", 512, []rg{{Offset: 0, Length: 512}}, []want{{Offset: 0, Length: 512}}},
		{"last sector", 512, []rg{{Offset: diskSize - 512, Length: 512}}, []want{{Offset: diskSize - 512, Length: 512}}},
		{"several apart", 512,
			[]rg{{Offset: diskSize - 512, Length: 512}, {Offset: 0, Length: 1}, {Offset: 7*readSize - 512, Length: 1024}, {Offset: 1 << 20, Length: 512}, {Offset: 1<<20 + 512, Length: 512}},
			[]want{{Offset: 0, Length: 512}, {Offset: 7*readSize - 512, Length: 1024}, {Offset: 1 << 20, Length: 1024}, {Offset: diskSize - 512, Length: 512}}},
		{"4Kn: 512 bytes inside one 4K sector", k4, []rg{{Offset: 1<<20 + 1536, Length: 512}}, []want{{Offset: 1 << 20, Length: k4}}},
		{"4Kn: last sector", k4, []rg{{Offset: diskSize - 1, Length: 1}}, []want{{Offset: diskSize - k4, Length: k4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := faultdisk.Options{Size: diskSize, Content: faultdisk.Pattern(uint64(len(tc.name))), Bad: tc.bad}
			d := faultdisk.Device(t, o, tc.sector)
			requireDirectIO(t, d.Dev)
			opts := badOptions()
			dir := filepath.Join(t.TempDir(), "out")
			r, img, took, err := acquiredIn(t, d.Dev, dir, opts)
			t.Logf("%v, %d FUSE reads (%d failed)", took.Round(time.Millisecond), len(d.Reads()), d.Failures())

			if !errors.Is(err, acquire.ErrUnreadable) {
				t.Errorf("Run: %v; want an error wrapping ErrUnreadable", err)
			}
			if r.Status != report.StatusComplete {
				t.Errorf("status %q, want complete", r.Status)
			}
			if r.Source.Kind != "block device" || r.Source.LogicalSectorSize != tc.sector || !r.Settings.DirectIO {
				t.Errorf("source %q, logical sector %d, direct I/O %v; want block device, %d, true",
					r.Source.Kind, r.Source.LogicalSectorSize, r.Settings.DirectIO, tc.sector)
			}
			if diff := cmp.Diff(tc.want, r.Unreadable); diff != "" {
				t.Errorf("unreadable (-want +got):\n%s", diff)
			}
			expect := zeroed(o.Image(), tc.want)
			if len(img) != diskSize {
				t.Fatalf("image has %d bytes, want %d", len(img), diskSize)
			}
			if !bytes.Equal(img, expect) {
				i := 0
				for i < len(img) && img[i] == expect[i] {
					i++
				}
				t.Errorf("image differs from the source with the unreadable ranges zeroed, first at byte %d", i)
			}
			if diff := cmp.Diff(hashesOf(expect), r.Hashes); diff != "" {
				t.Errorf("hashes (-want +got):\n%s", diff)
			}
			if r.BytesAcquired != diskSize {
				t.Errorf("bytes acquired %d, want %d", r.BytesAcquired, diskSize)
			}

			// One "unreadable" event per run of bad sectors, with its range.
			if diff := cmp.Diff(tc.want, eventRanges(eventsOf(r, "unreadable"))); diff != "" {
				t.Errorf("unreadable events (-want +got):\n%s", diff)
			}
			if len(eventsOf(r, "read_error")) == 0 {
				t.Error("no read_error event")
			}
			checkMap(t, filepath.Join(dir, "bad.map"), r, tc.want)
			// Each bad sector (all in partly readable clusters here) was
			// read alone Retries+1 times, and failed.
			sectors := sectorsOf(tc.want, int64(tc.sector))
			for _, s := range sectors {
				n := 0
				for _, x := range d.Reads() {
					if x.Offset == s.Offset && x.Length == s.Length && x.Failed {
						n++
					}
				}
				if n < opts.Retries+1 {
					t.Errorf("sector at %d: %d failed single-sector reads, want at least %d (1 + Retries)", s.Offset, n, opts.Retries+1)
				}
			}
		})
	}
}

// TestFlakySector: a sector that fails its first two reads is recovered
// (Retries 3): no unreadable range, the exact source bytes, and the read
// error is in the report.
func TestFlakySector(t *testing.T) {
	fl := faultdisk.Flaky{Range: faultdisk.Range{Offset: 1<<20 + 5*512, Length: 512}, Failures: 2}
	o := faultdisk.Options{Size: diskSize, Content: faultdisk.Pattern(3), Flaky: []faultdisk.Flaky{fl}}
	d := faultdisk.Device(t, o, 512)
	opts := badOptions()
	r, img, _, err := acquired(t, d.Dev, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r.Status != report.StatusComplete || len(r.Unreadable) != 0 {
		t.Errorf("status %q, unreadable %v; want complete, none", r.Status, r.Unreadable)
	}
	if !bytes.Equal(img, o.Image()) {
		t.Error("image differs from the source")
	}
	if diff := cmp.Diff(hashesOf(o.Image()), r.Hashes); diff != "" {
		t.Errorf("hashes (-want +got):\n%s", diff)
	}
	if _, failed := d.ReadsOf(fl.Range); failed != fl.Failures {
		t.Errorf("the flaky sector failed %d reads, want %d", failed, fl.Failures)
	}
	block := fl.Offset / readSize * readSize
	if got := eventRanges(eventsOf(r, "read_error")); !slices.Contains(got, report.Range{Offset: block, Length: readSize}) {
		t.Errorf("read_error events at %v; want one for the block [%d, +%d)", got, block, readSize)
	}
	if u := eventsOf(r, "unreadable"); len(u) != 0 {
		t.Errorf("unreadable events for a recovered sector: %v", eventRanges(u))
	}
}

// TestFlakySectorRetried: a sector that keeps failing through the whole
// bisection is recovered by the per-sector retries, and the report says on
// which attempt.
func TestFlakySectorRetried(t *testing.T) {
	// The O_DIRECT read of the 64 KiB block (one cluster) fails 1 to 3
	// FUSE reads (the kernel may retry a failed request); 6 failures leave
	// 3 to 5 for the single-sector attempts, within Retries 8.
	fl := faultdisk.Flaky{Range: faultdisk.Range{Offset: 2<<20 + 9*512, Length: 512}, Failures: 6}
	o := faultdisk.Options{Size: diskSize, Content: faultdisk.Pattern(4), Flaky: []faultdisk.Flaky{fl}}
	d := faultdisk.Device(t, o, 512)
	requireDirectIO(t, d.Dev)
	opts := badOptions()
	opts.Retries = 8
	r, img, _, err := acquired(t, d.Dev, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(r.Unreadable) != 0 || !bytes.Equal(img, o.Image()) {
		t.Fatalf("unreadable %v, image equal %v; want none, true", r.Unreadable, bytes.Equal(img, o.Image()))
	}
	single := 0 // failed reads of exactly that sector
	for _, x := range d.Reads() {
		if x.Offset == fl.Offset && x.Length == fl.Length && x.Failed {
			single++
		}
	}
	if single == 0 || single > opts.Retries {
		t.Fatalf("%d failed single-sector reads; the test wants 1 to %d (tune Failures)", single, opts.Retries)
	}
	ok := eventsOf(r, "retry_ok")
	if diff := cmp.Diff([]report.Range{{Offset: fl.Offset, Length: 512}}, eventRanges(ok)); diff != "" {
		t.Fatalf("retry_ok events (-want +got):\n%s", diff)
	}
	m := regexp.MustCompile(`attempt (\d+)`).FindStringSubmatch(ok[0].Message)
	if m == nil {
		t.Fatalf("retry_ok message %q names no attempt", ok[0].Message)
	}
	if n, _ := strconv.Atoi(m[1]); n != single+1 {
		t.Errorf("retry_ok says attempt %d; the disk failed %d single-sector reads before the good one", n, single)
	}
}

// TestOneBadSectorTiming images 4 MiB with one bad sector at the default
// read size (the whole disk is one block) and logs how much longer than a
// clean run it took.
func TestOneBadSectorTiming(t *testing.T) {
	bad := faultdisk.Range{Offset: 3<<20 + 7*512, Length: 512}
	for _, tc := range []struct {
		name string
		bad  []faultdisk.Range
	}{{"clean", nil}, {"one bad sector", []faultdisk.Range{bad}}} {
		t.Run(tc.name, func(t *testing.T) {
			o := faultdisk.Options{Size: diskSize, Content: faultdisk.Pattern(5), Bad: tc.bad}
			d := faultdisk.Device(t, o, 512)
			if tc.bad != nil {
				requireDirectIO(t, d.Dev)
			}
			opts := badOptions()
			opts.ReadSize = acquire.DefaultReadSize
			r, img, took, err := acquired(t, d.Dev, opts)
			want := []report.Range{}
			if tc.bad != nil {
				want = []report.Range{{Offset: bad.Offset, Length: bad.Length}}
			}
			if diff := cmp.Diff(want, r.Unreadable); diff != "" {
				t.Errorf("unreadable (-want +got):\n%s (err %v)", diff, err)
			}
			if !bytes.Equal(img, zeroed(o.Image(), want)) {
				t.Error("image differs from the source with the bad sector zeroed")
			}
			var bytesRead int64
			for _, x := range d.Reads() {
				bytesRead += x.Length
			}
			t.Logf("%s: Run took %v; %d FUSE reads, %s read through FUSE", tc.name, took.Round(time.Millisecond),
				len(d.Reads()), fmt.Sprintf("%.1f MiB", float64(bytesRead)/(1<<20)))
		})
	}
}
