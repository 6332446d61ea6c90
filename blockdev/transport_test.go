package blockdev

import (
	"testing"
	"testing/fstest"
)

func TestTransportOfPath(t *testing.T) {
	for _, c := range []struct{ path, disk, want string }{
		{"../devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb", "sdb", TransportUSB},
		{"../devices/pci0000:00/0000:00:17.0/ata3/host2/target2:0:0/2:0:0:0/block/sda", "sda", TransportSATA},
		{"../devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1", "nvme0n1", TransportNVMe},
		{"../devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1", "nvme0n1", TransportNVMe},
		{"../devices/virtual/block/loop0", "loop0", TransportVirtual},
		{"../devices/pci0000:00/0000:00:02.0/virtio1/block/vda", "vda", TransportVirtIO},
		{"../devices/platform/soc/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0", "mmcblk0", TransportMMC},
		{"../devices/pci0000:00/0000:00:10.0/host0/target0:0:0/0:0:0:0/block/sda", "sda", TransportSCSI},
		{"../devices/somewhere/else/block/xyz0", "xyz0", ""},
	} {
		if got := transportOfPath(c.path, c.disk); got != c.want {
			t.Errorf("%s: %q, want %q", c.path, got, c.want)
		}
	}
	// Without a readable link (fstest.MapFS has no symlinks) the kernel
	// name decides.
	s := &System{Sys: fstest.MapFS{"block/loop3/dev": {Data: []byte("7:3\n")}}}
	if got := s.transport("loop3"); got != TransportVirtual {
		t.Errorf("loop3 without link: %q", got)
	}
}

func TestParseFSExport(t *testing.T) {
	f, ok := parseFSExport("DEVNAME=/dev/loop0p1\nLABEL=EVIDENCE\\ 1\nUUID=C0DE-0001\nTYPE=vfat\nPART_ENTRY_TYPE=0x1\n", "")
	if !ok || f != (Filesystem{FSType: "vfat", Label: "EVIDENCE 1", UUID: "C0DE-0001"}) {
		t.Errorf("blkid export: %+v %v", f, ok)
	}
	f, ok = parseFSExport("S:disk/by-label/X\nE:ID_FS_TYPE=ext4\nE:ID_FS_LABEL=root\x1b[2J\nE:ID_FS_UUID=1234\n", "E:")
	if !ok || f.FSType != "ext4" || f.UUID != "1234" || f.Label == "root\x1b[2J" {
		t.Errorf("udev data: %+v %v (the label must be sanitized)", f, ok)
	}
	if _, ok := parseFSExport("PTTYPE=dos\n", ""); ok {
		t.Error("a partition table is no filesystem")
	}
}
