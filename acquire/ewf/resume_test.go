package ewf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/acquire/format/formattest"
	"github.com/custodian-forensics/custodian/report"
)

// checkpointed writes part of an image in small segments and returns its
// checkpoint state (with closed segments) after an abort.
func checkpointed(t *testing.T) (format.Spec, []byte, map[string]any) {
	t.Helper()
	data := formattest.Media(2<<20, 11)
	s := newSpec(t, int64(len(data)), 512, 100_000, "none")
	w, err := Format{}.Create(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(data[:1<<20+100]); err != nil {
		t.Fatal(err)
	}
	raw, err := w.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if len(st["closed"].([]any)) < 3 || st["segment"].(float64) < 4 {
		t.Fatalf("state %v has too few closed segments for the test", st)
	}
	return s, data, st
}

// TestResumeRefusesForgedState: a journal state the writer could not have
// written is refused, and nothing outside the image's own partial files
// is touched.
func TestResumeRefusesForgedState(t *testing.T) {
	for _, c := range []struct {
		name  string
		forge func(st map[string]any)
	}{
		{"closed named elsewhere", func(st map[string]any) { st["closed"].([]any)[0].(map[string]any)["file"] = "../victim" }},
		{"closed named as another image", func(st map[string]any) { st["closed"].([]any)[1].(map[string]any)["file"] = "victim.E02" }},
		{"gap in offsets", func(st map[string]any) { st["closed"].([]any)[1].(map[string]any)["offset"] = 1.0 }},
		{"wrong open segment", func(st map[string]any) { st["segment"] = 9.0 }},
		{"chunks do not add up", func(st map[string]any) { st["chunks"] = st["chunks"].(float64) + 1 }},
		{"pending too long", func(st map[string]any) { st["pending"] = strings.Repeat("QUFB", 20000) }},
		{"other compression", func(st map[string]any) { st["compression"] = "best" }},
		{"negative length", func(st map[string]any) { st["segment_length"] = -5.0 }},
		{"bad identifier", func(st map[string]any) { st["set_identifier"] = "zz" }},
		{"segment larger than allowed", func(st map[string]any) { st["segment_length"] = 1e9 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _, st := checkpointed(t)
			victim := filepath.Join(s.Dir, "victim")
			if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
			before := listDir(t, s.Dir)
			c.forge(st)
			raw, _ := json.Marshal(st)
			if _, err := (Format{}).Resume(s, raw); err == nil {
				t.Fatal("a forged state was accepted")
			}
			if after := listDir(t, s.Dir); !slices.Equal(before, after) {
				t.Errorf("the folder changed: %v, then %v", before, after)
			}
			if b, _ := os.ReadFile(victim); string(b) != "keep" {
				t.Error("the victim file changed")
			}
		})
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		fi, _ := e.Info()
		out = append(out, e.Name()+":"+fi.Mode().String()+":"+string(rune(fi.Size()%1000)))
	}
	return out
}

// TestResumeRefusesSymlinks: a partial segment replaced by a symbolic
// link is neither followed nor truncated.
func TestResumeRefusesSymlinks(t *testing.T) {
	for _, which := range []string{"ev.E01.partial", "ev.E04.partial"} {
		s, _, st := checkpointed(t)
		victim := filepath.Join(s.Dir, "victim")
		os.WriteFile(victim, bytes.Repeat([]byte("v"), 200_000), 0o600)
		p := filepath.Join(s.Dir, which)
		os.Remove(p)
		if err := os.Symlink("victim", p); err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(st)
		if _, err := (Format{}).Resume(s, raw); err == nil {
			t.Errorf("%s: resumed through a symbolic link", which)
		}
		if fi, _ := os.Stat(victim); fi.Size() != 200_000 {
			t.Errorf("%s: the link's target changed size to %d", which, fi.Size())
		}
	}
}

// TestResumeStartsOver: an empty state removes the image's partial files
// (only those) when the resumed writer first writes, and writes the set
// from the start; before that write nothing changes.
func TestResumeStartsOver(t *testing.T) {
	s, data, _ := checkpointed(t)
	other := []string{"victim.E01.partial", "ev.E01.txt", "ev.report.json"}
	for _, o := range other {
		os.WriteFile(filepath.Join(s.Dir, o), []byte("x"), 0o600)
	}
	before := strings.Join(listDir(t, s.Dir), "\n")
	w, err := Format{}.Resume(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if after := strings.Join(listDir(t, s.Dir), "\n"); after != before {
		t.Errorf("Resume changed the folder before any write:\n%s\n---\n%s", before, after)
	}
	if err := w.Write(data[:1]); err != nil {
		t.Fatal(err)
	}
	for _, e := range listDir(t, s.Dir) {
		if strings.HasPrefix(e, "ev.E") && strings.Contains(e, ".partial") {
			t.Errorf("%s left after starting over", e)
		}
	}
	if err := w.Write(data[1:]); err != nil {
		t.Fatal(err)
	}
	segs, err := w.Finish(format.Summary{Hashes: hashesOf(data), Unreadable: []report.Range{}})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, sg := range segs {
		files = append(files, sg.File)
	}
	r, err := Format{}.Open(s.Root, files)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !bytes.Equal(readAll(t, r), data) {
		t.Error("the image started over differs from the stream")
	}
	for _, o := range other {
		if _, err := os.Stat(filepath.Join(s.Dir, o)); err != nil {
			t.Errorf("%s was removed: %v", o, err)
		}
	}
}

// TestUnrecordedRanges: unreadable ranges at or beyond sector 2^32 cannot
// be stored in error2; Finish keeps the others and the writer lists the
// dropped ones.
func TestUnrecordedRanges(t *testing.T) {
	data := make([]byte, 1<<20)
	s := newSpec(t, int64(len(data)), 512, 0, "fast")
	w, err := Format{}.Create(s)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	beyond := report.Range{Offset: 1<<32*512 + 4096, Length: 1024}
	across := report.Range{Offset: 1<<32*512 - 512, Length: 1536}
	if _, err := w.Finish(format.Summary{Hashes: hashesOf(data), Unreadable: []report.Range{{Offset: 512, Length: 512}, across, beyond}}); err != nil {
		t.Fatal(err)
	}
	got := w.(*Writer).Unrecorded()
	want := []report.Range{{Offset: 1 << 32 * 512, Length: 1024}, beyond}
	if !slices.Equal(got, want) {
		t.Errorf("unrecorded %v, want %v", got, want)
	}
	r, err := Format{}.Open(s.Root, []string{"ev.E01"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st := r.(format.StoredReader).Stored()
	if wantSt := []report.Range{{Offset: 512, Length: 512}, {Offset: 1<<32*512 - 512, Length: 512}}; !slices.Equal(st.Unreadable, wantSt) {
		t.Errorf("stored unreadable %v, want %v", st.Unreadable, wantSt)
	}
	if st.Hashes["md5"] != hashesOf(data)["md5"] || st.Hashes["sha1"] != hashesOf(data)["sha1"] {
		t.Errorf("stored hashes %v", st.Hashes)
	}
	if st.Case.CaseNumber != "CASE-1" || st.Fields["model"] != "Model" || st.Fields["serial"] != "SERIAL" ||
		st.Fields["acquisition_date"] != "2026-12-01T10:00:00Z" || st.Fields["software_version"] != "test" || st.Fields["os"] != "Linux" {
		t.Errorf("stored case %+v, fields %v", st.Case, st.Fields)
	}
}

func hashesOf(data []byte) report.Hashes {
	m := newMultiMD5SHA1()
	m.Write(data)
	return report.Hashes(m.Sums())
}

// TestCreateRefusesStaleSegments: segment files of the same name already
// in the folder (final or partial) make Create refuse: libewf would read a
// stale NAME.E05 as part of a new set. Resume refuses final ones.
func TestCreateRefusesStaleSegments(t *testing.T) {
	for _, stale := range []string{"ev.E05", "ev.E01.partial", "ev.EAA"} {
		s := newSpec(t, 1<<20, 512, 0, "fast")
		os.WriteFile(filepath.Join(s.Dir, stale), []byte("old"), 0o600)
		if _, err := (Format{}).Create(s); !errors.Is(err, format.ErrSpec) {
			t.Errorf("create next to %s: %v", stale, err)
		}
		_, err := Format{}.Resume(s, nil)
		if final := !strings.HasSuffix(stale, PartialSuffix); final != (err != nil) {
			t.Errorf("resume next to %s: %v", stale, err)
		}
	}
	s := newSpec(t, 1<<20, 512, 0, "fast")
	os.WriteFile(filepath.Join(s.Dir, "other.E01"), []byte("x"), 0o600)
	if _, err := (Format{}).Create(s); err != nil {
		t.Errorf("another image's files made Create refuse: %v", err)
	}
}

// TestResumeManyTimes: an acquisition checkpointed, interrupted and
// resumed many times (at chunk boundaries, inside chunks, right after a
// segment closed) gives a set that libewf verifies and whose segment
// hashes are those of the files.
func TestResumeManyTimes(t *testing.T) {
	data := formattest.Media(3<<20+4096, 21)
	s := newSpec(t, int64(len(data)), 512, 200_000, "fast")
	cuts := []int{0, 100, 32768, 32768 * 7, 500_000, 500_001, 1 << 20, 2<<20 + 3, len(data)}
	var state json.RawMessage
	pos := 0
	for i, cut := range cuts {
		var w format.Writer
		var err error
		if i == 0 {
			w, err = Format{}.Create(s)
		} else {
			w, err = Format{}.Resume(s, state)
		}
		if err != nil {
			t.Fatalf("resume at %d: %v", pos, err)
		}
		if err := w.Write(data[pos:cut]); err != nil {
			t.Fatal(err)
		}
		pos = cut
		if cut == len(data) {
			segs, err := w.Finish(format.Summary{Hashes: hashesOf(data), Unreadable: []report.Range{}})
			if err != nil {
				t.Fatal(err)
			}
			for _, sg := range segs {
				b, _ := os.ReadFile(filepath.Join(s.Dir, sg.File))
				sum := sha256.Sum256(b)
				if hex.EncodeToString(sum[:]) != sg.Hashes["sha256"] || int64(len(b)) != sg.FileSize {
					t.Errorf("%s: the reported hash or size is not the file's", sg.File)
				}
			}
			if len(segs) < 3 {
				t.Errorf("%d segments", len(segs))
			}
			break
		}
		if state, err = w.Checkpoint(); err != nil {
			t.Fatal(err)
		}
		// Bytes past the checkpoint are written, then lost.
		w.Write(bytes.Repeat([]byte{0x5a}, min(len(data)-cut, 70_000)))
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
	}
	requireTools(t, "ewf-tools", "ewfverify", "ewfexport")
	first := abs(t, s.Dir, "ev.E01")
	if out := run(t, s.Dir, "ewfverify", "-q", "-d", "sha1", first); !strings.Contains(out, "SUCCESS") {
		t.Errorf("ewfverify:\n%s", out)
	}
	target := filepath.Join(t.TempDir(), "x")
	run(t, s.Dir, "ewfexport", "-q", "-u", "-f", "raw", "-t", target, first)
	if got, _ := os.ReadFile(target + ".raw"); !bytes.Equal(got, data) {
		t.Error("ewfexport of the resumed set differs from the stream")
	}
}
