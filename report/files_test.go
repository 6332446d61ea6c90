package report

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSigner signs with a fixed text, to test WriteFiles without keys.
type fakeSigner struct{ err error }

// fakeFingerprint is well-formed (Parse checks the form), but of no key.
const fakeFingerprint = "SHA256:ZmFrZSBmaW5nZXJwcmludCBvZiBubyBrZXkgYXQgYWw"

func (f fakeSigner) Info() *SignerInfo {
	return &SignerInfo{KeyType: "ssh-ed25519", Fingerprint: fakeFingerprint,
		PublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH5e8dBNr3yjbcGVvb3xyNbUl7qZHO0rYGlXmxXb3Bb5"}
}

func (f fakeSigner) Sign(m []byte) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	return []byte("signature\n"), nil
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	r.Status = StatusIncomplete
	if err := WriteFiles(dir, "sdb", r, fakeSigner{}); err != nil {
		t.Fatal(err)
	}
	if r.Signer == nil || r.Signer.Fingerprint != fakeFingerprint {
		t.Errorf("signer not recorded before signing: %+v", r.Signer)
	}
	for _, f := range []string{"sdb.report.json", "sdb.report.json.sig", "sdb.report.txt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	written, _ := os.ReadFile(filepath.Join(dir, "sdb.report.json"))
	if want, _ := Marshal(r); string(written) != string(want) {
		t.Error("the report file is not Marshal's encoding")
	}

	// A resumed run replaces an incomplete report; finishing unsigned
	// removes the stale signature.
	r.Status = StatusComplete
	if err := WriteFiles(dir, "sdb", r, nil); err != nil {
		t.Fatalf("replacing an incomplete report: %v", err)
	}
	if r.Signer != nil {
		t.Error("unsigned write kept a signer in the report")
	}
	if _, err := os.Stat(filepath.Join(dir, "sdb.report.json.sig")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale signature left behind: %v", err)
	}
	// A complete report is never replaced.
	if err := WriteFiles(dir, "sdb", r, nil); !errors.Is(err, fs.ErrExist) {
		t.Errorf("replacing a complete report: %v, want ErrExist", err)
	}
	// Nor is a file that is not a report.
	os.WriteFile(filepath.Join(dir, "x.report.json"), []byte("notes"), 0o644)
	if err := WriteFiles(dir, "x", r, nil); !errors.Is(err, fs.ErrExist) {
		t.Errorf("replacing a foreign file: %v, want ErrExist", err)
	}
	// No temporary files are left.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestWriteFilesSignFailureWritesNothing(t *testing.T) {
	dir := t.TempDir()
	boom := errors.New("agent went away")
	if err := WriteFiles(dir, "sdb", sampleReport(), fakeSigner{err: boom}); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written despite the signing failure: %v", entries)
	}
	if err := WriteFiles(dir, "../sdb", sampleReport(), nil); err == nil {
		t.Error("a name with a path was accepted")
	}
}

func TestAllowedSignersParse(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILk76wVrwIOXXyr2lr4+AunEAdOtuMAQ51XCVHigCsdm"
	entries, err := ParseAllowedSigners([]byte("# comment\n\n" +
		`"j doe@lab,x@y" namespaces="custodian",valid-after="20250101Z" ` + key + " comment\r\n" +
		"a@b cert-authority " + key + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Principals != "j doe@lab,x@y" || entries[0].Namespaces != "custodian" ||
		entries[0].ValidAfter.Year() != 2025 || entries[0].Line != 3 || !entries[1].CertAuthority {
		t.Errorf("parsed %+v", entries)
	}
	for _, bad := range []string{
		"a@b " + "ssh-ed25519 notbase64",
		"a@b nosuchoption " + key,
		`a@b valid-after="yesterday" ` + key,
		"a@b",
	} {
		if _, err := ParseAllowedSigners([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, tc := range []struct {
		s, list string
		want    bool
	}{
		{"alice@lab", "alice@lab", true},
		{"alice@lab", "*@lab", true},
		{"alice@lab", "*@lab,!alice@lab", false},
		{"alice@lab", "?lice@lab", true},
		{"alice@lab", "bob@lab,alice@*", true},
		{"alice@lab", "Alice@lab", false},
		{"a/b", "*", true},
		{"alice", "", false},
	} {
		if got := matchPatternList(tc.s, tc.list); got != tc.want {
			t.Errorf("matchPatternList(%q, %q) = %v", tc.s, tc.list, got)
		}
	}
}
