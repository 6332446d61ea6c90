package cmd

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestBatchScripts runs the batch scripts in testdata/batch: each is a
// txtar with the YAML beside the commands. The command "custodian" runs
// this test binary as custodian (see TestMain); "custodian -exit=N ARGS"
// also checks the exit status.
func TestBatchScripts(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/batch",
		Setup: func(env *testscript.Env) error {
			env.Setenv("GO_TEST_RUN_CUSTODIAN", "1")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"custodian": func(ts *testscript.TestScript, neg bool, args []string) {
				want := -1
				if len(args) > 0 && strings.HasPrefix(args[0], "-exit=") {
					n, err := strconv.Atoi(strings.TrimPrefix(args[0], "-exit="))
					ts.Check(err)
					want, args = n, args[1:]
				}
				err := ts.Exec(exe, args...)
				code := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				} else if err != nil {
					ts.Fatalf("custodian: %v", err)
				}
				switch {
				case want >= 0 && code != want:
					ts.Fatalf("custodian exited %d, want %d", code, want)
				case want < 0 && neg && code == 0:
					ts.Fatalf("custodian succeeded unexpectedly")
				case want < 0 && !neg && code != 0:
					ts.Fatalf("custodian exited %d", code)
				}
			},
		},
	})
}
