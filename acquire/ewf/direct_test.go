package ewf

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/acquire/format/formattest"
	"github.com/custodian-forensics/custodian/report"
	"golang.org/x/sys/unix"
)

// TestDirectWrites: with Spec.DirectIO on a filesystem that has O_DIRECT,
// a new segment is written through an O_DIRECT descriptor (checked, not
// assumed) and the set is still exact.
func TestDirectWrites(t *testing.T) {
	s := formattest.Spec(t, "ev", 3<<20, 512, 0, "none")
	probe := filepath.Join(s.Dir, "probe")
	if f, err := os.OpenFile(probe, os.O_CREATE|os.O_WRONLY|syscall.O_DIRECT, 0o600); err != nil {
		t.Skipf("%s has no O_DIRECT", s.Dir)
	} else {
		f.Close()
		os.Remove(probe)
	}
	data := formattest.Media(3<<20, 9)
	fw, err := Format{}.Create(s)
	if err != nil {
		t.Fatal(err)
	}
	w := fw.(*Writer)
	if err := w.Write(data[:1<<20]); err != nil {
		t.Fatal(err)
	}
	if err := w.drain(); err != nil {
		t.Fatal(err)
	}
	if w.seg == nil || w.seg.direct == nil {
		t.Fatal("no O_DIRECT descriptor on a filesystem that supports it")
	}
	if fl, err := unix.FcntlInt(w.seg.direct.Fd(), unix.F_GETFL, 0); err != nil || fl&syscall.O_DIRECT == 0 {
		t.Fatalf("the direct descriptor lacks O_DIRECT: %#o %v", fl, err)
	}
	if err := w.Write(data[1<<20:]); err != nil {
		t.Fatal(err)
	}
	segs, err := w.Finish(format.Summary{Hashes: hashesOf(data), Unreadable: []report.Range{}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Format{}.Open(s.Root, []string{segs[0].File})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, len(data))
	if _, err := r.ReadAt(got, 0); err != nil || string(got) != string(data) {
		t.Fatalf("the set written with O_DIRECT differs from the stream (%v)", err)
	}
}
