package acquire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/internal/looptest"
	"github.com/custodian-forensics/custodian/report"
	"github.com/google/go-cmp/cmp"
)

// sfdiskTable writes a partition table with sfdisk into a new image file
// of size bytes and returns the file and sfdisk's own account of it.
func sfdiskTable(t *testing.T, size int64, script string) (string, []report.Partition, string) {
	t.Helper()
	looptest.RequireTool(t, "sfdisk", "fdisk")
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	c := exec.Command("sfdisk", "--no-reread", "--no-tell-kernel", path)
	c.Stdin = strings.NewReader(script)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	out, err := exec.Command("sfdisk", "--json", path).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var dump struct {
		Table struct {
			Label      string `json:"label"`
			ID         string `json:"id"`
			Partitions []struct {
				Node  string `json:"node"`
				Start int64  `json:"start"`
				Size  int64  `json:"size"`
				Type  string `json:"type"`
				UUID  string `json:"uuid"`
				Name  string `json:"name"`
				Boot  bool   `json:"bootable"`
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &dump); err != nil {
		t.Fatal(err)
	}
	var parts []report.Partition
	for _, p := range dump.Table.Partitions {
		n, _ := strconv.Atoi(p.Node[len(path):])
		typ := p.Type
		if dump.Table.Label == "dos" {
			v, _ := strconv.ParseUint(p.Type, 16, 8)
			typ = fmt.Sprintf("0x%02x", v)
		}
		parts = append(parts, report.Partition{Number: n, Offset: p.Start * 512, Length: p.Size * 512, Type: typ,
			GUID: p.UUID, Name: p.Name, Bootable: p.Boot})
	}
	return path, parts, dump.Table.ID
}

// TestPartitionTableMatchesSfdisk: the GPT and MBR (with logical
// partitions) layouts read for the report are the ones sfdisk wrote.
func TestPartitionTableMatchesSfdisk(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name, script, label string
	}{
		{"gpt", "label: gpt\nsize=8MiB, type=U, name=\"EFI system\"\nsize=16MiB, type=L, name=root\nsize=4MiB, type=S\n", "gpt"},
		{"mbr", "label: dos\n,8MiB,83,*\n,,5\n,4MiB,82\n,4MiB,83\n,4MiB,7\n", "mbr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, want, id := sfdiskTable(t, 64*mib, tc.script)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			pt, err := parsePartitionTable(f, 64*mib, 512)
			if err != nil {
				t.Fatal(err)
			}
			if pt.Type != tc.label || pt.Error != "" || (tc.label == "gpt" && pt.DiskGUID != id) {
				t.Errorf("table %+v, want %s (id %s)", pt, tc.label, id)
			}
			for i := range pt.Partitions {
				pt.Partitions[i].TypeName = "" // sfdisk names types its own way
			}
			if diff := cmp.Diff(want, pt.Partitions); diff != "" {
				t.Errorf("partitions (-sfdisk +custodian):\n%s", diff)
			}
		})
	}
}

// TestPartitionTableNone: a filesystem on the whole medium, or nothing, is
// no table.
func TestPartitionTableNone(t *testing.T) {
	vbr := make([]byte, 4096)
	copy(vbr[3:], "NTFS    ")
	vbr[510], vbr[511] = 0x55, 0xaa
	vbr[446+4] = 0x07
	for name, b := range map[string][]byte{"ntfs boot sector": vbr, "zeros": make([]byte, 4096)} {
		pt, err := parsePartitionTable(bytes.NewReader(b), int64(len(b)), 512)
		if err != nil || pt.Type != "none" {
			t.Errorf("%s: %+v %v", name, pt, err)
		}
	}
}

// FuzzPartitionTable: any first sectors give a table or an error, never a
// panic or a read outside the source.
func FuzzPartitionTable(f *testing.F) {
	mbr := make([]byte, 2048)
	mbr[510], mbr[511] = 0x55, 0xaa
	mbr[446+4], mbr[446+8] = 0x05, 1
	f.Add(mbr)
	gpt := make([]byte, 2048)
	copy(gpt[512:], "EFI PART")
	gpt[512+72], gpt[512+80], gpt[512+84] = 2, 4, 128
	f.Add(gpt)
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := parsePartitionTable(bytes.NewReader(b), int64(len(b)), 512)
		if err == nil && pt == nil {
			t.Fatal("no table and no error")
		}
	})
}
