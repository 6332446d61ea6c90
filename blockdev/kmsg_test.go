package blockdev

import (
	"testing"
	"time"
)

func TestParseKmsgRecord(t *testing.T) {
	r, ok := ParseKmsgRecord("4,1234,5678901,-;Trying to write to read-only block-device loop3\n SUBSYSTEM=block\n DEVICE=b7:3\n")
	if !ok || r.Priority != 4 || r.Seq != 1234 || r.SinceBoot != 5678901*time.Microsecond {
		t.Fatalf("parsed %+v %v", r, ok)
	}
	if name, ok := ReadOnlyWriteDevice(r.Message); !ok || name != "loop3" {
		t.Errorf("device %q %v", name, ok)
	}
	if name, ok := ReadOnlyWriteDevice("Trying to write to read-only block-device sdb1 (partno 1)"); !ok || name != "sdb1" {
		t.Errorf("older format: %q %v", name, ok)
	}
	for _, bad := range []string{"", "no semicolon", "x,1,2;msg", "1,2;msg", "-1,2,3;m"} {
		if _, ok := ParseKmsgRecord(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
	for _, bad := range []string{"something else", "Trying to write to read-only block-device ", "Trying to write to read-only block-device ../x"} {
		if n, ok := ReadOnlyWriteDevice(bad); ok {
			t.Errorf("ReadOnlyWriteDevice(%q) = %q", bad, n)
		}
	}
	r, ok = ParseKmsgRecord(`6,1,2,-;esc \x1b[31m red`)
	if !ok || r.Message != `esc \x1b[31m red` {
		t.Errorf("escape: %q", r.Message)
	}
}

func FuzzKmsg(f *testing.F) {
	f.Add("4,1234,5678901,-;Trying to write to read-only block-device loop3\n")
	f.Add(`6,1,2,-;\x00\xff`)
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := ParseKmsgRecord(s)
		if !ok {
			return
		}
		if n, ok := ReadOnlyWriteDevice(r.Message); ok && !validName(n) {
			t.Fatalf("invalid name %q", n)
		}
	})
}
