package cmd

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/custodian-forensics/custodian/report"
)

// Version returns the module version and VCS revision from the build info,
// e.g. "v0.1.0 (rev 1a2b3c4d5e6f, modified)" or "(devel) (rev unknown)".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	rev, modified := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return v + " (rev unknown)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified {
		return fmt.Sprintf("%s (rev %s, modified)", v, rev)
	}
	return fmt.Sprintf("%s (rev %s)", v, rev)
}

func newVersionCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision, Go version and SHA-256 of this binary",
		Long: `version prints the module version and VCS revision of this build with the
Go version it was built with, then the path and SHA-256 of the running
binary: compare that with the hash published for the release (or taken
when the binary was copied to the examiner's USB stick) to show which
program made an image.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "custodian %s %s\n", Version(), runtime.Version())
			path, err := os.Executable()
			if err != nil {
				return withCode(ExitFailure, fmt.Errorf("find this binary: %w", err))
			}
			sum, err := report.ExecutableSHA256()
			if err != nil {
				return withCode(ExitFailure, fmt.Errorf("hash this binary: %w", err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "binary %s\nsha256 %s\n", path, sum)
			return nil
		},
	}
}
