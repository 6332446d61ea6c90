package report

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needTool returns the path of an external tool, skipping the test if it is
// absent; under CI=true a missing tool fails the test instead.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// run runs a tool with stdin from a file (or nothing) and returns its
// combined output.
func runTool(t *testing.T, stdinFile string, name string, args ...string) (string, error) {
	t.Helper()
	c := exec.Command(needTool(t, name), args...)
	if stdinFile != "" {
		f, err := os.Open(stdinFile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		c.Stdin = f
	}
	out, err := c.CombinedOutput()
	return string(out), err
}

func mustRunTool(t *testing.T, stdinFile string, name string, args ...string) string {
	t.Helper()
	out, err := runTool(t, stdinFile, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// sshKeygenKey makes a key with ssh-keygen and returns its path.
func sshKeygenKey(t *testing.T, dir, name, passphrase, comment string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	mustRunTool(t, "", "ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f", p)
	return p
}

// makeEvidence writes data as raw segments of segSize bytes plus a complete
// report (signed when s is not nil) into dir, as an acquisition would.
func makeEvidence(t *testing.T, dir, name string, data []byte, segSize int, s Signer) *Report {
	t.Helper()
	r := New(testEnv())
	r.Status = StatusComplete
	r.Case = Case{CaseNumber: "2026-042", EvidenceNumber: "EV-01", Examiner: "J. Doe"}
	r.Source = Source{Path: "/dev/loop7", Kind: "block device", Size: int64(len(data)), LogicalSectorSize: 512, PhysicalSectorSize: 512}
	r.Image = Image{Format: "raw", Name: name, SegmentSize: int64(segSize), Segments: []Segment{}}
	r.Settings.HashAlgorithms = []string{"md5", "sha256"}
	r.BytesAcquired = int64(len(data))
	for i, off := 1, 0; off < len(data); i, off = i+1, off+segSize {
		part := data[off:min(off+segSize, len(data))]
		file := fmt.Sprintf("%s.%03d", name, i)
		if err := os.WriteFile(filepath.Join(dir, file), part, 0o644); err != nil {
			t.Fatal(err)
		}
		r.Image.Segments = append(r.Image.Segments, Segment{File: file, Offset: int64(off),
			Length: int64(len(part)), FileSize: int64(len(part)), Hashes: testHashes(part)})
	}
	r.Hashes = testHashes(data)
	r.FinishedAt = r.StartedAt
	if err := WriteFiles(dir, name, r, s); err != nil {
		t.Fatal(err)
	}
	return r
}

func testHashes(b []byte) Hashes {
	m, s := md5.Sum(b), sha256.Sum256(b)
	return Hashes{"md5": hex.EncodeToString(m[:]), "sha256": hex.EncodeToString(s[:])}
}

// checkSig checks the signature of the report NAME in the folder ev as
// custodian verify does.
func checkSig(t *testing.T, ev, name string, trust Trust) SignatureCheck {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ev, name+JSONSuffix))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	sig, sigErr := os.ReadFile(filepath.Join(ev, name+SignatureSuffix))
	return CheckSignature(name+SignatureSuffix, data, sig, sigErr, r, trust)
}

func testData() []byte {
	b := make([]byte, 3<<20+777)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}

func TestSSHKeygenSampleSignature(t *testing.T) {
	s, err := ParseSignature([]byte(sampleSignature))
	if err != nil {
		t.Fatal(err)
	}
	if s.Namespace != Namespace || s.HashAlgorithm != "sha512" || s.KeyType != "ssh-ed25519" {
		t.Errorf("parsed %+v", s)
	}
	if err := s.verify([]byte("report\n")); err != nil {
		t.Errorf("ssh-keygen's signature does not verify: %v", err)
	}
	if err := s.verify([]byte("report!")); !errors.Is(err, ErrMismatch) {
		t.Errorf("altered message: got %v, want ErrMismatch", err)
	}
}

// TestCustodianSignsSSHKeygenVerifies is the contract: a report signed by
// custodian verifies with nothing but ssh-keygen.
func TestCustodianSignsSSHKeygenVerifies(t *testing.T) {
	needTool(t, "ssh-keygen")
	dir := t.TempDir()
	kp, err := GenerateKey(filepath.Join(dir, "signing.key"), "j.doe@lab.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(allowed, []byte(kp.AllowedSigners+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSigner(kp.PrivatePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := filepath.Join(dir, "ev")
	os.Mkdir(ev, 0o755)
	r := makeEvidence(t, ev, "sdb", testData(), 1<<20, s)
	rep, sig := filepath.Join(ev, "sdb.report.json"), filepath.Join(ev, "sdb.report.json.sig")

	out := mustRunTool(t, rep, "ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "j.doe@lab.example", "-n", "custodian", "-s", sig)
	if !strings.Contains(out, `Good "custodian" signature for j.doe@lab.example`) {
		t.Errorf("ssh-keygen -Y verify said:\n%s", out)
	}
	t.Logf("ssh-keygen -Y verify: %s", strings.TrimSpace(out))

	// The report names the key ssh-keygen reports for the public key file.
	fp := mustRunTool(t, "", "ssh-keygen", "-l", "-f", kp.PublicPath)
	if r.Signer == nil || !strings.Contains(fp, r.Signer.Fingerprint) || r.Signer.Identity != "j.doe@lab.example" {
		t.Errorf("report signer %+v, ssh-keygen -l: %s", r.Signer, fp)
	}
	written, _ := os.ReadFile(rep)
	if !bytes.Contains(written, []byte(r.Signer.Fingerprint)) {
		t.Error("the signed report does not record the signer's fingerprint")
	}

	for _, tc := range []struct{ name, ns, id string }{
		{"wrong namespace", "file", "j.doe@lab.example"},
		{"wrong identity", "custodian", "mallory@lab.example"},
	} {
		if out, err := runTool(t, rep, "ssh-keygen", "-Y", "verify", "-f", allowed, "-I", tc.id, "-n", tc.ns, "-s", sig); err == nil {
			t.Errorf("%s: ssh-keygen accepted it:\n%s", tc.name, out)
		}
	}

	// And custodian's own signature check agrees.
	if sc := checkSig(t, ev, "sdb", Trust{AllowedSigners: allowed, Identity: "j.doe@lab.example"}); sc.Status != CheckOK || !sc.Signed || sc.SignedBy == nil {
		t.Errorf("signature check %+v", sc)
	}

	// A flipped byte in the report: ssh-keygen rejects it too.
	written[len(written)/2] ^= 1
	os.WriteFile(rep, written, 0o644)
	if out, err := runTool(t, rep, "ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "j.doe@lab.example", "-n", "custodian", "-s", sig); err == nil {
		t.Errorf("ssh-keygen accepted an altered report:\n%s", out)
	}
}

// TestSSHKeygenSignsCustodianVerifies: a report signed afterwards with
// ssh-keygen -Y sign -n custodian verifies with custodian, and every way of
// getting the signature wrong is rejected as a mismatch.
func TestSSHKeygenSignsCustodianVerifies(t *testing.T) {
	needTool(t, "ssh-keygen")
	dir := t.TempDir()
	keyA := sshKeygenKey(t, dir, "a", "", "alice@lab")
	keyB := sshKeygenKey(t, dir, "b", "", "bob@lab")
	pubA, _ := os.ReadFile(keyA + ".pub")
	pubB, _ := os.ReadFile(keyB + ".pub")
	writeAllowed := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	allowed := writeAllowed("allowed", "# trusted examiners\nalice@lab "+string(pubA))
	allowedNS := writeAllowed("allowed-ns", `alice@lab namespaces="git,custodian" `+string(pubA))
	allowedWild := writeAllowed("allowed-wild", `*@lab,!bob@lab `+string(pubA))
	allowedOtherNS := writeAllowed("allowed-other-ns", `alice@lab namespaces="git" `+string(pubA))
	allowedExpired := writeAllowed("allowed-expired", `alice@lab valid-before="20200101" `+string(pubA))
	allowedBob := writeAllowed("allowed-bob", "bob@lab "+string(pubB))
	allowedAliceB := writeAllowed("allowed-alice-b", "alice@lab "+string(pubB))

	sign := func(key, ns string) string {
		ev := t.TempDir()
		makeEvidence(t, ev, "usb", testData()[:100000], 40000, nil)
		mustRunTool(t, "", "ssh-keygen", "-Y", "sign", "-f", key, "-n", ns, filepath.Join(ev, "usb.report.json"))
		return ev
	}
	good := sign(keyA, "custodian")
	otherNS := sign(keyA, "file")
	byB := sign(keyB, "custodian")

	for _, tc := range []struct {
		name      string
		ev        string
		o         Trust
		want      string // check status of the signature
		wantInErr string
	}{
		{"allowed signers and identity", good, Trust{AllowedSigners: allowed, Identity: "alice@lab"}, CheckOK, ""},
		{"namespaces option", good, Trust{AllowedSigners: allowedNS, Identity: "alice@lab"}, CheckOK, ""},
		{"wildcard principal", good, Trust{AllowedSigners: allowedWild, Identity: "alice@lab"}, CheckOK, ""},
		{"any principal", good, Trust{AllowedSigners: allowed}, CheckOK, ""},
		{"public key", good, Trust{PubKey: keyA + ".pub"}, CheckOK, ""},
		{"no trust anchor", good, Trust{}, CheckUntrusted, ""},
		{"wrong namespace", otherNS, Trust{AllowedSigners: allowed, Identity: "alice@lab"}, CheckMismatch, `namespace is "file"`},
		{"wrong namespace untrusted", otherNS, Trust{}, CheckMismatch, `namespace is "file"`},
		{"identity mapped to the signing key", byB, Trust{AllowedSigners: allowedAliceB, Identity: "alice@lab"}, CheckOK, ""},
		{"key not in allowed signers", byB, Trust{AllowedSigners: allowed, Identity: "alice@lab"}, CheckMismatch, "does not allow"},
		{"key not in allowed signers, any principal", byB, Trust{AllowedSigners: allowed}, CheckMismatch, "does not allow"},
		{"key allowed for someone else", byB, Trust{AllowedSigners: allowedBob, Identity: "alice@lab"}, CheckMismatch, "identity alice@lab"},
		{"identity negated", good, Trust{AllowedSigners: allowedWild, Identity: "bob@lab"}, CheckMismatch, "does not allow"},
		{"namespace not allowed", good, Trust{AllowedSigners: allowedOtherNS, Identity: "alice@lab"}, CheckMismatch, "does not allow"},
		{"expired", good, Trust{AllowedSigners: allowedExpired, Identity: "alice@lab"}, CheckMismatch, "does not allow"},
		{"wrong public key", good, Trust{PubKey: keyB + ".pub"}, CheckMismatch, "not by the key in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig := checkSig(t, tc.ev, "usb", tc.o)
			if sig.Name != "signature" || sig.Status != tc.want || !strings.Contains(sig.Detail, tc.wantInErr) {
				t.Errorf("signature check %+v, want status %s mentioning %q", sig, tc.want, tc.wantInErr)
			}
			if (sig.Status == CheckOK) != (sig.SignedBy != nil && tc.want == CheckOK) {
				t.Errorf("signed by %+v with status %s", sig.SignedBy, sig.Status)
			}
			// Parity: ssh-keygen decides the same.
			if tc.o.AllowedSigners != "" && tc.o.Identity != "" {
				out, err := runTool(t, filepath.Join(tc.ev, "usb.report.json"), "ssh-keygen", "-Y", "verify", "-f", tc.o.AllowedSigners,
					"-I", tc.o.Identity, "-n", Namespace, "-s", filepath.Join(tc.ev, "usb.report.json.sig"))
				if (err == nil) != (tc.want == CheckOK) {
					t.Errorf("ssh-keygen disagrees (err %v):\n%s", err, out)
				}
			}
		})
	}
}

func TestEncryptedKey(t *testing.T) {
	needTool(t, "ssh-keygen")
	dir := t.TempDir()
	key := sshKeygenKey(t, dir, "enc", "correct horse", "enc@lab")
	asked := 0
	pass := func(p string) func() ([]byte, error) {
		return func() ([]byte, error) { asked++; return []byte(p), nil }
	}
	if _, err := LoadSigner(key, nil); !errors.Is(err, ErrKeyEncrypted) {
		t.Errorf("no passphrase: got %v, want ErrKeyEncrypted", err)
	}
	if _, err := LoadSigner(key, pass("wrong")); !errors.Is(err, ErrPassphrase) {
		t.Errorf("wrong passphrase: got %v, want ErrPassphrase", err)
	}
	s, err := LoadSigner(key, pass("correct horse"))
	if err != nil {
		t.Fatalf("right passphrase: %v", err)
	}
	if asked != 2 || s.Info().Identity != "enc@lab" {
		t.Errorf("asked %d times, identity %q", asked, s.Info().Identity)
	}
	if _, err := s.Sign([]byte("x")); err != nil {
		t.Error(err)
	}
	if _, err := LoadSigner(key+".pub", nil); err == nil || !strings.Contains(err.Error(), "public key") {
		t.Errorf("public key as signing key: %v", err)
	}
	if _, err := LoadSigner(filepath.Join(dir, "nope"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key: %v", err)
	}
}

func TestGenerateKey(t *testing.T) {
	needTool(t, "ssh-keygen")
	dir := t.TempDir()
	path := filepath.Join(dir, "k")
	kp, err := GenerateKey(path, "j.doe@lab.example", []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, want 0600", fi.Mode().Perm())
	}
	// OpenSSH reads the encrypted private key with the passphrase only.
	pub := mustRunTool(t, "", "ssh-keygen", "-y", "-P", "s3cret", "-f", path)
	if !strings.HasPrefix(pub, kp.Info.PublicKey) {
		t.Errorf("ssh-keygen -y gives %q, want %q", pub, kp.Info.PublicKey)
	}
	if _, err := runTool(t, "", "ssh-keygen", "-y", "-P", "wrong", "-f", path); err == nil {
		t.Error("ssh-keygen read the key with a wrong passphrase")
	}
	want := `j.doe@lab.example namespaces="custodian" ` + kp.Info.PublicKey
	if kp.AllowedSigners != want {
		t.Errorf("allowed signers line %q, want %q", kp.AllowedSigners, want)
	}
	if _, err := GenerateKey(path, "x@y", nil); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second keygen to the same file: %v, want ErrExist", err)
	}
	os.Remove(path)
	if _, err := GenerateKey(path, "x@y", nil); !errors.Is(err, fs.ErrExist) {
		t.Errorf("keygen over an existing .pub: %v, want ErrExist", err)
	}
	if _, err := GenerateKey(filepath.Join(dir, "k2"), "J. Doe", nil); !errors.Is(err, ErrIdentity) {
		t.Errorf("identity with a space: %v", err)
	}
}

// TestAgentSigning signs through a real ssh-agent, started for the test.
func TestAgentSigning(t *testing.T) {
	needTool(t, "ssh-agent")
	needTool(t, "ssh-add")
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	agentCmd := exec.Command(needTool(t, "ssh-agent"), "-D", "-a", sock)
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		agentCmd.Process.Kill()
		agentCmd.Wait()
	})
	// The socket exists after bind(2) but refuses connections until the
	// agent calls listen(2): wait for a connection, not for the file.
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if i == 200 {
			t.Fatal("ssh-agent did not accept connections on its socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)

	if _, err := LoadSigner("agent:", nil); !errors.Is(err, ErrAgentKey) {
		t.Errorf("empty agent: %v, want ErrAgentKey", err)
	}
	kp, err := GenerateKey(filepath.Join(dir, "k"), "token@lab", nil)
	if err != nil {
		t.Fatal(err)
	}
	mustRunTool(t, "", "ssh-add", "-q", kp.PrivatePath)

	s, err := LoadSigner("agent:", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Info(); got.Fingerprint != kp.Info.Fingerprint || got.Identity != "token@lab" {
		t.Errorf("agent signer %+v, want %+v", got, kp.Info)
	}
	s, err = LoadSigner("agent:"+strings.TrimPrefix(kp.Info.Fingerprint, "SHA256:"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := filepath.Join(dir, "ev")
	os.Mkdir(ev, 0o755)
	makeEvidence(t, ev, "sdc", testData()[:5000], 0+4096, s)
	allowed := filepath.Join(dir, "allowed")
	os.WriteFile(allowed, []byte(kp.AllowedSigners+"\n"), 0o644)
	out := mustRunTool(t, filepath.Join(ev, "sdc.report.json"), "ssh-keygen", "-Y", "verify", "-f", allowed,
		"-I", "token@lab", "-n", "custodian", "-s", filepath.Join(ev, "sdc.report.json.sig"))
	t.Logf("agent-signed report, ssh-keygen -Y verify: %s", strings.TrimSpace(out))

	// Two keys: "agent:" must name one; an unknown fingerprint is refused.
	kp2, _ := GenerateKey(filepath.Join(dir, "k2"), "other@lab", nil)
	mustRunTool(t, "", "ssh-add", "-q", kp2.PrivatePath)
	if _, err := LoadSigner("agent:", nil); !errors.Is(err, ErrAgentKey) || !strings.Contains(err.Error(), kp2.Info.Fingerprint) {
		t.Errorf("two keys, none named: %v", err)
	}
	if _, err := LoadSigner("agent:SHA256:AAAA", nil); !errors.Is(err, ErrAgentKey) {
		t.Errorf("unknown key: %v", err)
	}
	// The key leaves the agent after loading: Sign says so.
	mustRunTool(t, "", "ssh-add", "-q", "-D")
	if _, err := s.Sign([]byte("x")); !errors.Is(err, ErrAgentKey) {
		t.Errorf("sign after the key left the agent: %v", err)
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	if _, err := LoadSigner("agent:", nil); !errors.Is(err, ErrNoAgent) {
		t.Errorf("no agent: %v", err)
	}
}
