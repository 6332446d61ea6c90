package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/custodian-forensics/custodian/acquire"
)

// TestUsageErrors: every usage error exits 2 with one error line, a hint
// (a did-you-mean where one fits) and no blank "custodian:" lines; with
// --json a JSON result line too (issue 13 #13, #14).
func TestUsageErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ev")
	for _, c := range []struct {
		args       []string
		err, hint  string
		jsonSchema string
	}{
		{[]string{"writeblock", "of"}, `unknown custodian writeblock subcommand "of"`, "did you mean custodian writeblock off?", ""},
		{[]string{"writeblock"}, "custodian writeblock needs a subcommand: off, on, status, udev-rule, watch", "run 'custodian writeblock --help'", ""},
		{[]string{"acquir", "x"}, `unknown command "acquir"`, "did you mean custodian acquire?", ""},
		{[]string{"bogus", "--json"}, `unknown command "bogus"`, "custodian has: acquire", "custodian/error/v1"},
		{[]string{"acquire", "../testdata/sample.img"}, "custodian acquire needs -o, --output", "-o, --output: evidence folder", ""},
		{[]string{"acquire", "../testdata/sample.img", "--json"}, "custodian acquire needs -o, --output", "usage: custodian acquire SOURCE -o DIR", acquireLineSchema},
		{[]string{"acquire", "-o", out}, "custodian acquire takes one SOURCE (a block device or an image file), got 0 arguments", "usage: custodian acquire SOURCE", ""},
		{[]string{"acquire", "a", "b", "-o", out}, "got 2 arguments", "usage:", ""},
		{[]string{"acquire", "--hsh", "md5", "x", "-o", out}, "custodian acquire: unknown flag: --hsh", "did you mean --hash?", ""},
		{[]string{"acquire", "--bogus", "x", "-o", out}, "unknown flag: --bogus", "run 'custodian acquire --help' for its flags", ""},
		{[]string{"version", "x"}, `custodian version takes no arguments`, "", ""},
		{[]string{"keygen", "extra"}, `custodian keygen takes no arguments`, "", ""},
		{[]string{"verify", "--json"}, "verify takes one evidence folder or report file, got 0 arguments", "", verifySchema},
		{[]string{"acquire", "/nonexistent/disk", "-o", out, "--json"}, "/nonexistent/disk", "check the source path; 'custodian list' shows", acquireLineSchema},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, c.args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want 2\n%s", code, stderr)
			}
			errLines := regexp.MustCompile(`(?m)^custodian: error: .*$`).FindAllString(stderr, -1)
			if len(errLines) != 1 || !strings.Contains(errLines[0], c.err) {
				t.Errorf("error lines %q, want one with %q\n%s", errLines, c.err, stderr)
			}
			if c.hint != "" && !strings.Contains(stderr, "custodian: hint: "+c.hint) {
				t.Errorf("no hint %q:\n%s", c.hint, stderr)
			}
			if regexp.MustCompile(`(?m)^custodian:\s*$`).MatchString(stderr) || strings.Contains(stderr, acquire.ErrUsage.Error()) {
				t.Errorf("blank custodian: line or internal prefix:\n%s", stderr)
			}
			if c.jsonSchema == "" {
				return
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			var l errorLine
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &l); err != nil || l.Schema != c.jsonSchema || l.ExitCode != ExitUsage || l.Type != "result" || !strings.Contains(l.Error, c.err) {
				t.Errorf("JSON result line %+v (%v)\n%s", l, err, stdout)
			}
		})
	}
}

// TestErrorWording: the messages issue 13 #14 found doubled or unclear.
func TestErrorWording(t *testing.T) {
	// An existing image refused without the ErrUsage prefix.
	dir := filepath.Join(t.TempDir(), "ev")
	if code, _, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", dir, "--hash", "sha256"); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	code, _, stderr := runCLI(t, "acquire", "../testdata/sample.img", "-o", dir, "--hash", "sha256")
	if code != ExitUsage || !strings.HasPrefix(stderr, "custodian: error: "+dir+" already holds") ||
		!strings.Contains(stderr, "hint: that acquisition is complete (its report says so): check it with 'custodian verify "+dir+"'") {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
	// Neither a complete report nor a journal: a stray segment.
	stray := filepath.Join(t.TempDir(), "ev")
	if err := os.MkdirAll(stray, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stray, "sample.001"), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "acquire", "../testdata/sample.img", "-o", stray, "--hash", "sha256")
	if code != ExitUsage || !strings.Contains(stderr, "hint: they are neither a complete acquisition (no complete report) nor a resumable one (no journal)") {
		t.Errorf("stray segment: exit %d:\n%s", code, stderr)
	}
}
