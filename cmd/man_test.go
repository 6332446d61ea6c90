package cmd

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestManPages: a page for every available command (custodian.1,
// custodian-acquire.1, custodian-writeblock-on.1, …), each with the
// command's own help text (issue 13 #17).
func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man")
	n, err := WriteManPages(dir)
	if err != nil {
		t.Fatal(err)
	}
	root := newRootCommand(&globalOptions{stdout: io.Discard, stderr: io.Discard})
	var want []*cobra.Command
	walkCommands(root, func(c *cobra.Command) {
		if c.IsAvailableCommand() || !c.HasParent() {
			want = append(want, c)
		}
	})
	if n != len(want) {
		t.Errorf("WriteManPages says %d pages, %d commands", n, len(want))
	}
	for _, c := range want {
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("no page for %q: %v", c.CommandPath(), err)
			continue
		}
		firstLong := strings.SplitN(strings.TrimSpace(c.Long), "\n", 2)[0]
		if !strings.Contains(string(b), ".TH \"CUSTODIAN\" \"1\"") || (firstLong != "" && !strings.Contains(string(b), manEscape(firstLong))) {
			t.Errorf("%s lacks the header or the help text %q", name, firstLong)
		}
	}
	for _, must := range []string{"custodian-acquire.1", "custodian-list.1", "custodian-writeblock-udev-rule.1", "custodian-completion-bash.1"} {
		if _, err := os.Stat(filepath.Join(dir, must)); err != nil {
			t.Error(err)
		}
	}
}

// manEscape is how go-md2man writes a plain text line: dashes and quotes
// stay, a leading dot or quote would be escaped (none of our first lines
// has one), and a backslash doubles.
func manEscape(s string) string { return strings.ReplaceAll(s, `\`, `\\`) }

// TestVersion: version prints the Go version and the SHA-256 of the
// running binary (here the test binary), as sha256sum computes it.
func TestVersion(t *testing.T) {
	code, out, errs := runCLI(t, "version")
	if code != ExitOK {
		t.Fatalf("exit %d %s", code, errs)
	}
	exe, _ := os.Executable()
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	for _, want := range []string{"custodian ", " go1.", "\nbinary " + exe + "\n", "\nsha256 " + hex.EncodeToString(sum[:]) + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

// TestCompletion: bash, zsh and fish completion scripts come from cobra's
// completion command.
func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "complete -o default -F __start_custodian custodian", "zsh": "#compdef custodian", "fish": "complete -c custodian"} {
		code, out, errs := runCLI(t, "completion", shell)
		if code != ExitOK || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, lacks %q\n%s", shell, code, want, errs)
		}
	}
}
