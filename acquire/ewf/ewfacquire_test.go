package ewf

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/acquire/format/formattest"
	"github.com/custodian-forensics/custodian/report"
)

// TestReadsEwfacquireSets: sets written by ewfacquire 20140813 in the
// EnCase 6, EnCase 5 and FTK formats, uncompressed and compressed, in
// several segments, are found by Glob and read byte for byte by Open and
// Scan; Stored gives ewfacquire's MD5 and case fields.
func TestReadsEwfacquireSets(t *testing.T) {
	requireTools(t, "ewf-tools", "ewfacquire")
	src := filepath.Join(t.TempDir(), "source.img")
	data := formattest.Media(3<<20+8192, 5)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(data)
	for _, fm := range []string{"encase6", "encase5", "ftk"} {
		for _, comp := range []string{"none", "fast", "best", "empty-block"} {
			t.Run(fm+"/"+comp, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				run(t, dir, "ewfacquire", "-u", "-q", "-t", filepath.Join(dir, "acq"), "-f", fm, "-c", comp,
					"-S", "1MiB", "-C", "CASE-7", "-E", "EV-9", "-e", "Examiner X", "-D", "Described", "-N", "Some notes",
					"-d", "sha1", src)
				root, err := os.OpenRoot(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer root.Close()
				files, err := Glob(root, "acq.E01")
				if err != nil {
					t.Fatal(err)
				}
				if comp == "none" && len(files) < 3 {
					t.Errorf("ewfacquire wrote %d segments of 1 MiB for 3 MiB", len(files))
				}
				r, err := Format{}.Open(root, files)
				if err != nil {
					t.Fatalf("open %v: %v", files, err)
				}
				defer r.Close()
				if got := readAll(t, r); !bytes.Equal(got, data) {
					t.Fatalf("media of %d bytes differs from the %d acquired", len(got), len(data))
				}
				st := r.(format.StoredReader).Stored()
				if st.Hashes["md5"] != hex.EncodeToString(sum[:]) {
					t.Errorf("stored md5 %q, want %x", st.Hashes["md5"], sum)
				}
				wantCase := report.Case{CaseNumber: "CASE-7", EvidenceNumber: "EV-9", Examiner: "Examiner X", Description: "Described", Notes: "Some notes"}
				if st.Case != wantCase {
					t.Errorf("case fields %+v, want %+v", st.Case, wantCase)
				}
				if st.Fields["software_version"] == "" || st.Fields["acquisition_date"] == "" {
					t.Errorf("fields %v lack the tool version or acquisition date", st.Fields)
				}
				v := scanAll(t, root, files)
				for i, e := range v.errs {
					if e != nil {
						t.Errorf("scan %s: %v", files[i], e)
					}
				}
				if !bytes.Equal(v.media.Bytes(), data) {
					t.Errorf("scan's media (%d bytes) differs from the %d acquired", v.media.Len(), len(data))
				}
				t.Logf("%d files, fields %v", len(files), st.Fields)
			})
		}
	}
}

// TestReadsEwfacquireGeometry: ewfacquire sets with 128 sectors of 4096
// bytes per chunk, and from a source that is not a whole number of
// sectors (ewfacquire keeps the partial sector's bytes in the last chunk
// but counts only whole sectors: the media is those).
func TestReadsEwfacquireGeometry(t *testing.T) {
	requireTools(t, "ewf-tools", "ewfacquire")
	for _, c := range []struct {
		name string
		size int
		args []string
	}{
		{"4096x128", 4 << 20, []string{"-b", "128", "-P", "4096", "-c", "fast"}},
		{"partial-sector", 1_000_000, []string{"-c", "none"}},
		{"partial-sector-fast", 1_000_000, []string{"-c", "fast"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "source")
			data := formattest.Media(int64(c.size), 8)
			if err := os.WriteFile(src, data, 0o600); err != nil {
				t.Fatal(err)
			}
			run(t, dir, "ewfacquire", append(append([]string{"-u", "-q", "-t", filepath.Join(dir, "acq")}, c.args...), src)...)
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			files, err := Glob(root, "acq.E01")
			if err != nil {
				t.Fatal(err)
			}
			r, err := Format{}.Open(root, files)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			whole := len(data) - len(data)%512
			if got := readAll(t, r); !bytes.Equal(got, data[:whole]) {
				t.Errorf("media of %d bytes differs from the %d whole sectors acquired", len(got), whole)
			}
			if v := scanAll(t, root, files); v.errs[0] != nil || !bytes.Equal(v.media.Bytes(), data[:whole]) {
				t.Errorf("scan: %v, %d bytes", v.errs[0], v.media.Len())
			}
		})
	}
}
