//go:build linux

package blockdev

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Watch listens to the kernel's uevents (NETLINK_KOBJECT_UEVENT, group 1)
// and sets every block device and partition read-only as soon as its event
// arrives: "add" (a new disk or partition) and "change" of a disk (new
// media: card readers, optical drives, and loop devices when a file is
// attached). For a disk, the partitions it already has are set too. Each
// flag is confirmed with BLKROGET and sysfs "ro". A "change" of a protected
// disk re-checks its flag and sets it again if it was cleared.
//
// While it runs, Watch compares the sectors-written counters of every
// device it protected every o.PollInterval and reports any rise as a
// [WatchViolation], and with o.KernelLog it also reports the kernel's
// "Trying to write to read-only block-device" warning.
//
// Watch returns nil when ctx is cancelled, and an error only when it cannot
// start (no socket: needs Linux; setting flags needs CAP_SYS_ADMIN). When the
// kernel drops uevents because the socket buffer overflowed (a burst of
// thousands of devices), it sweeps every device present, so none is missed.
func Watch(ctx context.Context, o WatchOptions) error {
	w, err := newWatcher(o)
	if err != nil {
		return err
	}
	defer w.close()
	return w.run(ctx)
}

// ueventBufferSize is the socket receive buffer asked for: room for tens of
// thousands of uevents while the watcher is busy.
const ueventBufferSize = 16 << 20

type tracked struct {
	name, disk, kind string
	dir              string // sysfs directory
	node             string
	diskSeq          uint64
	base             int64 // sectors written when protected
	reported         int64 // rise last reported
	model, serial    string
	size             int64
}

type watcher struct {
	o    WatchOptions
	s    *System
	sock int
	kmsg int
	wake [2]int
	prot map[string]*tracked
	// empty holds the sectors-written counter of disks last seen without a
	// medium: nothing can write to them then, so it is the baseline of the
	// next medium, and a write that beats the medium's uevent is counted.
	empty map[string]int64
	// existing holds the disks present when the watch started (without
	// IncludeExisting) and the diskseq of their medium then: the examiner's
	// own disks. Their "change" events (a partition table re-read, a
	// resize) and new partitions are left alone; only a new medium in them
	// (a new diskseq, DISK_MEDIA_CHANGE=1) makes them evidence.
	existing map[string]uint64
	buf      []byte
	nodes    string // private directory for device nodes missing in /dev
}

func newWatcher(o WatchOptions) (*watcher, error) {
	w := &watcher{o: o, s: o.System, sock: -1, kmsg: -1, wake: [2]int{-1, -1}, prot: map[string]*tracked{}, empty: map[string]int64{}, existing: map[string]uint64{}, buf: make([]byte, maxUeventLen+1)}
	if w.s == nil {
		w.s = DefaultSystem()
	}
	if w.o.PollInterval <= 0 {
		w.o.PollInterval = 200 * time.Millisecond
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("watch: uevent socket: %w", err)
	}
	w.sock = fd
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, ueventBufferSize); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, ueventBufferSize)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		w.close()
		return nil, fmt.Errorf("watch: bind uevent socket: %w", err)
	}
	if err := unix.Pipe2(w.wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		w.close()
		return nil, fmt.Errorf("watch: %w", err)
	}
	return w, nil
}

func (w *watcher) close() {
	for _, fd := range []int{w.sock, w.kmsg, w.wake[0], w.wake[1]} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	w.sock, w.kmsg, w.wake = -1, -1, [2]int{-1, -1}
	if w.nodes != "" {
		os.RemoveAll(w.nodes)
	}
}

func (w *watcher) emit(e WatchEvent) {
	if w.o.OnEvent == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.LatencyMicros = e.Latency.Microseconds()
	if e.Err != nil {
		e.Error = e.Err.Error()
	}
	w.o.OnEvent(e)
}

func (w *watcher) run(ctx context.Context) error {
	if w.o.KernelLog {
		if err := w.openKmsg(); err != nil {
			w.emit(WatchEvent{Kind: WatchWarning, Trigger: "kmsg", Message: "kernel log not read; only the counters detect writes", Err: err})
		}
	}
	// The socket is bound before the sweep: a device attached during the
	// sweep is caught either way.
	if disks, err := fs.ReadDir(w.s.Sys, "block"); err == nil {
		for _, d := range disks {
			w.noteEmpty(d.Name())
			if !w.o.IncludeExisting {
				w.existing[d.Name()] = w.s.diskSeq(d.Name())
			}
		}
	}
	w.adoptRecords()
	if w.o.IncludeExisting {
		w.sweep("existing")
	}
	w.emit(WatchEvent{Kind: WatchReady})
	// The waker ends before run returns, so it never writes to a closed
	// (and possibly reused) descriptor.
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	defer func() { close(done); wg.Wait() }()
	wakeFd := w.wake[1]
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			_, _ = unix.Write(wakeFd, []byte{0}) // a wake-up byte; the pipe cannot be full
		case <-done:
		}
	}()
	next := time.Now().Add(w.o.PollInterval)
	for {
		if ctx.Err() != nil {
			return nil
		}
		fds := []unix.PollFd{{Fd: int32(w.sock), Events: unix.POLLIN}, {Fd: int32(w.wake[0]), Events: unix.POLLIN}}
		if w.kmsg >= 0 {
			fds = append(fds, unix.PollFd{Fd: int32(w.kmsg), Events: unix.POLLIN})
		}
		timeout := max(int(time.Until(next).Milliseconds()), 0)
		if _, err := unix.Poll(fds, timeout); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("watch: poll: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		if fds[0].Revents != 0 {
			w.drainSocket()
		}
		if len(fds) > 2 && fds[2].Revents != 0 {
			w.drainKmsg()
		}
		if !time.Now().Before(next) {
			w.checkCounters()
			next = time.Now().Add(w.o.PollInterval)
		}
	}
}

// drainSocket handles every queued uevent.
func (w *watcher) drainSocket() {
	for {
		n, _, flags, from, err := unix.Recvmsg(w.sock, w.buf, nil, unix.MSG_DONTWAIT)
		recvAt := time.Now()
		switch {
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EWOULDBLOCK):
			return
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			w.emit(WatchEvent{Kind: WatchOverflow, Trigger: "overflow", Message: "the kernel dropped uevents; sweeping all devices"})
			w.sweep("overflow")
			continue
		case err != nil:
			w.emit(WatchEvent{Kind: WatchWarning, Message: "receive uevent", Err: err})
			return
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // only the kernel speaks here
		}
		if flags&unix.MSG_TRUNC != 0 || n > maxUeventLen {
			w.emit(WatchEvent{Kind: WatchWarning, Message: fmt.Sprintf("oversized uevent (%d bytes) ignored", n)})
			continue
		}
		w.handleMessage(w.buf[:n], recvAt)
	}
}

// handleMessage acts on one raw uevent received at recvAt.
func (w *watcher) handleMessage(msg []byte, recvAt time.Time) {
	ev, err := ParseUevent(msg)
	if err != nil {
		w.emit(WatchEvent{Kind: WatchWarning, Message: "uevent ignored", Err: err})
		return
	}
	if ev.Subsystem != "block" {
		return
	}
	kind := KindDisk
	switch ev.DevType {
	case "disk":
	case "partition":
		kind = KindPartition
	default:
		return
	}
	name, disk := ev.BlockName(), ev.DiskName()
	if name == "" || disk == "" {
		w.emit(WatchEvent{Kind: WatchWarning, SeqNum: ev.SeqNum, Message: fmt.Sprintf("block uevent without a usable name (DEVPATH %q)", ev.DevPath)})
		return
	}
	if kind == KindDisk {
		if ev.Action == "remove" {
			delete(w.empty, name)
		} else {
			w.noteEmpty(name)
		}
	}
	switch ev.Action {
	case "add", "change":
		if w.ownDevice(disk, &ev) {
			return
		}
		w.protect(name, disk, kind, ev.Action, ev.SeqNum, recvAt)
	case "remove":
		if kind == KindDisk {
			delete(w.existing, name)
		}
		if t := w.prot[name]; t != nil {
			delete(w.prot, name)
			w.emit(WatchEvent{Kind: WatchRemoved, Device: t.node, Name: name, Disk: disk, Trigger: "remove", SeqNum: ev.SeqNum})
		}
	}
}

// sweep protects every device present.
func (w *watcher) sweep(trigger string) {
	disks, err := fs.ReadDir(w.s.Sys, "block")
	if err != nil {
		w.emit(WatchEvent{Kind: WatchWarning, Trigger: trigger, Message: "sweep", Err: err})
		return
	}
	for _, d := range disks {
		if w.ownDevice(d.Name(), nil) {
			continue
		}
		w.protect(d.Name(), d.Name(), KindDisk, trigger, 0, time.Now())
	}
}

// ownDevice reports whether disk is one of the disks present when the watch
// started, unprotected, with the same medium: the examiner's own, which the
// watch leaves alone. A new medium in it (a new diskseq, or the event's
// DISK_MEDIA_CHANGE=1) makes it a new device from then on.
func (w *watcher) ownDevice(disk string, ev *Uevent) bool {
	seq, ok := w.existing[disk]
	if !ok || w.prot[disk] != nil {
		return false
	}
	if (ev != nil && ev.Env["DISK_MEDIA_CHANGE"] == "1") || w.s.diskSeq(disk) != seq {
		delete(w.existing, disk)
		return false
	}
	return true
}

// protect sets and confirms the flag of one device (and, for a disk, of the
// partitions it has), unless it is filtered out or excluded.
func (w *watcher) protect(name, disk, kind, trigger string, seq uint64, recvAt time.Time) {
	if w.o.Match != nil && !w.o.Match(WatchDevice{Name: name, Disk: disk, Kind: kind}) {
		if w.prot[name] != nil {
			w.untrack(name) // no longer one of ours (a detached, re-used loop device)
		}
		return
	}
	base := WatchEvent{Name: name, Disk: disk, Trigger: trigger, SeqNum: seq, Device: w.s.nodePath(name)}
	if excludedName(w.o.Exclude, name, disk) {
		base.Kind, base.Message = WatchExcluded, "name matches --exclude"
		w.emit(base)
		return
	}
	diskDir := path.Join("block", disk)
	dir := diskDir
	if kind == KindPartition {
		dir = path.Join(diskDir, name)
	}
	if len(w.o.Exclude) > 0 {
		id := &Info{}
		w.s.identity(id, diskDir)
		if excludedID(w.o.Exclude, id.Serial, id.WWID) {
			base.Kind, base.Message, base.Model, base.Serial = WatchExcluded, "serial matches --exclude", id.Model, id.Serial
			w.emit(base)
			return
		}
	}
	size, _ := w.s.attrInt(path.Join(dir, "size"))
	if size <= 0 {
		// No medium (an empty card reader, a detached loop device).
		if t := w.prot[name]; t != nil {
			w.untrack(name)
			w.emit(WatchEvent{Kind: WatchRemoved, Device: t.node, Name: name, Disk: disk, Trigger: trigger, SeqNum: seq, Message: "medium gone"})
		}
		return
	}
	node, err := w.nodeFor(name, dir)
	if err != nil {
		base.Kind, base.Err = WatchFailed, err
		w.emit(base)
		return
	}
	// The counter before the flag is the baseline of a new medium, so a
	// write that slips in before the flag is counted. A disk or partition
	// that was just added has fresh counters: its baseline is 0, so even a
	// write that beat the event is counted.
	// A disk whose new medium arrived without the watch seeing it empty
	// first (its events came late, or it was in use at start) has no such
	// baseline: writes that beat the flag cannot be counted, and a warning
	// says so rather than nothing.
	var pre int64
	unbased := false
	if v, ok := w.empty[name]; ok && kind == KindDisk {
		pre = v
		delete(w.empty, name)
	} else if trigger != "add" {
		if st, err := w.statOf(dir); err == nil {
			pre = st.SectorsWritten
		}
		unbased = (trigger == "change" || trigger == "overflow") && kind == KindDisk
	}
	wasRO, err := setReadOnlyNode(node)
	latency := time.Since(recvAt)
	seqNow := w.s.diskSeq(disk)
	old := w.prot[name]
	if err == nil {
		if v := w.s.attr(path.Join(dir, "ro")); v != "1" {
			err = fmt.Errorf("%s: %w: sysfs ro reads %q after BLKROSET", base.Device, ErrNotProtected, v)
		}
	}
	switch {
	case err != nil && (errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ENODEV) || errors.Is(err, fs.ErrNotExist)):
		// The device went away meanwhile (a partition table being re-read
		// drops and re-adds partitions; the new ones send "add").
		base.Kind, base.Err, base.Message = WatchWarning, err, "device vanished before it could be set read-only"
		w.emit(base)
		return
	case err != nil:
		base.Kind, base.Err, base.Latency = WatchFailed, err, latency
		w.emit(base)
	case old != nil && old.diskSeq == seqNow:
		// Known medium: a change event re-checks the flag.
		if !wasRO {
			base.Kind, base.Latency = WatchReprotected, latency
			base.Model, base.Serial, base.Size = old.model, old.serial, old.size
			w.emit(base)
		}
	default:
		t := &tracked{name: name, disk: disk, kind: kind, dir: dir, node: node, diskSeq: seqNow, size: size * 512, base: pre}
		id := &Info{}
		w.s.identity(id, diskDir)
		t.model, t.serial = id.Model, id.Serial
		w.prot[name] = t
		base.Kind, base.Latency = WatchProtected, latency
		if wasRO {
			base.Kind = WatchAlreadyReadOnly
		}
		base.Model, base.Serial, base.Size = t.model, t.serial, t.size
		w.emit(base)
		w.record(t)
		if unbased {
			w.emit(WatchEvent{Kind: WatchWarning, Device: node, Name: name, Disk: disk, Trigger: trigger, SeqNum: seq,
				Message: NoBaselineWarning})
		}
	}
	if kind == KindDisk && err == nil {
		for _, pe := range w.s.partitionsOf(disk) {
			w.protect(pe.name, disk, KindPartition, trigger, seq, recvAt)
		}
	}
}

// setReadOnlyNode sets the flag through node and confirms it by BLKROGET;
// wasRO is the flag before.
func setReadOnlyNode(node string) (wasRO bool, err error) {
	f, err := openBlockForIoctl(node)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if wasRO, err = ioctlGetRO(f.Fd()); err != nil {
		return false, fmt.Errorf("%s: %w", node, err)
	}
	if err := ioctlSetRO(f.Fd(), true); err != nil {
		return wasRO, fmt.Errorf("%s: %w: %w", node, ErrNotProtected, err)
	}
	ro, err := ioctlGetRO(f.Fd())
	if err != nil {
		return wasRO, fmt.Errorf("%s: %w", node, err)
	}
	if !ro {
		return wasRO, fmt.Errorf("%s: %w: BLKROGET reads writable after BLKROSET", node, ErrNotProtected)
	}
	return wasRO, nil
}

// nodeFor returns a device node for the sysfs entry in dir: /dev/NAME when
// it is the right device, else one made with mknod in a private directory
// (no udev, or a stale /dev).
func (w *watcher) nodeFor(name, dir string) (string, error) {
	ma, mi, err := w.s.devNum(dir)
	if err != nil {
		return "", err
	}
	want := unix.Mkdev(ma, mi)
	node := w.s.nodePath(name)
	var st unix.Stat_t
	if err := unix.Stat(node, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == want {
		return node, nil
	}
	if w.nodes == "" {
		d, err := os.MkdirTemp("", "custodian-nodes-")
		if err != nil {
			return "", fmt.Errorf("no node for %s in %s: %w", name, w.s.Dev, err)
		}
		w.nodes = d
	}
	node = filepath.Join(w.nodes, name)
	_ = os.Remove(node)
	if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(want)); err != nil {
		return "", fmt.Errorf("no node for %s in %s, and mknod: %w", name, w.s.Dev, err)
	}
	return node, nil
}

func (w *watcher) statOf(dir string) (Stats, error) {
	raw, err := w.s.readAttr(path.Join(dir, "stat"))
	if err != nil {
		return Stats{}, err
	}
	return parseStat(path.Base(dir), raw)
}

func (w *watcher) untrack(name string) {
	delete(w.prot, name)
	for n, t := range w.prot {
		if t.disk == name {
			delete(w.prot, n)
		}
	}
}

// record writes the state record of t's disk.
func (w *watcher) record(t *tracked) {
	if w.o.State == nil {
		return
	}
	rec, err := w.o.State.Load(t.disk)
	if err != nil || !w.s.recordCurrent(rec) {
		rec = w.s.newRecord(&Info{Name: t.disk, Kind: KindDisk}, nil, WriteBlockOptions{By: "watch"})
	}
	if _, ok := rec.device(t.name); !ok {
		rec.Devices = append(rec.Devices, StateDevice{Name: t.name, Path: w.s.nodePath(t.name), SectorsWritten: t.base})
	}
	if err := w.o.State.Save(rec); err != nil {
		w.emit(WatchEvent{Kind: WatchWarning, Device: t.node, Name: t.name, Disk: t.disk, Message: "state not recorded", Err: err})
	}
}

// checkCounters reports rises of the write counters and cleared flags.
func (w *watcher) checkCounters() {
	for name, t := range w.prot {
		if t.kind == KindPartition && w.prot[t.disk] != nil {
			continue // the disk's counter includes its partitions
		}
		st, err := w.statOf(t.dir)
		if err != nil {
			continue // gone; a remove event follows
		}
		if w.s.diskSeq(t.disk) != t.diskSeq {
			w.untrack(t.disk) // another medium, whose events were missed
			w.emit(WatchEvent{Kind: WatchRemoved, Device: t.node, Name: name, Disk: t.disk, Trigger: "counters", Message: "medium changed"})
			continue
		}
		if d := st.SectorsWritten - t.base; d > t.reported {
			t.reported = d
			w.emit(WatchEvent{Kind: WatchViolation, Device: t.node, Name: name, Disk: t.disk, Trigger: "counters",
				Model: t.model, Serial: t.serial, Size: t.size, SectorsWritten: d,
				Message: fmt.Sprintf("%d sectors written since protection began", d)})
		}
	}
	for name, t := range w.prot {
		if w.s.attr(path.Join(t.dir, "ro")) == "0" {
			delete(w.prot, name)
			w.emit(WatchEvent{Kind: WatchFlagCleared, Device: t.node, Name: name, Disk: t.disk, Trigger: "counters",
				Message: "the read-only flag was cleared; no longer watched"})
		}
	}
}

func (w *watcher) openKmsg() error {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/kmsg: %w", err)
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		unix.Close(fd)
		return fmt.Errorf("seek /dev/kmsg: %w", err)
	}
	w.kmsg = fd
	return nil
}

// drainKmsg reads the new kernel log records.
func (w *watcher) drainKmsg() {
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(w.kmsg, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return
		case errors.Is(err, unix.EPIPE), errors.Is(err, unix.EINTR):
			continue // records overwritten before we read them
		case err != nil || n <= 0:
			return
		}
		rec, ok := ParseKmsgRecord(string(buf[:n]))
		if !ok {
			continue
		}
		name, ok := ReadOnlyWriteDevice(rec.Message)
		if !ok {
			continue
		}
		t := w.prot[name]
		if t == nil {
			continue
		}
		w.emit(WatchEvent{Kind: WatchViolation, Device: t.node, Name: name, Disk: t.disk, Trigger: "kmsg",
			Model: t.model, Serial: t.serial, Size: t.size, Message: strings.TrimSpace(rec.Message)})
	}
}

// adoptRecords starts watching the counters of devices protected earlier
// ("writeblock on", an earlier watch) whose state records still describe
// the medium in the disk, from the counters recorded then.
func (w *watcher) adoptRecords() {
	if w.o.State == nil {
		return
	}
	disks, err := w.o.State.List()
	if err != nil {
		w.emit(WatchEvent{Kind: WatchWarning, Trigger: "state", Message: "state records not read", Err: err})
		return
	}
	for _, disk := range disks {
		rec, err := w.o.State.Load(disk)
		if err != nil || !w.s.recordCurrent(rec) {
			continue
		}
		for _, d := range rec.Devices {
			kind, dir := KindDisk, path.Join("block", disk)
			if d.Name != disk {
				kind, dir = KindPartition, path.Join(dir, d.Name)
			}
			if w.o.Match != nil && !w.o.Match(WatchDevice{Name: d.Name, Disk: disk, Kind: kind}) {
				continue
			}
			if !w.s.exists(path.Join(dir, "stat")) {
				continue
			}
			t := &tracked{name: d.Name, disk: disk, kind: kind, dir: dir, node: w.s.nodePath(d.Name), diskSeq: rec.DiskSeq,
				base: d.SectorsWritten, model: rec.Model, serial: rec.Serial}
			sectors, _ := w.s.attrInt(path.Join(dir, "size"))
			t.size = sectors * 512
			w.prot[d.Name] = t
			w.emit(WatchEvent{Kind: WatchAlreadyReadOnly, Device: t.node, Name: d.Name, Disk: disk, Trigger: "state",
				Model: t.model, Serial: t.serial, Size: t.size,
				Message: fmt.Sprintf("protected since %s (%s); watching its counters", rec.ProtectedAt.Format(time.RFC3339), rec.By)})
		}
	}
}

// noteEmpty remembers the counter of disk if it has no medium. The counter
// is read before the size: a size of 0 read afterwards means the counter
// was read while nothing could write.
func (w *watcher) noteEmpty(disk string) {
	if !validName(disk) {
		return
	}
	dir := path.Join("block", disk)
	if size, ok := w.s.attrInt(path.Join(dir, "size")); !ok || size != 0 {
		return // a medium: keep the counter of its empty time
	}
	st, err := w.statOf(dir)
	if err != nil {
		return
	}
	if size, ok := w.s.attrInt(path.Join(dir, "size")); ok && size == 0 {
		w.empty[disk] = st.SectorsWritten
	}
}
