package blockdev

import (
	"errors"
	"strings"
	"testing"
)

func uevent(pairs ...string) []byte {
	return []byte(strings.Join(pairs, "\x00") + "\x00")
}

func TestParseUeventLoopChange(t *testing.T) {
	// As seen on this kernel when a file is attached to /dev/loop3.
	msg := uevent("change@/devices/virtual/block/loop3", "ACTION=change", "DEVPATH=/devices/virtual/block/loop3",
		"SUBSYSTEM=block", "DISK_MEDIA_CHANGE=1", "MAJOR=7", "MINOR=3", "DEVNAME=loop3", "DEVTYPE=disk", "DISKSEQ=42", "SEQNUM=5123")
	ev, err := ParseUevent(msg)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Action != "change" || ev.Subsystem != "block" || ev.DevType != "disk" || !ev.HasDevNum || ev.Major != 7 || ev.Minor != 3 ||
		ev.DiskSeq != 42 || ev.SeqNum != 5123 || ev.Env["DISK_MEDIA_CHANGE"] != "1" {
		t.Errorf("parsed %+v", ev)
	}
	if ev.BlockName() != "loop3" || ev.DiskName() != "loop3" {
		t.Errorf("names %q %q", ev.BlockName(), ev.DiskName())
	}
}

func TestParseUeventPartition(t *testing.T) {
	msg := uevent("add@/devices/virtual/block/loop3/loop3p2", "ACTION=add", "DEVPATH=/devices/virtual/block/loop3/loop3p2",
		"SUBSYSTEM=block", "MAJOR=259", "MINOR=1", "DEVNAME=loop3p2", "DEVTYPE=partition", "DISKSEQ=42", "PARTN=2", "SEQNUM=5124")
	ev, err := ParseUevent(msg)
	if err != nil {
		t.Fatal(err)
	}
	if ev.PartN != 2 || ev.BlockName() != "loop3p2" || ev.DiskName() != "loop3" {
		t.Errorf("parsed %+v, names %q %q", ev, ev.BlockName(), ev.DiskName())
	}
	// No DEVNAME: the name comes from DEVPATH.
	ev, err = ParseUevent(uevent("add@/devices/pci0000:00/block/sdb/sdb1", "ACTION=add", "DEVPATH=/devices/pci0000:00/block/sdb/sdb1", "SUBSYSTEM=block", "DEVTYPE=partition"))
	if err != nil || ev.BlockName() != "sdb1" || ev.DiskName() != "sdb" || ev.HasDevNum {
		t.Errorf("no DEVNAME: %+v %v", ev, err)
	}
}

func TestParseUeventRejects(t *testing.T) {
	for name, msg := range map[string][]byte{
		"empty":           nil,
		"udev":            uevent("libudev", "ACTION=add"),
		"no at":           uevent("add", "ACTION=add"),
		"relative path":   uevent("add@devices/x", "ACTION=add", "DEVPATH=devices/x"),
		"header mismatch": uevent("add@/devices/x", "ACTION=remove", "DEVPATH=/devices/x"),
		"path mismatch":   uevent("add@/devices/x", "ACTION=add", "DEVPATH=/devices/y"),
		"missing keys":    uevent("add@/devices/x"),
		"too long":        append(uevent("add@/devices/x", "ACTION=add", "DEVPATH=/devices/x"), make([]byte, maxUeventLen)...),
		"too many keys":   uevent(append([]string{"add@/d", "ACTION=add", "DEVPATH=/d"}, strings.Split(strings.Repeat("K=V,", 70), ",")...)...),
	} {
		if _, err := ParseUevent(msg); !errors.Is(err, ErrBadUevent) {
			t.Errorf("%s: err %v, want ErrBadUevent", name, err)
		}
	}
}

func TestParseUeventOddValues(t *testing.T) {
	// Control characters and bad numbers are tolerated, not trusted.
	ev, err := ParseUevent(uevent("change@/devices/virtual/block/x", "ACTION=change", "DEVPATH=/devices/virtual/block/x",
		"SUBSYSTEM=block", "DEVNAME=../../etc/passwd", "MAJOR=-1", "MINOR=9999999999999", "PARTN=abc", "garbage", "=v", "DEVTYPE=disk\x1b[31m"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.HasDevNum || ev.PartN != 0 || strings.ContainsRune(ev.DevType, 0x1b) {
		t.Errorf("parsed %+v", ev)
	}
	if n := ev.BlockName(); n != "passwd" {
		t.Errorf("BlockName = %q", n) // path.Base, never a path
	}
	ev.DevName, ev.DevPath = "..", "/.."
	if n := ev.BlockName(); n != "" {
		t.Errorf("BlockName of .. = %q", n)
	}
}

func FuzzParseUevent(f *testing.F) {
	f.Add(uevent("change@/devices/virtual/block/loop3", "ACTION=change", "DEVPATH=/devices/virtual/block/loop3", "SUBSYSTEM=block", "DEVNAME=loop3", "DEVTYPE=disk"))
	f.Add(uevent("add@/devices/virtual/block/loop3/loop3p1", "ACTION=add", "DEVPATH=/devices/virtual/block/loop3/loop3p1", "DEVTYPE=partition", "PARTN=1"))
	f.Add([]byte("libudev\x00\xfe\xed"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		ev, err := ParseUevent(msg)
		if err != nil {
			return
		}
		for _, n := range []string{ev.BlockName(), ev.DiskName()} {
			if n != "" && !validName(n) {
				t.Fatalf("invalid name %q from %q", n, msg)
			}
		}
		if !strings.HasPrefix(ev.DevPath, "/") || ev.Action == "" {
			t.Fatalf("accepted %q as %+v", msg, ev)
		}
	})
}
