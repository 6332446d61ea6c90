package faultdisk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/custodian-forensics/custodian/internal/looptest"
)

// Range is a byte range of the disk.
type Range struct {
	Offset, Length int64
}

func (r Range) overlaps(off, end int64) bool {
	return r.Length > 0 && off < r.Offset+r.Length && r.Offset < end
}

// Flaky is a range whose reads fail until it has failed Failures times.
type Flaky struct {
	Range
	Failures int
}

// Options describe a disk.
type Options struct {
	// Size is the disk size in bytes. When 0, it is len(Data).
	Size int64
	// Data is the disk's content. When nil, Content generates it.
	Data []byte
	// Content fills p with the disk's bytes at off. It must be
	// deterministic and safe for concurrent use (FUSE serves reads from
	// several goroutines). When both Data and Content are nil the disk
	// holds Pattern(0).
	Content func(off int64, p []byte)
	// Bad ranges fail every read that overlaps them with EIO.
	Bad []Range
	// Flaky ranges fail reads that overlap them until they have failed
	// Failures times; later reads succeed.
	Flaky []Flaky
	// Delay is slept in every read (a slow disk).
	Delay time.Duration
	// Rate, when > 0, limits the disk to Rate bytes per second, whatever
	// the size and number of reads in flight (a USB disk whose medium is
	// the limit): each read waits for its turn and takes len/Rate.
	Rate int64
	// FailDelay is slept in every read that fails, on top of Delay (a
	// drive that retries internally before it gives up on a sector).
	FailDelay time.Duration
	// DeadFrom, when > 0, fails every read that reaches this offset or
	// beyond: a disk that stopped answering there. [Disk.SetDeadFrom]
	// moves or lifts it while the disk is mounted.
	DeadFrom int64
}

func (o Options) size() int64 {
	if o.Size == 0 && o.Data != nil {
		return int64(len(o.Data))
	}
	return o.Size
}

// fill puts the disk's bytes at off into p (within the disk's size).
func (o Options) fill(off int64, p []byte) {
	switch {
	case o.Data != nil:
		n := copy(p, o.Data[min(off, int64(len(o.Data))):])
		clear(p[n:])
	case o.Content != nil:
		o.Content(off, p)
	default:
		Pattern(0)(off, p)
	}
}

// Image returns the disk's whole content as reads without faults would
// give it (bad and flaky ranges included), for comparison with an image.
func (o Options) Image() []byte {
	p := make([]byte, o.size())
	o.fill(0, p)
	return p
}

// Pattern returns a Content function whose bytes depend on seed and on
// their offset only, so that every sector differs and a sector read from
// the wrong place, or zero-filled, is noticed.
func Pattern(seed uint64) func(off int64, p []byte) {
	return func(off int64, p []byte) {
		for i := range p {
			o := uint64(off) + uint64(i)
			p[i] = byte(splitmix(seed^(o>>3)) >> (8 * (o & 7)))
		}
	}
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Read is one read the FUSE file served.
type Read struct {
	Offset, Length int64
	Failed         bool // answered with EIO
}

// Disk is a mounted fault-injecting file, possibly attached to a loop
// device.
type Disk struct {
	// File is the FUSE file's path.
	File string
	// Dev is the loop device (/dev/loopN), "" after Mount alone.
	Dev string

	o    Options
	size int64

	mu       sync.Mutex
	left     []int // remaining failures of o.Flaky[i]
	reads    []Read
	bad      []Range // o.Bad, until SetBad
	deadFrom int64   // o.DeadFrom, until SetDeadFrom

	rateMu   sync.Mutex
	rateNext time.Time // when the medium is free again (o.Rate)
}

// throttle reserves the medium for n bytes at o.Rate and returns when that
// transfer would have ended.
func (d *Disk) throttle(n int) time.Time {
	d.rateMu.Lock()
	defer d.rateMu.Unlock()
	start := time.Now()
	if d.rateNext.After(start) {
		start = d.rateNext
	}
	d.rateNext = start.Add(time.Duration(float64(n) / float64(d.o.Rate) * float64(time.Second)))
	return d.rateNext
}

// SetBad replaces the bad ranges while the disk is mounted (a disk that
// gets worse, or better).
func (d *Disk) SetBad(bad []Range) {
	d.mu.Lock()
	d.bad = append([]Range(nil), bad...)
	d.mu.Unlock()
}

// SetDeadFrom makes every read reaching off or beyond fail from now on;
// 0 lifts it (the disk answers again).
func (d *Disk) SetDeadFrom(off int64) {
	d.mu.Lock()
	d.deadFrom = off
	d.mu.Unlock()
}

// Reads returns every read served so far, in the order they were answered.
func (d *Disk) Reads() []Read {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Read(nil), d.reads...)
}

// ReadsOf returns how many reads overlapped r, and how many of those failed.
func (d *Disk) ReadsOf(r Range) (reads, failed int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, x := range d.reads {
		if r.overlaps(x.Offset, x.Offset+x.Length) {
			reads++
			if x.Failed {
				failed++
			}
		}
	}
	return reads, failed
}

// Failures returns how many reads failed with EIO so far.
func (d *Disk) Failures() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, x := range d.reads {
		if x.Failed {
			n++
		}
	}
	return n
}

// ResetReads forgets the reads logged so far (flaky ranges keep their
// state).
func (d *Disk) ResetReads() {
	d.mu.Lock()
	d.reads = nil
	d.mu.Unlock()
}

// serve answers a read of len(p) bytes at off: it fills p and reports
// whether the read fails.
func (d *Disk) serve(p []byte, off int64) (n int, fail bool) {
	if off >= d.size {
		n = 0
	} else {
		n = int(min(int64(len(p)), d.size-off))
	}
	end := off + int64(len(p))
	d.mu.Lock()
	for _, b := range d.bad {
		if b.overlaps(off, end) {
			fail = true
		}
	}
	if d.deadFrom > 0 && end > d.deadFrom {
		fail = true
	}
	for i, f := range d.o.Flaky {
		if d.left[i] > 0 && f.overlaps(off, end) {
			d.left[i]--
			fail = true
		}
	}
	d.reads = append(d.reads, Read{Offset: off, Length: int64(len(p)), Failed: fail})
	d.mu.Unlock()
	if !fail {
		d.o.fill(off, p[:n])
	}
	return n, fail
}

// node is the one file of the file system.
type node struct {
	fs.Inode
	d *Disk
}

var (
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeReader    = (*node)(nil)
	_ fs.NodeGetattrer = (*node)(nil)
)

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EROFS
	}
	// FOPEN_DIRECT_IO: no page cache on the FUSE side, so every read of
	// the loop driver reaches Read and the fault ranges stay exact.
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o444
	out.Size = uint64(n.d.size)
	out.Blksize = 4096
	return 0
}

func (n *node) Read(ctx context.Context, f fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if n.d.o.Delay > 0 {
		select {
		case <-time.After(n.d.o.Delay):
		case <-ctx.Done():
			return nil, syscall.EINTR
		}
	}
	if n.d.o.Rate > 0 {
		select {
		case <-time.After(time.Until(n.d.throttle(len(dest)))):
		case <-ctx.Done():
			return nil, syscall.EINTR
		}
	}
	k, fail := n.d.serve(dest, off)
	if fail {
		if n.d.o.FailDelay > 0 {
			select {
			case <-time.After(n.d.o.FailDelay):
			case <-ctx.Done():
				return nil, syscall.EINTR
			}
		}
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:k]), 0
}

// RequireFUSE skips t unless it runs as root with /dev/fuse and losetup
// available. Under CI=true it fails instead of skipping.
func RequireFUSE(t testing.TB) {
	t.Helper()
	looptest.RequireRoot(t)
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err == nil {
		f.Close()
		return
	}
	msg := fmt.Sprintf("needs /dev/fuse: %v", err)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a skip here would hide a broken test environment)", msg)
	}
	t.Skip(msg)
}

// Mount serves a disk described by o as the file disk.img of a FUSE file
// system mounted under t.TempDir(), and returns it. It is unmounted in
// t.Cleanup; a loop device attached to it afterwards (as Device does) must
// register its detach later, so that it runs first.
func Mount(t testing.TB, o Options) *Disk {
	t.Helper()
	RequireFUSE(t)
	size := o.size()
	if size < 0 || (o.Data != nil && int64(len(o.Data)) < size) {
		t.Fatalf("faultdisk: size %d with %d bytes of data", size, len(o.Data))
	}
	d := &Disk{o: o, size: size, left: make([]int, len(o.Flaky)), bad: append([]Range(nil), o.Bad...), deadFrom: o.DeadFrom}
	for i, f := range o.Flaky {
		d.left[i] = f.Failures
	}
	dir := filepath.Join(t.TempDir(), "fuse")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root := &fs.Inode{}
	zero := time.Duration(0)
	srv, err := fs.Mount(dir, root, &fs.Options{
		MountOptions: fuse.MountOptions{
			DirectMountStrict: true,
			FsName:            "faultdisk",
			Name:              "faultdisk",
			MaxWrite:          1 << 20, // also the largest read: fewer round trips
			DisableXAttrs:     true,
			DisableSplice:     true, // replies are byte slices; 1 MiB ones exceed the pipe size
		},
		EntryTimeout: &zero,
		AttrTimeout:  &zero,
		OnAdd: func(ctx context.Context) {
			root.AddChild("disk.img", root.NewPersistentInode(ctx, &node{d: d}, fs.StableAttr{Mode: syscall.S_IFREG}), true)
		},
	})
	if err != nil {
		t.Fatalf("faultdisk: mount FUSE on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		// The loop device over the file is detached just before this, but
		// the kernel releases its backing file asynchronously: EBUSY for a
		// moment is normal. Wait for it, then fall back to a lazy detach
		// (which still removes the mount) rather than leave one behind.
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if err = srv.Unmount(); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Logf("faultdisk: unmount %s: %v after 5 s; detaching lazily", dir, err)
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("faultdisk: lazy unmount %s: %v", dir, err)
			}
		}
	})
	d.File = filepath.Join(dir, "disk.img")
	return d
}

// Device mounts a disk described by o (see Mount) and attaches it
// read-only to a loop device with the given logical sector size (0 means
// the default, 512). In t.Cleanup the loop device is detached first, then
// the file system is unmounted. The device's size is o's size rounded down
// to a whole sector.
func Device(t testing.TB, o Options, sectorSize int) *Disk {
	t.Helper()
	d := Mount(t, o)
	d.Dev = looptest.Attach(t, d.File, looptest.Options{ReadOnly: true, SectorSize: sectorSize})
	return d
}
