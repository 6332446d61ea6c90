package acquire

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/custodian-forensics/custodian/acquire/raw"
	"github.com/custodian-forensics/custodian/hashing"
)

// FuzzJournal feeds arbitrary bytes to --resume's journal reader and the
// raw writer's resume from its state: they must refuse or accept, never
// panic, and an accepted state must never make the writer touch a file
// outside the image's own names.
func FuzzJournal(f *testing.F) {
	src, _ := makeSource(f, 200_000)
	dir := filepath.Join(f.TempDir(), "seed")
	interrupted(f, src, dir, 100_000)
	if b, err := os.ReadFile(filepath.Join(dir, "img.journal")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"version":1,"checkpoint":{"offset":5,"writer":{"closed":[{"file":"../x","offset":0,"length":5,"file_size":5}],"offset":5}}}`))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		work := t.TempDir()
		decoy := filepath.Join(t.TempDir(), "decoy")
		os.WriteFile(decoy, []byte("keep"), 0o600)
		os.WriteFile(filepath.Join(work, "img.journal"), b, 0o600)
		root, err := os.OpenRoot(work)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		j, err := readJournal(root, "img.journal")
		if err != nil || j.Check == nil {
			return
		}
		var st raw.State
		if json.Unmarshal(j.Check.Writer, &st) != nil {
			return
		}
		w, err := raw.Resume(root, "img", 100_000, hashing.Set{hashing.SHA256}, st)
		if err == nil {
			w.Abort()
		}
		if got, _ := os.ReadFile(decoy); string(got) != "keep" {
			t.Fatal("a journal made the writer touch a file outside the folder")
		}
	})
}
