package mapfile

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustParse(t testing.TB, b []byte) *Map {
	t.Helper()
	m, err := Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, b)
	}
	return m
}

// TestDdrescueMapsRoundTrip reads maps that GNU ddrescue 1.27 and
// ddrescuelog wrote (testdata) and requires Marshal to give back their bytes:
// the layout is ddrescue's to the space.
func TestDdrescueMapsRoundTrip(t *testing.T) {
	files, err := filepath.Glob("testdata/*.map")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata maps: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m := mustParse(t, b)
			if !strings.HasPrefix(m.Creator, "GNU ddrescue") || m.Started.IsZero() || !m.Phase.Valid() {
				t.Errorf("heading not understood: %+v", m)
			}
			if diff := cmp.Diff(string(b), string(m.Marshal())); diff != "" {
				t.Errorf("Marshal(Parse(%s)) (-ddrescue +ours):\n%s", f, diff)
			}
		})
	}
}

func TestParseDdrescueFinished(t *testing.T) {
	b, err := os.ReadFile("testdata/ddrescue-finished.map")
	if err != nil {
		t.Fatal(err)
	}
	m := mustParse(t, b)
	want := &Map{
		Creator: "GNU ddrescue version 1.27", CommandLine: "ddrescue -d t.img t3.out t3.map -q",
		Started: time.Date(2026, 12, 1, 10, 19, 7, 0, time.Local), Saved: time.Date(2026, 12, 1, 10, 19, 7, 0, time.Local),
		Message: "Finished", Pos: 0x2F0000, Phase: Done, Pass: 1,
		Blocks: []Block{{Pos: 0, Size: 0x300000, Status: Finished}},
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMarshalLayout(t *testing.T) {
	m := &Map{
		Creator: "custodian version 1.0", CommandLine: "custodian acquire /dev/sdb -o ev",
		Started: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), Saved: time.Date(2026, 11, 23, 12, 5, 9, 0, time.UTC),
		Message: "Copying non-tried blocks... Pass 1 (forwards)", Pos: 0x10000, Phase: Copying, Pass: 1,
	}
	m.Append(0x200, BadSector)
	m.Append(0xFE00, Finished)
	m.Append(0x1_0000_0000_0000, NonTried)
	want := `# Mapfile. Created by custodian version 1.0
# Command line: custodian acquire /dev/sdb -o ev
# Start time:   2026-11-23 12:00:00
# Current time: 2026-11-23 12:05:09
# Copying non-tried blocks... Pass 1 (forwards)
# current_pos  current_status  current_pass
0x00010000     ?               1
#      pos        size  status
0x00000000  0x00000200  -
0x00000200  0x0000FE00  +
0x00010000  0x1000000000000  ?
`
	if diff := cmp.Diff(want, string(m.Marshal())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(m, mustParse(t, m.Marshal())); diff != "" {
		t.Errorf("Parse(Marshal(m)) (-m +parsed):\n%s", diff)
	}
}

func TestOldStatusLineAndComments(t *testing.T) {
	in := "# Rescue Logfile. Created by GNU ddrescue version 1.11\n" +
		"# current_pos  current_status\n0x00120000 ?\n# pos size status\n" +
		"0x00000000 0x00117000 +\n0x00117000 0x00000200 - # a bad one\n" +
		"0x00117200\t0x1000 /\n  0x00118200  0x00007E00  *\n\n1179648 0x48000 ?\n"
	m := mustParse(t, []byte(in))
	want := []Block{{0, 0x117000, Finished}, {0x117000, 0x200, BadSector}, {0x117200, 0x1000, NonScraped},
		{0x118200, 0x7E00, NonTrimmed}, {0x120000, 0x48000, NonTried}}
	if diff := cmp.Diff(want, m.Blocks); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	if m.Pass != 0 || m.Pos != 0x120000 || m.Phase != Copying || m.Creator != "GNU ddrescue version 1.11" {
		t.Errorf("status %+v", m)
	}
	if m.Bytes(BadSector) != 0x200 || m.Areas(Finished) != 1 {
		t.Errorf("Bytes/Areas wrong")
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"# only comments\n",
		"0x0 X 1\n",
		"0x0 ? 0\n",
		"0x0 ? 1\n0x0 0x200\n",
		"0x0 ? 1\n0x0 0x200 x\n",
		"0x0 ? 1\n0x0 0x200 +\n0x400 0x200 -\n", // gap
		"0x0 ? 1\n0x0 0x200 +\n0x100 0x200 -\n", // overlap
		"0x0 ? 1\n0x0 0 +\n",
		"0x0 ? 1\n-1 0x200 +\n",
		"0x0 ? 1\n0x0 0x8000000000000000 +\n",
		"0x0 ? 1\n0x7FFFFFFFFFFFFFFF 1 +\n",
		"0x0 ? 1\n09 1 +\n", // not octal
		"0x0 ? 1\n1_0 1 +\n",
		"# Start time:   yesterday\n0x0 ? 1\n",
	} {
		if _, err := Parse(strings.NewReader(in)); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %v, want ErrSyntax", in, err)
		}
	}
}

func TestSet(t *testing.T) {
	m := &Map{}
	m.Append(100, NonTried)
	steps := []struct {
		pos, size int64
		s         Status
		want      []Block
	}{
		{0, 10, Finished, []Block{{0, 10, Finished}, {10, 90, NonTried}}},
		{10, 5, Finished, []Block{{0, 15, Finished}, {15, 85, NonTried}}},
		{50, 10, BadSector, []Block{{0, 15, Finished}, {15, 35, NonTried}, {50, 10, BadSector}, {60, 40, NonTried}}},
		{15, 35, Finished, []Block{{0, 50, Finished}, {50, 10, BadSector}, {60, 40, NonTried}}},
		{55, 100, Finished, []Block{{0, 50, Finished}, {50, 5, BadSector}, {55, 100, Finished}}},
		{0, 155, NonTried, []Block{{0, 155, NonTried}}},
		{155, 5, BadSector, []Block{{0, 155, NonTried}, {155, 5, BadSector}}},
	}
	for i, s := range steps {
		if err := m.Set(s.pos, s.size, s.s); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if diff := cmp.Diff(s.want, m.Blocks); diff != "" {
			t.Fatalf("step %d (-want +got):\n%s", i, diff)
		}
	}
	if err := m.Set(200, 1, Finished); err == nil {
		t.Error("Set leaving a gap succeeded")
	}
}

// TestDdrescuelogAccepts has ddrescuelog -t read a map we wrote and checks
// its totals.
func TestDdrescuelogAccepts(t *testing.T) {
	if _, err := exec.LookPath("ddrescuelog"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs ddrescuelog (apt-get install gddrescue)")
		}
		t.Skip("needs ddrescuelog (apt-get install gddrescue)")
	}
	m := &Map{Creator: "custodian version test", CommandLine: "custodian acquire x", Started: time.Now(), Saved: time.Now(),
		Message: "Finished", Phase: Done, Pass: 1, Pos: 0x200000000}
	m.Append(0x1_0000_0000, Finished) // beyond 2^32 sectors' worth of bytes would need 2 TiB: offsets past 4 GiB suffice here
	m.Append(0x600, BadSector)
	m.Append(0xFFFFFA00, Finished)
	m.Append(0x200, BadSector)
	path := filepath.Join(t.TempDir(), "x.map")
	if err := os.WriteFile(path, m.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ddrescuelog", "-t", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ddrescuelog -t: %v\n%s", err, out)
	}
	// -l lists block numbers (512-byte sectors) of the bad sectors.
	out2, err := exec.Command("ddrescuelog", "-l-", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ddrescuelog -l-: %v\n%s", err, out2)
	}
	want := "8388608\n8388609\n8388610\n16777216\n"
	if string(out2) != want {
		t.Errorf("ddrescuelog -l- gave\n%s\nwant\n%s\n(-t said:\n%s)", out2, want, out)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.map")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("0x0 ? 1\n0x0 0x200 + # x\n0x200 01 -\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(bytes.NewReader(b))
		if err != nil {
			return
		}
		if m.Phase.Valid() {
			// Whatever parses, Marshal writes a map that parses to the same
			// blocks and status, and that Marshal reproduces exactly.
			out := m.Marshal()
			m2, err := Parse(bytes.NewReader(out))
			if err != nil {
				t.Fatalf("Parse(Marshal(m)): %v\n%s", err, out)
			}
			if !cmp.Equal(m.Blocks, m2.Blocks) || m.Pos != m2.Pos || m.Phase != m2.Phase || m.Pass != m2.Pass {
				t.Fatalf("round trip changed the map:\n%s\n%s", b, out)
			}
			if out2 := m2.Marshal(); !bytes.Equal(out, out2) {
				t.Fatalf("Marshal not stable:\n%s\n%s", out, out2)
			}
		}
	})
}
