package report

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestVerifyRawReadsSegmentsOnce: for a raw image the whole-image hashes
// are computed while the segments are read for their own checks, so
// OpenImage (a second full read) is not used; a whole-image mismatch is
// still found.
func TestVerifyRawReadsSegmentsOnce(t *testing.T) {
	dir := t.TempDir()
	makeEvidence(t, dir, "ev", testData(), 1<<20, nil)
	noSecondRead := func(*Report, string) (io.ReadCloser, error) {
		t.Error("OpenImage called for a raw image: the segments are read twice")
		return nil, errors.New("not expected")
	}
	res, err := Verify(context.Background(), dir, VerifyOptions{OpenImage: noSecondRead})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	found := false
	for _, c := range res.Checks {
		if c.Name == "image" {
			found = true
			if c.Status != CheckOK {
				t.Errorf("image check %+v", c)
			}
		}
	}
	if !found {
		t.Fatal("no image check")
	}

	// A report whose whole-image hash is wrong (segments fine) is a
	// mismatch: the single pass really compares.
	dir2 := t.TempDir()
	r := makeEvidence(t, dir2, "ev", testData(), 1<<20, nil)
	r.Hashes["sha256"] = "00" + r.Hashes["sha256"][2:]
	os.Remove(filepath.Join(dir2, "ev.report.json"))
	os.Remove(filepath.Join(dir2, "ev.report.txt"))
	if err := WriteFiles(dir2, "ev", r, nil); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(context.Background(), dir2, VerifyOptions{OpenImage: noSecondRead})
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong whole-image hash: err = %v, want ErrMismatch", err)
	}
}
