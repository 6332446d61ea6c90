package cmd

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/custodian-forensics/custodian/report"
)

// openPTY opens a pseudo-terminal pair: the master end the test types
// into, the slave end the process under test has as its terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// TestAcquirePromptsForCaseFields (issue 13, item 9): at a terminal, an
// empty case number and examiner are asked for; the answers reach the
// report, recorded as coming from the prompt. An empty answer leaves the
// field empty, and the report warns about it.
func TestAcquirePromptsForCaseFields(t *testing.T) {
	master, slave := openPTY(t)
	out := filepath.Join(t.TempDir(), "ev")
	c := custodianProcess(t, "acquire", "../testdata/sample.img", "-o", out, "--name", "ev", "--hash", "sha256")
	c.Stdin, c.Stderr = slave, slave
	var stdout strings.Builder
	c.Stdout = &stdout
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	killer := time.AfterFunc(30*time.Second, func() { c.Process.Kill() })
	defer killer.Stop()
	screen := bufio.NewReader(master)
	answer := func(prompt, text string) {
		t.Helper()
		var seen strings.Builder
		for !strings.Contains(seen.String(), prompt) {
			b, err := screen.ReadByte()
			if err != nil {
				t.Fatalf("waiting for %q: %v; saw %q", prompt, err, seen.String())
			}
			seen.WriteByte(b)
		}
		if _, err := master.WriteString(text + "\r"); err != nil {
			t.Fatal(err)
		}
	}
	answer("no case number given", "2026-042")
	answer("no examiner given", "")
	go func() { _, _ = screen.WriteTo(discard{}) }() // drain the bar
	if err := c.Wait(); err != nil {
		t.Fatalf("acquire: %v\n%s", err, stdout.String())
	}
	r := readJSONReport(t, filepath.Join(out, "ev.report.json"))
	if r.Case.CaseNumber != "2026-042" || r.Case.Examiner != "" {
		t.Errorf("case %+v", r.Case)
	}
	found := false
	for _, o := range r.Settings.Origins {
		found = found || o == (report.SettingOrigin{Setting: "case-number", Value: "2026-042", From: "terminal prompt"})
	}
	if !found {
		t.Errorf("origins %+v lack the prompted case number", r.Settings.Origins)
	}
	var warned []string
	for _, e := range r.Events {
		if e.Kind == "case" {
			warned = append(warned, e.Message)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "no examiner") {
		t.Errorf("case warnings %q, want one about the examiner", warned)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
