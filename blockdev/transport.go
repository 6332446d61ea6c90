package blockdev

import (
	"io/fs"
	"path"
	"strings"
)

// Transports of [Info.Transport]: how the disk is attached, as far as its
// place in the kernel's device tree says.
const (
	TransportUSB    = "usb"
	TransportSATA   = "sata" // libata: SATA and PATA disks behind an ATA host
	TransportNVMe   = "nvme"
	TransportSCSI   = "scsi" // SAS, iSCSI, FC, or a SCSI host of unknown kind
	TransportMMC    = "mmc"  // SD and eMMC (mmcblk)
	TransportVirtIO = "virtio"
	// TransportVirtual is a device without hardware of its own: loop, dm,
	// md, zram, nbd, ram disks. Its identity (model, serial) is empty.
	TransportVirtual = "virtual"
)

// transport says how disk is attached: from the target of its sysfs link
// block/DISK (…/usb1/1-2/…/host6/…/block/sdb is usb, …/ata3/… sata,
// …/nvme/nvme0/… nvme, devices/virtual/block/loop0 virtual), and from the
// kernel name where the link cannot be read. "" when unknown.
func (s *System) transport(disk string) string {
	target, err := fs.ReadLink(s.Sys, path.Join("block", disk))
	if err != nil {
		return transportOfName(disk)
	}
	return transportOfPath(target, disk)
}

// transportOfPath classifies a sysfs device path. The outermost bus that
// matters wins: a USB bridge in front of a SATA disk is usb (that is the
// cable the examiner plugged in).
//
// An NVMe namespace behind a USB bridge shows as usb: the bridge speaks
// SCSI to the host, and sysfs has no nvme directory then.
func transportOfPath(p, disk string) string {
	parts := strings.Split(path.Clean(p), "/")
	has := func(pred func(string) bool) bool {
		for _, x := range parts {
			if pred(x) {
				return true
			}
		}
		return false
	}
	switch {
	case has(func(x string) bool { return x == "nvme" || x == "nvme-subsystem" }):
		return TransportNVMe // multipath namespaces live under devices/virtual
	case has(func(x string) bool { return x == "virtual" }):
		return TransportVirtual
	case has(func(x string) bool { return strings.HasPrefix(x, "usb") }):
		return TransportUSB
	case has(func(x string) bool { return strings.HasPrefix(x, "ata") && isDigits(x[3:]) }):
		return TransportSATA
	case has(func(x string) bool {
		return strings.HasPrefix(x, "mmc_host") || strings.HasPrefix(x, "mmc") && strings.Contains(x, ":")
	}):
		return TransportMMC
	case has(func(x string) bool { return strings.HasPrefix(x, "virtio") && isDigits(x[6:]) }):
		return TransportVirtIO
	case has(func(x string) bool { return strings.HasPrefix(x, "host") && isDigits(x[4:]) }):
		return TransportSCSI
	}
	return transportOfName(disk)
}

// transportOfName guesses from the kernel name alone.
func transportOfName(disk string) string {
	for _, p := range []struct{ prefix, t string }{
		{"loop", TransportVirtual}, {"dm-", TransportVirtual}, {"md", TransportVirtual},
		{"zram", TransportVirtual}, {"nbd", TransportVirtual}, {"ram", TransportVirtual},
		{"nvme", TransportNVMe}, {"mmcblk", TransportMMC}, {"vd", TransportVirtIO},
	} {
		if strings.HasPrefix(disk, p.prefix) {
			return p.t
		}
	}
	return ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// firmware reads the disk's firmware revision: device/firmware_rev (NVMe),
// device/rev (SCSI, SATA behind libata, USB mass storage), sanitized: it
// comes from the device.
func (s *System) firmware(dir string) string {
	for _, n := range []string{"device/firmware_rev", "device/rev"} {
		if v := Sanitize(s.attr(path.Join(dir, n))); v != "" {
			return v
		}
	}
	return ""
}
