package cmd

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/report"
)

// runCustodian runs custodian in-process and returns exit code, stdout, stderr.
func runCustodian(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

type evidence struct {
	dir, allowed, pub, source string
	data                      []byte
}

// newEvidence writes what an acquisition of a 2.5 MiB source into raw 1 MiB
// segments leaves behind: sdb.001-003 and the report, signed by a new key
// when signed is true (allowed_signers and KEY.pub next to the folder).
func newEvidence(t *testing.T, signed bool) evidence {
	t.Helper()
	base := t.TempDir()
	e := evidence{dir: filepath.Join(base, "case"), source: filepath.Join(base, "source.img")}
	if err := os.Mkdir(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.data = make([]byte, 5<<19)
	for i := range e.data {
		e.data[i] = byte(i ^ i>>8 ^ i>>16)
	}
	os.WriteFile(e.source, e.data, 0o644)
	r := report.New(report.Env{Hostname: "ws", Version: "test", Args: []string{"custodian", "acquire"}})
	r.Status = report.StatusComplete
	r.Source = report.Source{Path: e.source, Kind: "regular file", Size: int64(len(e.data)), LogicalSectorSize: 512, PhysicalSectorSize: 512}
	r.Image = report.Image{Format: "raw", Name: "sdb", SegmentSize: 1 << 20}
	r.BytesAcquired = int64(len(e.data))
	r.Hashes = sums(e.data)
	for i, off := 1, 0; off < len(e.data); i, off = i+1, off+1<<20 {
		part := e.data[off:min(off+1<<20, len(e.data))]
		name := fmt.Sprintf("sdb.%03d", i)
		os.WriteFile(filepath.Join(e.dir, name), part, 0o644)
		r.Image.Segments = append(r.Image.Segments, report.Segment{File: name, Offset: int64(off),
			Length: int64(len(part)), FileSize: int64(len(part)), Hashes: sums(part)})
	}
	var s report.Signer
	if signed {
		kp, err := report.GenerateKey(filepath.Join(base, "key"), "j.doe@lab.example", nil)
		if err != nil {
			t.Fatal(err)
		}
		e.allowed, e.pub = filepath.Join(base, "allowed_signers"), kp.PublicPath
		os.WriteFile(e.allowed, []byte(kp.AllowedSigners+"\n"), 0o644)
		if s, err = loadSigner(kp.PrivatePath, strings.NewReader(""), os.Stderr); err != nil {
			t.Fatal(err)
		}
	}
	if err := report.WriteFiles(e.dir, "sdb", r, s); err != nil {
		t.Fatal(err)
	}
	return e
}

func sums(b []byte) report.Hashes {
	m, s := md5.Sum(b), sha256.Sum256(b)
	return report.Hashes{"md5": hex.EncodeToString(m[:]), "sha256": hex.EncodeToString(s[:])}
}

func (e evidence) path(name string) string { return filepath.Join(e.dir, name) }

func flipByte(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at%len(b)] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifySigned(t *testing.T) {
	e := newEvidence(t, true)
	code, out, errOut := runCustodian(t, "verify", e.dir, "--allowed-signers", e.allowed, "--identity", "j.doe@lab.example")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"ok         signature  sdb.report.json.sig: valid signature by j.doe@lab.example (ssh-ed25519 SHA256:",
		"ok         segment    sdb.001: size 1048576 bytes, md5, sha256 match",
		"ok         segment    sdb.003: size 524288 bytes, md5, sha256 match",
		"ok         image      sdb (raw): 2621440 bytes, md5, sha256 match",
		"result: OK, everything matches (signed, key verified)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("custodian verify:\n%s", out)

	// The same with the public key, and with --source re-reading the source.
	if code, out, _ := runCustodian(t, "verify", e.path("sdb.report.json"), "--pubkey", e.pub, "--source", e.source); code != ExitOK || !strings.Contains(out, "ok         source") {
		t.Errorf("--pubkey --source: exit %d\n%s", code, out)
	}
	// Without a trust anchor the signature is valid but "untrusted": the
	// result is UNTRUSTED, exit 1 (a folder replaced wholesale and signed
	// by any key would pass otherwise); --no-trust accepts it, saying so.
	if code, out, _ := runCustodian(t, "verify", e.dir); code != ExitFailure || !strings.Contains(out, "UNTRUSTED  signature") ||
		!strings.Contains(out, "result: UNTRUSTED: the image matches its report, but the report is signed by a key that was not checked") {
		t.Errorf("no trust anchor: exit %d\n%s", code, out)
	}
	if code, out, _ := runCustodian(t, "verify", e.dir, "--no-trust"); code != ExitOK || !strings.Contains(out, "accepted with --no-trust") {
		t.Errorf("--no-trust: exit %d\n%s", code, out)
	}
}

// TestVerifyTamper alters the evidence in each way the issue lists and
// checks the exit status and that the output names the culprit.
func TestVerifyTamper(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, e evidence)
		code   int
		want   []string
	}{
		{"report byte flipped", func(t *testing.T, e evidence) { flipByte(t, e.path("sdb.report.json"), 700) },
			ExitMismatch, []string{"MISMATCH   signature  sdb.report.json.sig: the signature does not match the report"}},
		{"report hash edited", func(t *testing.T, e evidence) {
			b, _ := os.ReadFile(e.path("sdb.report.json"))
			r, _ := report.Parse(b)
			r.Image.Segments[1].Hashes = sums([]byte("forged"))
			nb, _ := report.Marshal(r)
			os.WriteFile(e.path("sdb.report.json"), nb, 0o644)
		}, ExitMismatch, []string{"MISMATCH   signature", "MISMATCH   segment    sdb.002: md5 is "}},
		{"segment byte flipped", func(t *testing.T, e evidence) { flipByte(t, e.path("sdb.002"), 12345) },
			ExitMismatch, []string{"MISMATCH   segment    sdb.002: md5 is ", "; sha256 is ", "skipped    image", "result: MISMATCH in sdb.002"}},
		{"segment truncated", func(t *testing.T, e evidence) { os.Truncate(e.path("sdb.003"), 1000) },
			ExitMismatch, []string{"MISMATCH   segment    sdb.003: size is 1000 bytes, the report says 524288"}},
		{"segment extended", func(t *testing.T, e evidence) {
			f, _ := os.OpenFile(e.path("sdb.001"), os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte{0})
			f.Close()
		}, ExitMismatch, []string{"MISMATCH   segment    sdb.001: size is 1048577 bytes"}},
		{"segment deleted", func(t *testing.T, e evidence) { os.Remove(e.path("sdb.002")) },
			ExitFailure, []string{"MISSING    segment    sdb.002:", "result: MISSING sdb.002"}},
		{"segments swapped", func(t *testing.T, e evidence) {
			os.Rename(e.path("sdb.001"), e.path("tmp"))
			os.Rename(e.path("sdb.002"), e.path("sdb.001"))
			os.Rename(e.path("tmp"), e.path("sdb.002"))
		}, ExitMismatch, []string{"MISMATCH   segment    sdb.001: md5 is", "MISMATCH   segment    sdb.002: md5 is", "result: MISMATCH in sdb.001, sdb.002"}},
		{"segments renamed", func(t *testing.T, e evidence) {
			for _, n := range []string{"sdb.001", "sdb.002", "sdb.003"} {
				os.Rename(e.path(n), e.path(strings.Replace(n, "sdb", "evidence", 1)))
			}
		}, ExitFailure, []string{"MISSING    segment    sdb.001:", "MISSING    segment    sdb.003:"}},
		{"segment replaced by a directory", func(t *testing.T, e evidence) {
			os.Remove(e.path("sdb.003"))
			os.Mkdir(e.path("sdb.003"), 0o755)
		}, ExitMismatch, []string{"MISMATCH   segment    sdb.003: not a regular file"}},
		{"signature deleted", func(t *testing.T, e evidence) { os.Remove(e.path("sdb.report.json.sig")) },
			ExitFailure, []string{"MISSING    signature  sdb.report.json.sig: no signature, but one was required"}},
		{"signature byte flipped", func(t *testing.T, e evidence) { flipByte(t, e.path("sdb.report.json.sig"), 100) },
			ExitMismatch, []string{"MISMATCH   signature  sdb.report.json.sig:"}},
		{"re-signed by another key", func(t *testing.T, e evidence) {
			kp, err := report.GenerateKey(filepath.Join(t.TempDir(), "mallory"), "mallory@evil", nil)
			if err != nil {
				t.Fatal(err)
			}
			s, _ := report.LoadSigner(kp.PrivatePath, nil)
			b, _ := os.ReadFile(e.path("sdb.report.json"))
			r, _ := report.Parse(b)
			os.Remove(e.path("sdb.report.json"))
			if err := report.WriteFiles(e.dir, "sdb", r, s); err != nil {
				t.Fatal(err)
			}
		}, ExitMismatch, []string{"MISMATCH   signature  sdb.report.json.sig: signed by key SHA256:", "does not allow for identity j.doe@lab.example"}},
		{"report deleted", func(t *testing.T, e evidence) { os.Remove(e.path("sdb.report.json")) },
			ExitFailure, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEvidence(t, true)
			tc.tamper(t, e)
			code, out, errOut := runCustodian(t, "verify", e.dir, "--allowed-signers", e.allowed, "--identity", "j.doe@lab.example")
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if !strings.Contains(errOut, "custodian: error:") {
				t.Errorf("no error line on stderr: %q", errOut)
			}
		})
	}
}

func TestVerifyUnsigned(t *testing.T) {
	e := newEvidence(t, false)
	code, out, _ := runCustodian(t, "verify", e.dir)
	if code != ExitFailure || !strings.Contains(out, "UNSIGNED   signature  sdb.report.json.sig: the report is NOT SIGNED") ||
		!strings.Contains(out, "result: UNTRUSTED: the image matches its report, but the report is not signed") {
		t.Errorf("exit %d\n%s", code, out)
	}
	code, out, _ = runCustodian(t, "verify", e.dir, "--no-trust")
	if code != ExitOK || !strings.Contains(out, "result: OK, the image matches its report (NOT SIGNED; accepted with --no-trust") {
		t.Errorf("--no-trust: exit %d\n%s", code, out)
	}
	// Asking for a signature makes its absence a failure.
	other := newEvidence(t, true)
	if code, out, _ := runCustodian(t, "verify", e.dir, "--pubkey", other.pub); code != ExitFailure || !strings.Contains(out, "MISSING    signature") {
		t.Errorf("unsigned with --pubkey: exit %d\n%s", code, out)
	}
	// Unsigned and altered: the hashes still catch it.
	flipByte(t, e.path("sdb.001"), 1)
	if code, out, _ := runCustodian(t, "verify", e.dir); code != ExitMismatch || !strings.Contains(out, "MISMATCH   segment    sdb.001") {
		t.Errorf("unsigned, segment altered: exit %d\n%s", code, out)
	}
}

func TestVerifySourceMismatch(t *testing.T) {
	e := newEvidence(t, false)
	flipByte(t, e.source, 2<<20)
	code, out, _ := runCustodian(t, "verify", e.dir, "--source", e.source)
	if code != ExitMismatch || !strings.Contains(out, "MISMATCH   source     "+e.source+": md5 is") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func TestVerifyJSON(t *testing.T) {
	e := newEvidence(t, true)
	flipByte(t, e.path("sdb.003"), 7)
	code, out, _ := runCustodian(t, "verify", "--json", e.dir, "--pubkey", e.pub)
	if code != ExitMismatch {
		t.Errorf("exit %d", code)
	}
	var got struct {
		Report   string         `json:"report"`
		Result   string         `json:"result"`
		Signed   bool           `json:"signed"`
		ExitCode int            `json:"exit_code"`
		Checks   []report.Check `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	if got.Result != "mismatch" || got.ExitCode != ExitMismatch || !got.Signed || got.Report != e.path("sdb.report.json") {
		t.Errorf("got %+v", got)
	}
	var bad []string
	for _, c := range got.Checks {
		if c.Status != report.CheckOK && c.Status != report.CheckSkipped {
			bad = append(bad, c.Name+" "+c.Subject+" "+c.Status)
		}
	}
	if strings.Join(bad, ";") != "segment sdb.003 mismatch" {
		t.Errorf("failed checks %v", bad)
	}
}

func TestVerifyUsage(t *testing.T) {
	e := newEvidence(t, true)
	empty := t.TempDir()
	two := newEvidence(t, false)
	os.WriteFile(filepath.Join(two.dir, "other.report.json"), []byte("{}"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"verify"}, ExitUsage, "one evidence folder"},
		{[]string{"verify", e.dir, e.dir}, ExitUsage, "got 2 arguments"},
		{[]string{"verify", e.dir, "--identity", "x"}, ExitUsage, "--identity needs --allowed-signers"},
		{[]string{"verify", e.dir, "--pubkey", e.pub, "--allowed-signers", e.allowed}, ExitUsage, "exclude each other"},
		{[]string{"verify", e.dir, "--bogus"}, ExitUsage, "unknown flag"},
		{[]string{"verify", two.dir}, ExitUsage, "several reports"},
		{[]string{"verify", empty}, ExitFailure, "no *.report.json"},
		{[]string{"verify", filepath.Join(empty, "nope")}, ExitFailure, "no such file"},
		{[]string{"verify", e.dir, "--allowed-signers", filepath.Join(empty, "nope")}, ExitFailure, ""},
	} {
		code, out, errOut := runCustodian(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
}

// TestVerifyInteropSSHKeygen goes through the CLI both ways: the
// allowed_signers line that keygen prints works for ssh-keygen on a report
// custodian signed, and a report signed by ssh-keygen -Y sign verifies with
// custodian verify.
func TestVerifyInteropSSHKeygen(t *testing.T) {
	sshKeygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip("ssh-keygen not installed")
	}
	e := newEvidence(t, true)
	c := exec.Command(sshKeygen, "-Y", "verify", "-f", e.allowed, "-I", "j.doe@lab.example", "-n", "custodian", "-s", e.path("sdb.report.json.sig"))
	f, err := os.Open(e.path("sdb.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c.Stdin = f
	if out, err := c.CombinedOutput(); err != nil {
		t.Errorf("ssh-keygen -Y verify of a custodian signature: %v\n%s", err, out)
	}

	u := newEvidence(t, false)
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command(sshKeygen, "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if out, err := exec.Command(sshKeygen, "-Y", "sign", "-f", key, "-n", "custodian", u.path("sdb.report.json")).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	allowed := filepath.Join(t.TempDir(), "allowed")
	os.WriteFile(allowed, append([]byte("lab@example "), pub...), 0o644)
	code, out, errOut := runCustodian(t, "verify", u.dir, "--allowed-signers", allowed, "-I", "lab@example")
	if code != ExitOK || !strings.Contains(out, "ok         signature  sdb.report.json.sig: valid signature by lab@example") {
		t.Errorf("custodian verify of an ssh-keygen signature: exit %d\n%s%s", code, out, errOut)
	}
	// Signed by ssh-keygen in another namespace: rejected.
	os.Remove(u.path("sdb.report.json.sig"))
	exec.Command(sshKeygen, "-Y", "sign", "-f", key, "-n", "file", u.path("sdb.report.json")).Run()
	if code, out, _ := runCustodian(t, "verify", u.dir, "--allowed-signers", allowed, "-I", "lab@example"); code != ExitMismatch ||
		!strings.Contains(out, `signature namespace is "file", not "custodian"`) {
		t.Errorf("namespace file: exit %d\n%s", code, out)
	}
}
