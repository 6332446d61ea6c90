package cmd

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
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
		Short: "Print the version and VCS revision of this build",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, _ := debug.ReadBuildInfo()
			goVer := ""
			if bi != nil {
				goVer = bi.GoVersion
			}
			fmt.Fprintf(cmd.OutOrStdout(), "custodian %s %s\n", Version(), goVer)
			return nil
		},
	}
}
