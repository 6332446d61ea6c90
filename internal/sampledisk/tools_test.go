package sampledisk

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// These tests check the image with independent implementations: The Sleuth
// Kit (required under CI=true, so CI proves it ran), and mtools and
// dosfstools (optional extras, skipped when missing).

// needTool returns the path of each tool. It skips the test when one is
// missing, except for strict tools under CI=true, where that fails the test.
// /usr/sbin and /sbin are searched too: fsck.fat lives there, outside
// ordinary users' PATH on Debian.
func needTool(t *testing.T, strict bool, names ...string) []string {
	t.Helper()
	var paths []string
	for _, n := range names {
		p, err := exec.LookPath(n)
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if err == nil {
				break
			}
			p, err = exec.LookPath(filepath.Join(dir, n))
		}
		if err != nil {
			if strict && os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed, but CI=true requires it: %v", n, err)
			}
			t.Skipf("%s not installed: %v", n, err)
		}
		paths = append(paths, p)
	}
	return paths
}

// imageFile writes Build's output to a temporary file, so the tools check
// the code (the committed copy is compared byte for byte elsewhere).
func imageFile(t *testing.T) string {
	t.Helper()
	img, _ := built(t)
	p := filepath.Join(t.TempDir(), "sample.img")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

var mmlsLine = regexp.MustCompile(`(?m)^\d+:\s+(\d+):(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*)$`)

func TestSleuthKitPartitions(t *testing.T) {
	needTool(t, true, "mmls")
	out := string(run(t, "mmls", imageFile(t)))
	ms := mmlsLine.FindAllStringSubmatch(out, -1)
	parts := Partitions()
	if len(ms) != len(parts) {
		t.Fatalf("mmls lists %d partitions, want %d:\n%s", len(ms), len(parts), out)
	}
	for i, m := range ms {
		p := parts[i]
		start, _ := strconv.ParseUint(m[3], 10, 32)
		end, _ := strconv.ParseUint(m[4], 10, 32)
		length, _ := strconv.ParseUint(m[5], 10, 32)
		wantDesc := fmt.Sprintf("DOS FAT%d (0x%02x)", p.FAT, p.Type)
		if uint32(start) != p.Start || uint32(end) != p.Start+p.Sectors-1 || uint32(length) != p.Sectors || m[6] != wantDesc {
			t.Errorf("mmls partition %d: start %s end %s length %s %q; want %d %d %d %q",
				i, m[3], m[4], m[5], m[6], p.Start, p.Start+p.Sectors-1, p.Sectors, wantDesc)
		}
	}
	if !strings.Contains(out, "0000008192   0000008703   0000000512   Unallocated") {
		t.Errorf("mmls does not show the unallocated gap 8192-8703:\n%s", out)
	}
}

// flsEntry is one line of 'fls -p' output.
type flsEntry struct {
	kind    string // "r/r", "d/d", ...
	deleted bool
	inode   string
}

var flsLine = regexp.MustCompile(`^(\S/\S) (\* )?(\d+):\t(.*)$`)

func fls(t *testing.T, args ...string) map[string]flsEntry {
	t.Helper()
	out := run(t, "fls", args...)
	m := map[string]flsEntry{}
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if l == "" {
			continue // no entries at all (fls -d on a volume without deletions)
		}
		s := flsLine.FindStringSubmatch(l)
		if s == nil {
			t.Fatalf("unexpected fls line %q", l)
		}
		m[s[4]] = flsEntry{kind: s[1], deleted: s[2] != "", inode: s[3]}
	}
	return m
}

// tskName is the name fls shows for f: TSK replaces the 0xE5 of a deleted
// short name with '_'.
func tskName(f File) string {
	p := strings.TrimPrefix(f.Path, "/")
	if f.Deleted {
		i := strings.LastIndex(p, "/") + 1
		p = p[:i] + "_" + p[i+1:]
	}
	return p
}

func TestSleuthKitFilesAndContent(t *testing.T) {
	needTool(t, true, "fls", "icat")
	img := imageFile(t)
	_, files := built(t)
	for i, p := range Partitions() {
		off := strconv.FormatUint(uint64(p.Start), 10)
		all := fls(t, "-r", "-p", "-o", off, img)
		var names []string
		for _, f := range files {
			if f.Partition != i+1 {
				continue
			}
			name := tskName(f)
			names = append(names, name)
			e, ok := all[name]
			if !ok {
				t.Errorf("%s: fls does not list %q", p.Label, name)
				continue
			}
			if e.kind != "r/r" || e.deleted != f.Deleted {
				t.Errorf("%s: fls lists %q as %s deleted=%v", p.Label, name, e.kind, e.deleted)
			}
			got := run(t, "icat", "-o", off, img, e.inode)
			if !bytes.Equal(got, f.Data) {
				t.Errorf("%s: icat of %q (inode %s) gives %d bytes that differ from the %d expected", p.Label, name, e.inode, len(got), len(f.Data))
			}
		}
		// Nothing listed that the manifest does not know, besides
		// directories, the label and TSK's virtual files.
		for name, e := range all {
			if e.kind == "d/d" || e.kind == "v/v" || e.kind == "V/V" || strings.HasSuffix(name, "(Volume Label Entry)") {
				continue
			}
			if !contains(names, name) {
				t.Errorf("%s: fls lists unexpected %q", p.Label, name)
			}
		}
		if !hasLabel(all, p.Label) {
			t.Errorf("%s: fls does not show the volume label", p.Label)
		}

		// fls -d lists exactly the deleted files.
		del := fls(t, "-d", "-r", "-p", "-o", off, img)
		var want, got []string
		for _, f := range files {
			if f.Partition == i+1 && f.Deleted {
				want = append(want, tskName(f))
			}
		}
		for name := range del {
			got = append(got, name)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: fls -d lists %q, want %q", p.Label, got, want)
		}
	}
}

func hasLabel(m map[string]flsEntry, label string) bool {
	for name := range m {
		if strings.HasPrefix(name, label) && strings.HasSuffix(name, "(Volume Label Entry)") {
			return true
		}
	}
	return false
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// mtools reads the long names and the directory tree on its own.
func TestMtoolsListsFiles(t *testing.T) {
	needTool(t, false, "mdir", "mtype")
	img := imageFile(t)
	_, files := built(t)
	for i, p := range Partitions() {
		at := fmt.Sprintf("%s@@%d", img, int64(p.Start)*SectorSize)
		out := string(run(t, "mdir", "-/", "-b", "-i", at, "::/"))
		for _, f := range files {
			if f.Partition != i+1 || f.Deleted {
				continue
			}
			if !strings.Contains(out, "::"+f.Path+"\n") {
				t.Errorf("%s: mdir does not list %s:\n%s", p.Label, f.Path, out)
			}
			if got := run(t, "mtype", "-i", at, "::"+f.Path); !bytes.Equal(got, f.Data) {
				t.Errorf("%s: mtype %s differs", p.Label, f.Path)
			}
		}
	}
}

// fsck.fat must find both volumes clean.
func TestFsckFat(t *testing.T) {
	fsck := needTool(t, false, "fsck.fat")[0]
	img, _ := built(t)
	for _, p := range Partitions() {
		f := filepath.Join(t.TempDir(), p.Label+".img")
		if err := os.WriteFile(f, img[int(p.Start)*SectorSize:][:int(p.Sectors)*SectorSize], 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, fsck, "-n", f) // exits non-zero on any error
	}
}
