package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/internal/looptest"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// infoJSON is the contract's view of `info --json`.
type infoJSON struct {
	Path               string  `json:"path"`
	Kind               string  `json:"kind"`
	Size               int64   `json:"size"`
	LogicalSectorSize  int     `json:"logical_sector_size"`
	PhysicalSectorSize int     `json:"physical_sector_size"`
	Model              *string `json:"model"`
	Serial             *string `json:"serial"`
	ReadOnly           bool    `json:"read_only"`
	Removable          *bool   `json:"removable"`
	Rotational         *bool   `json:"rotational"`
	Partitions         []struct {
		Path     string `json:"path"`
		Size     int64  `json:"size"`
		ReadOnly bool   `json:"read_only"`
	} `json:"partitions"`
	Mounts                       []string         `json:"mounts"`
	Holders                      []string         `json:"holders"`
	SectorsWrittenSinceProtected *json.RawMessage `json:"sectors_written_since_protected"`
}

func decodeInfo(t *testing.T, s string) infoJSON {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		t.Fatalf("info --json output is not one JSON object: %v\n%s", err, s)
	}
	for _, k := range []string{"path", "size", "logical_sector_size", "physical_sector_size", "model", "serial",
		"read_only", "removable", "rotational", "partitions", "mounts", "holders", "sectors_written_since_protected"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("info --json lacks contract field %q", k)
		}
	}
	if string(raw["sectors_written_since_protected"]) != "null" {
		t.Errorf("sectors_written_since_protected = %s, want null", raw["sectors_written_since_protected"])
	}
	var v infoJSON
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestInfoRegularFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "evidence.dd")
	if err := os.WriteFile(file, make([]byte, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "info", file)
	if code != 0 || errs != "" {
		t.Fatalf("info: exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{"path:    " + file, "kind:    regular file", "size:    5000 bytes (4.9 KiB)", "sectors: 512 logical, 512 physical"} {
		if !strings.Contains(out, want) {
			t.Errorf("info output lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = runCLI(t, "info", "--json", file)
	if code != 0 || errs != "" {
		t.Fatalf("info --json: exit %d, stderr %q", code, errs)
	}
	v := decodeInfo(t, out)
	if v.Path != file || v.Kind != "regular file" || v.Size != 5000 || v.LogicalSectorSize != 512 || v.PhysicalSectorSize != 512 {
		t.Errorf("info --json: %+v", v)
	}
	if v.Partitions == nil || v.Mounts == nil || v.Holders == nil {
		t.Errorf("lists must be [] not null: %s", out)
	}
}

// TestInfoSymlink: a source named through a symbolic link is described by
// its real path, and the path given is kept.
func TestInfoSymlink(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "evidence.dd")
	if err := os.WriteFile(file, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "by-id", "usb-Evidence")
	if err := os.Mkdir(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../evidence.dd", link); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "info", "--json", link)
	if code != 0 {
		t.Fatalf("info --json: exit %d, stderr %q", code, errs)
	}
	var v struct {
		Path      string `json:"path"`
		GivenPath string `json:"given_path"`
		Name      string `json:"name"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v.Path != file || v.GivenPath != link || v.Name != "evidence.dd" {
		t.Errorf("info --json %s: path %q given_path %q name %q, want path %s", link, v.Path, v.GivenPath, v.Name, file)
	}
	code, out, _ = runCLI(t, "info", link)
	if code != 0 || !strings.Contains(out, "path:     "+file+"\n") || !strings.Contains(out, "given as: "+link+"\n") {
		t.Errorf("info %s: exit %d\n%s", link, code, out)
	}
	if _, out, _ = runCLI(t, "info", file); strings.Contains(out, "given as") {
		t.Errorf("info of a plain path shows \"given as\":\n%s", out)
	}
}

func TestInfoRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ path, msg string }{
		{dir, "is a directory"},
		{"/dev/null", "is a character device"},
		{filepath.Join(dir, "missing"), "file does not exist"},
	} {
		code, out, errs := runCLI(t, "info", tc.path)
		if code != ExitUsage {
			t.Errorf("info %s: exit %d, want %d", tc.path, code, ExitUsage)
		}
		if out != "" {
			t.Errorf("info %s: stdout %q, want nothing", tc.path, out)
		}
		if !strings.Contains(errs, "custodian: error: "+tc.path) || !strings.Contains(errs, tc.msg) || !strings.Contains(errs, "custodian: hint: ") {
			t.Errorf("info %s: stderr %q, want error naming the path (%q) and a hint", tc.path, errs, tc.msg)
		}
	}
	if code, _, errs := runCLI(t, "info"); code != ExitUsage || !strings.Contains(errs, "one device") {
		t.Errorf("info without args: exit %d, stderr %q", code, errs)
	}
}

// TestInfoLoop4Kn checks info --json on a partitioned 4Kn loop device
// against blockdev(8).
func TestInfoLoop4Kn(t *testing.T) {
	looptest.RequireRoot(t)
	const size = 32 << 20
	img := filepath.Join(t.TempDir(), "4kn.img")
	looptest.MakePartitionedImage(t, img, size, 4096, 2)
	dev := looptest.Attach(t, img, looptest.Options{SectorSize: 4096, Partscan: true, ReadOnly: true})
	code, out, errs := runCLI(t, "info", "--json", dev)
	if code != 0 {
		t.Fatalf("info --json %s: exit %d, stderr %q", dev, code, errs)
	}
	v := decodeInfo(t, out)
	num := func(flag, d string) int64 {
		n, err := strconv.ParseInt(looptest.Blockdev(t, flag, d), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if v.Path != dev || v.Kind != "disk" || v.Size != num("--getsize64", dev) ||
		int64(v.LogicalSectorSize) != num("--getss", dev) || v.LogicalSectorSize != 4096 ||
		int64(v.PhysicalSectorSize) != num("--getpbsz", dev) || v.ReadOnly != (num("--getro", dev) == 1) || !v.ReadOnly {
		t.Errorf("info --json %s: %+v", dev, v)
	}
	parts := looptest.Partitions(dev)
	if len(v.Partitions) != 2 || len(parts) != 2 {
		t.Fatalf("partitions %+v, kernel has %v", v.Partitions, parts)
	}
	for i, p := range v.Partitions {
		if p.Path != parts[i] || p.Size != num("--getsize64", parts[i]) || p.ReadOnly != (num("--getro", parts[i]) == 1) {
			t.Errorf("partition %d: %+v", i+1, p)
		}
	}
	code, out, _ = runCLI(t, "info", dev)
	// A loop device has no hardware: transport "virtual", no firmware.
	if code != 0 || !strings.Contains(out, "4096 logical") || !strings.Contains(out, parts[1]) || !strings.Contains(out, "read-only:  yes") ||
		!strings.Contains(out, "transport:  virtual") || strings.Contains(out, "firmware:") {
		t.Errorf("info %s: exit %d\n%s", dev, code, out)
	}
}

// TestJSONOutputsAlike: every --json output is written by the same encoder
// setting: a "&" or "<" from a path or a case note stays as it is (info
// --json used to write \u0026 where acquire --json wrote &).
func TestJSONOutputsAlike(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a&b<c.img")
	if err := os.WriteFile(src, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "info", src, "--json")
	if code != 0 || !strings.Contains(out, `a&b<c.img`) {
		t.Errorf("info --json: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "acquire", src, "-o", filepath.Join(dir, "ev"), "--name", "ev", "--notes", "R&D <lab>", "--json")
	if code != 0 || !strings.Contains(out, `a&b<c.img`) {
		t.Errorf("acquire --json: exit %d\n%s%s", code, out, stderr)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "ev", "ev.report.json"))
	if !strings.Contains(string(b), `"R&D <lab>"`) {
		t.Errorf("report escapes the case note:\n%s", b)
	}
	fi, err := os.Stat(filepath.Join(dir, "ev", "ev.report.json"))
	if err != nil || fi.Mode().Perm() != 0o440 {
		t.Errorf("report mode %v (%v), want 0440 like the image: the case notes are not for everyone who can enter the folder", fi.Mode().Perm(), err)
	}
}
