package acquire

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/custodian-forensics/custodian/internal/atomicfile"
)

// maxJournalSize bounds the journal read on --resume: its size is set by
// the number of unreadable ranges and events, both bounded in memory too.
const maxJournalSize = 64 << 20

func journalName(name string) string { return name + ".journal" }

// readJournal reads the journal from the folder, never following a link,
// only as a regular file of bounded size.
func readJournal(root *os.Root, name string) (*journal, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("journal %s is a symbolic link; refused", name)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("journal %s is not a regular file (%v)", name, fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxJournalSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJournalSize {
		return nil, fmt.Errorf("journal %s is larger than %d bytes: not a journal custodian wrote", name, maxJournalSize)
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("journal %s is damaged: %w", name, err)
	}
	if j.Version != journalVersion {
		return nil, fmt.Errorf("journal %s has version %d; this custodian reads version %d", name, j.Version, journalVersion)
	}
	return &j, nil
}

// writeJournal replaces the journal atomically in the folder.
func writeJournal(root *os.Root, name string, j *journal) error {
	b, err := json.MarshalIndent(j, "", " ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFileIn(root, name, b, 0o640); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}
