package cmd

import (
	"os"
	"os/exec"
	"testing"
)

// TestMain lets tests run custodian as a real process (for signals and
// exit statuses): the test binary re-executes itself with
// GO_TEST_RUN_CUSTODIAN=1 and then behaves exactly like cmd/custodian.
func TestMain(m *testing.M) {
	if os.Getenv("GO_TEST_RUN_CUSTODIAN") == "1" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// custodianProcess returns an exec.Cmd that runs custodian with args.
func custodianProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(exe, args...)
	c.Env = append(os.Environ(), "GO_TEST_RUN_CUSTODIAN=1")
	return c
}
