package ewf

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format"
)

// resumeKept resumes the checkpoint of checkpointed, lets tamper change
// the folder, and reads back all that was kept.
func resumeKept(t *testing.T, tamper func(dir string, open int)) ([]byte, []byte, error) {
	t.Helper()
	s, data, st := checkpointed(t)
	raw, _ := json.Marshal(st)
	w, err := Format{}.Resume(s, raw)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	defer w.Abort()
	// After Resume's own checks of the kept files' hashes: what is found
	// now, the kept reader finds itself.
	tamper(s.Dir, int(st["segment"].(float64)))
	end := int64(st["chunks"].(float64))*int64(32768) + int64(len(bytesOf(t, st["pending"])))
	kept := make([]byte, end)
	n, err := w.(format.KeptReader).ReadKeptAt(kept, 0)
	return kept[:n], data[:end], err
}

func bytesOf(t *testing.T, v any) []byte {
	var b []byte
	raw, _ := json.Marshal(v)
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeptReaderChecksChunks: a byte of a kept chunk changed since the
// checkpoint is found by the chunk's checksum, naming the file and the
// chunk, even where no segment hash was recorded.
func TestKeptReaderChecksChunks(t *testing.T) {
	_, _, err := resumeKept(t, func(dir string, _ int) {
		p := filepath.Join(dir, "ev.E02.partial")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[50_000] ^= 0x40
		os.WriteFile(p, b, 0o640)
	})
	var d *format.Damage
	if !errors.As(err, &d) || d.File != "ev.E02.partial" || !strings.HasPrefix(d.Where, "chunk ") || !errors.Is(err, errChecksum) {
		t.Fatalf("kept chunk changed: %v, want a checksum mismatch naming ev.E02.partial and the chunk", err)
	}
}

// TestKeptReaderIgnoresTail: whatever follows the checkpoint's synced
// length of the open segment (bytes torn by a crash, a forged done
// section) is never read.
func TestKeptReaderIgnoresTail(t *testing.T) {
	for _, tail := range [][]byte{
		bytes.Repeat([]byte{0xA5}, 5000),
		appendDesc(nil, "done", 0, 0), // a section that does not even point at itself
	} {
		got, want, err := resumeKept(t, func(dir string, open int) {
			f, err := os.OpenFile(filepath.Join(dir, partialName("ev", open)), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tail)
			f.Close()
		})
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("tail after the checkpoint: %d bytes, %v; want the %d kept bytes", len(got), err, len(want))
		}
	}
}

// TestKeptReaderNewSet: a writer made by Create holds nothing.
func TestKeptReaderNewSet(t *testing.T) {
	s := newSpec(t, 1<<20, 512, 0, "fast")
	w, err := Format{}.Create(s)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if n, err := w.(format.KeptReader).ReadKeptAt(make([]byte, 10), 0); n != 0 || err != io.EOF {
		t.Errorf("ReadKeptAt of a new set: %d, %v; want 0, io.EOF", n, err)
	}
}
