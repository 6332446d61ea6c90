package cmd

import (
	"errors"
	"github.com/custodian-forensics/custodian/internal/exitcode"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/report"
)

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "examiner.key")
	code, out, errOut := runCustodian(t, "keygen", "-o", key, "-I", "j.doe@lab.example")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(pub))
	if len(fields) != 3 || fields[0] != "ssh-ed25519" || fields[2] != "j.doe@lab.example" {
		t.Errorf("public key file %q", pub)
	}
	if want := `j.doe@lab.example namespaces="custodian" ssh-ed25519 ` + fields[1] + "\n"; out != want {
		t.Errorf("stdout %q, want the allowed_signers line %q", out, want)
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v", fi.Mode().Perm())
	}
	if !strings.Contains(errOut, "SHA256:") {
		t.Errorf("stderr does not show the fingerprint: %q", errOut)
	}
	before, _ := os.ReadFile(key)

	// Never overwrite.
	code, _, errOut = runCustodian(t, "keygen", "-o", key)
	if code != ExitUsage || !strings.Contains(errOut, "already exists") || !strings.Contains(errOut, "hint:") {
		t.Errorf("second keygen: exit %d, %q", code, errOut)
	}
	if after, _ := os.ReadFile(key); string(after) != string(before) {
		t.Error("the key was overwritten")
	}
	// The key signs: loadSigner finds it unencrypted, with its identity.
	s, err := loadSigner(key, strings.NewReader(""), os.Stderr)
	if err != nil || s.Info().Identity != "j.doe@lab.example" {
		t.Errorf("loadSigner: %v", err)
	}

	if code, _, errOut := runCustodian(t, "keygen"); code != ExitUsage || !strings.Contains(errOut, "no key file") {
		t.Errorf("no -o: exit %d %q", code, errOut)
	}
	if code, _, errOut := runCustodian(t, "keygen", "-o", filepath.Join(dir, "x"), "-I", "J. Doe"); code != ExitUsage || !strings.Contains(errOut, "invalid identity") {
		t.Errorf("bad identity: exit %d %q", code, errOut)
	}
}

func TestKeygenDefaultIdentity(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CUSTODIAN_EXAMINER", "jdoe")
	code, out, errOut := runCustodian(t, "keygen", "-o", filepath.Join(dir, "k"))
	if code != ExitOK || !strings.HasPrefix(out, `jdoe namespaces="custodian" ssh-ed25519 `) {
		t.Errorf("examiner as identity: exit %d %q %q", code, out, errOut)
	}
	t.Setenv("CUSTODIAN_EXAMINER", "J. Doe") // not a usable principal: user@host
	code, out, _ = runCustodian(t, "keygen", "-o", filepath.Join(dir, "k2"))
	if id, _, _ := strings.Cut(out, " "); code != ExitOK || !strings.Contains(id, "@") {
		t.Errorf("fallback identity %q", id)
	}
}

// TestSignKeyPassphrase: an encrypted key with a wrong passphrase fails
// with a usage error (exit 2, before anything is imaged) and a hint; the
// right passphrase from the environment opens it.
func TestSignKeyPassphrase(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	t.Setenv(passphraseEnv, "open sesame")
	if code, _, errOut := runCustodian(t, "keygen", "-o", key, "-I", "a@b"); code != ExitOK {
		t.Fatal(errOut)
	}
	if p, err := exec.LookPath("ssh-keygen"); err == nil {
		if out, err := exec.Command(p, "-y", "-P", "", "-f", key).CombinedOutput(); err == nil {
			t.Errorf("ssh-keygen read the key without a passphrase: %s", out)
		}
	}
	if _, err := loadSigner(key, strings.NewReader(""), os.Stderr); err != nil {
		t.Errorf("right passphrase: %v", err)
	}
	t.Setenv(passphraseEnv, "wrong")
	_, err := loadSigner(key, strings.NewReader(""), os.Stderr)
	if exitcode.Of(err) != ExitUsage || !strings.Contains(err.Error(), "wrong passphrase") || len(hintsOf(err)) == 0 {
		t.Errorf("wrong passphrase: %v (exit %d)", err, exitcode.Of(err))
	}
	os.Unsetenv(passphraseEnv)
	_, err = loadSigner(key, strings.NewReader(""), os.Stderr) // stdin is not a terminal
	if exitcode.Of(err) != ExitUsage || !strings.Contains(strings.Join(hintsOf(err), " "), passphraseEnv) {
		t.Errorf("no passphrase: %v %v", err, hintsOf(err))
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	if _, err = loadSigner("agent:", strings.NewReader(""), os.Stderr); !errors.Is(err, report.ErrNoAgent) ||
		exitcode.Of(err) != ExitUsage || len(hintsOf(err)) == 0 {
		t.Errorf("no agent: %v", err)
	}
	if s, err := loadSigner("", nil, nil); s != nil || err != nil {
		t.Error("empty spec must mean no signing")
	}
}

// TestKeygenCreatesFolder: the README's key path does not exist on a fresh
// machine; keygen creates the folder 0700 (issue 13 #15), and refuses an
// existing key before asking for a passphrase.
func TestKeygenCreatesFolder(t *testing.T) {
	base := t.TempDir()
	key := filepath.Join(base, ".config", "custodian", "examiner")
	code, _, errOut := runCustodian(t, "keygen", "-o", key, "-I", "jdoe@lab")
	if code != ExitOK || !strings.Contains(errOut, "created folder "+filepath.Join(base, ".config")+" (mode 0700)") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, d := range []string{filepath.Join(base, ".config"), filepath.Dir(key)} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want mode 0700", d, fi.Mode(), err)
		}
	}
	// The key exists: refused before the passphrase (none is asked: stdin
	// is no terminal, but CUSTODIAN_KEY_PASSPHRASE would be read).
	t.Setenv(passphraseEnv, "x")
	if code, _, errOut := runCustodian(t, "keygen", "-o", key); code != ExitUsage || !strings.Contains(errOut, "already exists") {
		t.Errorf("existing key: exit %d %s", code, errOut)
	}
	// A file where the folder should be.
	if err := os.WriteFile(filepath.Join(base, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCustodian(t, "keygen", "-o", filepath.Join(base, "file", "k")); code != ExitUsage || !strings.Contains(errOut, "is not a folder") {
		t.Errorf("file as folder: exit %d %s", code, errOut)
	}
}
