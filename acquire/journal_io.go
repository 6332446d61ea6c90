package acquire

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/custodian-forensics/custodian/internal/atomicfile"
	"github.com/custodian-forensics/custodian/internal/rootfile"
)

// maxJournalSize bounds the journal read on --resume: its size is set by
// the number of unreadable ranges and events, both bounded in memory too.
const maxJournalSize = 64 << 20

func journalName(name string) string { return name + ".journal" }

// readJournal reads the journal from the folder, never following a link,
// only as a regular file of bounded size.
func readJournal(root *os.Root, name string) (*journal, error) {
	b, err := rootfile.ReadAll(root, name, maxJournalSize)
	if err != nil {
		if errors.Is(err, rootfile.ErrNotRegular) {
			return nil, fmt.Errorf("journal %w; refused", err)
		}
		return nil, err
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
