package cmd

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
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

// BinarySHA256 hashes the running executable (/proc/self/exe on Linux:
// the file that was executed, even if its path was since replaced).
func BinarySHA256() (path, sum string, err error) {
	path, err = os.Executable()
	if err != nil {
		return "", "", err
	}
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		if f, err = os.Open(path); err != nil {
			return path, "", err
		}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return path, "", err
	}
	return path, hex.EncodeToString(h.Sum(nil)), nil
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
			path, sum, err := BinarySHA256()
			if err != nil {
				return withCode(ExitFailure, fmt.Errorf("hash this binary: %w", err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "binary %s\nsha256 %s\n", path, sum)
			return nil
		},
	}
}
